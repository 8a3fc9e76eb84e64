"""Training from the store: content features come from the database; failures keep the live model."""

from __future__ import annotations

from pathlib import Path

import pytest

from cinerec.data.readers import read_dataset
from cinerec.errors import DataFormatError, InvalidParameter
from cinerec.service.recommender import RecommenderService
from cinerec.service.registry import ModelRegistry
from cinerec.service.training import train_from_store
from cinerec.store.db import make_engine
from cinerec.store.importer import import_dataset
from cinerec.store.migrate import upgrade


@pytest.mark.slow  # imports ml-latest-small and trains content-knn twice and a hybrid
def test_content_and_hybrid_train_from_the_database(sqlite_url: str, tmp_path: Path, ml_small: Path) -> None:
    upgrade(sqlite_url)
    eng = make_engine(sqlite_url)
    reg = ModelRegistry(tmp_path / "models")
    with pytest.raises(DataFormatError, match="no ratings to train on"):
        train_from_store(eng, reg, "content-knn")
    import_dataset(eng, read_dataset(ml_small))
    v1 = train_from_store(eng, reg, "content-knn")
    svc = RecommenderService(reg)
    recs = svc.recommend(1, 5)
    assert recs.model_version == v1.version and len(recs.items) == 5
    assert any(r["text"].startswith(("genres:", "tags:", "era:")) for item in recs.items for r in item.reasons)
    with pytest.raises(InvalidParameter):
        train_from_store(eng, reg, "hybrid", {"members": "nope"})
    assert reg.active_version() == v1.version
    v2 = train_from_store(eng, reg, "hybrid", {"members": "implicit-als,content-knn"})
    svc.refresh(force=True)
    assert svc.recommend(1, 5).model_version == v2.version
