"""Write movie metadata (HetRec, TMDB CSV, TMDB API) onto the films already in the database.

One transaction: overview, runtime, poster and release date fill in (non-empty values
replace old ones); directors and cast become people and credits (idempotent:
people matched by TMDB id, else by name among people without one); TMDB
keywords (and HetRec's tags) become tags without a user, each (film, tag)
once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, insert, select, update

from cinerec.data.readers.metadata import Metadata
from cinerec.store.db import transaction
from cinerec.store.models import Credit, Movie, Person, Tag
from cinerec.store.repos import movies as movie_repo


@dataclass
class MetadataReport:
    """What a metadata import changed."""

    key: str
    matched_films: int
    unmatched: int
    overviews: int
    credits: int
    keywords: int  # new (film, keyword) tags
    seconds: float = 0.0


def import_metadata(engine: Engine, md: Metadata, *, source: str | None = None) -> MetadataReport:
    """Attach ``md`` to the matching films.

    Args:
        md: metadata keyed by ``tmdb`` id (matched on ``movies.tmdb_id``) or by
            ``movielens`` id (matched on ``source_id`` of ``source``'s films).
        source: the dataset whose MovieLens ids ``md`` uses (HetRec); any
            MovieLens-sourced films when ``None``.
    """
    t0 = time.perf_counter()
    with transaction(engine) as session:
        if md.key == "tmdb":
            rows = session.execute(select(Movie.tmdb_id, Movie.id).where(Movie.tmdb_id.is_not(None)))
        else:
            q = select(Movie.source_id, Movie.id).where(Movie.source_id.is_not(None))
            rows = session.execute(q.where(Movie.source == source) if source else q)
        ids: dict[int, list[int]] = {}
        for key, mid in rows:
            if key is not None and str(key).isdigit():
                ids.setdefault(int(key), []).append(int(mid))

        def rows_of(frame: pd.DataFrame | None) -> list[tuple[int, dict[str, Any]]]:
            if frame is None or not len(frame):
                return []
            return [(m, r) for r in frame.to_dict("records") for m in ids.get(int(r["item"]), [])]

        all_items = set()
        for f in (md.texts, md.directors, md.cast, md.tags):
            if f is not None and len(f):
                all_items |= set(f["item"].astype(np.int64).tolist())
        matched = {i for i in all_items if i in ids}

        n_text = n_kw = 0
        kw_rows: list[dict[str, Any]] = []
        for mid, r in rows_of(md.texts):
            values: dict[str, Any] = {}
            if isinstance(r.get("overview"), str) and r["overview"].strip():
                values["overview"] = r["overview"].strip()
                n_text += 1
            rt = r.get("runtime")
            if isinstance(rt, (int, float)) and np.isfinite(rt) and 0 < rt < 2000:
                values["runtime"] = int(rt)
            if isinstance(r.get("release_date"), date):
                values["release_date"] = r["release_date"]
            if isinstance(r.get("poster_url"), str) and r["poster_url"]:
                values["poster_url"] = r["poster_url"][:500]
            if values:
                session.execute(update(Movie).where(Movie.id == mid).values(**values))
            for kw in dict.fromkeys(r.get("keywords") or []):
                kw_rows.append({"user_id": None, "movie_id": mid, "tag": str(kw)[:200]})
        for mid, r in rows_of(md.tags):  # HetRec's curated tags
            kw_rows.append({"user_id": None, "movie_id": mid, "tag": str(r["tag"])[:200]})
        if kw_rows:
            have = {(m, t) for m, t in session.execute(select(Tag.movie_id, Tag.tag).where(Tag.user_id.is_(None)))}
            new = []
            for r in kw_rows:
                if (r["movie_id"], r["tag"]) not in have:
                    have.add((r["movie_id"], r["tag"]))
                    new.append(r)
            if new:
                session.execute(insert(Tag), new)
            n_kw = len(new)

        people_by_tmdb = {int(t): pid for t, pid in session.execute(select(Person.tmdb_id, Person.id)) if t is not None}
        people_by_name = {n: pid for n, pid in session.execute(select(Person.name, Person.id).where(Person.tmdb_id.is_(None)))}
        existing = {(m, p, r) for m, p, r in session.execute(select(Credit.movie_id, Credit.person_id, Credit.role))}

        def person(name: str, tmdb_id: Any) -> int:
            tid = int(tmdb_id) if isinstance(tmdb_id, (int, float, np.integer)) and np.isfinite(tmdb_id) else None
            if tid is not None and tid in people_by_tmdb:
                return people_by_tmdb[tid]
            if tid is None and name in people_by_name:
                return people_by_name[name]
            pid = int(session.execute(insert(Person).values(name=name[:200], tmdb_id=tid).returning(Person.id)).scalar_one())
            if tid is not None:
                people_by_tmdb[tid] = pid
            else:
                people_by_name[name] = pid
            return pid

        n_credits = 0
        for role, frame in (("director", md.directors), ("cast", md.cast)):
            for mid, r in rows_of(frame):
                name = str(r.get("name") or "").strip()
                if not name:
                    continue
                pid = person(name, r.get("person_tmdb_id"))
                if (mid, pid, role) in existing:
                    continue
                existing.add((mid, pid, role))
                order = r.get("order")
                session.execute(insert(Credit).values(
                    movie_id=mid, person_id=pid, role=role, character=r.get("character") if role == "cast" else None,
                    order=int(order) if isinstance(order, (int, float)) and np.isfinite(order) else None))
                n_credits += 1
    movie_repo.forget_rows()  # cards served from this process show the new facts at once
    return MetadataReport(md.key, len(matched), len(all_items - matched), n_text, n_credits, n_kw,
                          time.perf_counter() - t0)
