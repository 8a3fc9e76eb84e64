"""The training snapshot streams ratings (server-side cursor on PostgreSQL) and builds the same Interactions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, event

from cinerec.data.interactions import Interactions
from cinerec.data.readers import read_dataset
from cinerec.store import snapshot
from cinerec.store.importer import import_dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
try:
    from snapshot_memory import fetch_all_interactions  # the fetch-all reader streaming replaced
finally:
    sys.path.pop(0)


def assert_same(a: Interactions, b: Interactions) -> None:
    for name in ("users", "items", "ratings", "timestamps", "weights"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=name)
    np.testing.assert_array_equal(a.user_vocab.ids, b.user_vocab.ids)
    np.testing.assert_array_equal(a.item_vocab.ids, b.item_vocab.ids)
    assert (a.matrix != b.matrix).nnz == 0


@pytest.mark.slow  # imports ML-100K
def test_streamed_snapshot_equals_the_fetch_all_one_on_ml100k(migrated_engine: Engine, ml100k: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    engine = migrated_engine
    import_dataset(engine, read_dataset(ml100k))
    cursors: list[tuple[str, Any, bool]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def spy(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        cursors.append((statement, type(cursor).__name__, bool(context.execution_options.get("stream_results"))))

    monkeypatch.setattr(snapshot, "STREAM_CHUNK", 7_000)  # 15 partitions
    streamed = snapshot.load_interactions(engine)
    event.remove(engine, "before_cursor_execute", spy)
    assert len(streamed) == 100_000
    assert_same(streamed, fetch_all_interactions(engine))
    head = "SELECT ratings.user_id, ratings.movie_id, ratings.value, ratings.updated_at \nFROM ratings"
    [(_, cursor, stream)] = [c for c in cursors if c[0].strip() == head]
    assert stream
    if engine.dialect.name == "postgresql":
        assert cursor == "ServerCursor"  # a named cursor: the server keeps the result, the client holds one chunk


def test_read_ratings_of_an_empty_database(migrated_engine: Engine) -> None:
    with migrated_engine.connect() as conn:
        df = snapshot.read_ratings(conn)
    assert list(df.columns) == ["user", "item", "rating", "timestamp"] and len(df) == 0
    assert df["timestamp"].dtype == np.int64
