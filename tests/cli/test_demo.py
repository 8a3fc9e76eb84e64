"""`cinerec demo --no-serve` as a newcomer runs it: a database with films, offline metadata and an active model."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_sets_up_data_metadata_model_and_map(tmp_path: Path, datasets: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CINEREC_")}
    env.update(CINEREC_HOME=str(tmp_path / "home"), CINEREC_DATA_DIR=str(datasets))
    r = subprocess.run([sys.executable, "-m", "cinerec", "demo", "--no-serve", "--data", str(datasets / "ml-latest-small")],
                       env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "metadata tmdb_5000_movies.csv" in r.stdout and "metadata hetrec2011-movielens-2k" in r.stdout
    db = sqlite3.connect(tmp_path / "home" / "cinerec.db")
    n_movies, n_overviews = db.execute("SELECT count(*), count(overview) FROM movies").fetchone()
    n_directors = db.execute("SELECT count(DISTINCT movie_id) FROM credits WHERE role = 'director'").fetchone()[0]
    ml_movies = sum(1 for _ in (datasets / "ml-latest-small" / "movies.csv").open(encoding="utf-8")) - 1
    assert n_movies >= ml_movies - 5  # a few rows of the real file may be rejected, never most
    assert n_overviews > n_movies // 4  # tmdb-5000 covers about a third of the catalogue
    assert n_directors > n_movies // 2  # HetRec directors cover most of it
    assert list((tmp_path / "home" / "models").glob("active.json"))
    assert (tmp_path / "home" / "map" / "catalogue.png").is_file()
    # the seeded social graph: follows among the profiles, shares, public lists, and their events
    assert "social graph:" in r.stdout
    n_follows, n_shares = db.execute("SELECT (SELECT count(*) FROM follows), (SELECT count(*) FROM shares)").fetchone()
    n_lists = db.execute("SELECT count(*) FROM movie_lists WHERE is_public").fetchone()[0]
    n_events = db.execute("SELECT count(*) FROM events WHERE kind IN ('share', 'list', 'follow')").fetchone()[0]
    assert n_follows > 0 and n_shares > 0 and n_lists > 0 and n_events >= n_follows + n_shares + n_lists
