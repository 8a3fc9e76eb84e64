"""One local Spark session for the whole test run, with the small-machine settings (../shared/ECOSYSTEM.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cinerec.data.interactions import Interactions


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """``local[2]`` with 4 shuffle partitions, parallelism 2, no UI, SPARK_LOCAL_IP=127.0.0.1 (about 8-20 s to start)."""
    pytest.importorskip("pyspark", reason="the spark extra is not installed: pip install 'cinerec[spark]'")
    from cinerec.algorithms.spark_als import spark_session

    with spark_session("local[2]", app_name="cinerec-tests") as session:
        yield session


@pytest.fixture(scope="session")
def ml100k_parquet(ml100k_data: Interactions, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ML-100K exported as the database export writes it (``user, item, rating, timestamp``)."""
    from cinerec.service.spark_training import export_parquet

    return export_parquet(ml100k_data, tmp_path_factory.mktemp("spark-data") / "ml100k.parquet")
