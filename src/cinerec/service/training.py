"""Training jobs: database snapshot -> fitted model -> published version."""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import Engine

from cinerec.algorithms._ann import ann_available
from cinerec.algorithms.base import RecommenderBase
from cinerec.algorithms.registry import create
from cinerec.config import get_settings
from cinerec.errors import CinerecError, DataFormatError, ModelFitError
from cinerec.service.registry import ModelRegistry, VersionInfo
from cinerec.store.snapshot import load_interactions, load_item_features

log = logging.getLogger(__name__)


def train_from_store(
    engine: Engine, registry: ModelRegistry, algo: str, params: dict[str, Any] | None = None, *, activate: bool = True,
    text_encoder: str | None = None, ann_min_items: int | None = None,
) -> VersionInfo:
    """Fit ``algo`` on every rating (and scored review) in the database and publish it.

    A failure anywhere leaves the active version untouched. A latent model of
    a catalogue of at least ``ann_min_items`` films also gets its approximate
    top-k index (:func:`build_ann`), saved in the same artifact.

    Args:
        text_encoder: ``minilm`` or ``use-m`` to add sentence embeddings of
            overviews and tags to the content features (needs the nlp extra).
        ann_min_items: the index threshold (default ``CINEREC_ANN_MIN_ITEMS``).

    Raises:
        DataFormatError: the database holds no ratings.
        ModelFitError: the algorithm failed to fit.
    """
    data = load_interactions(engine)
    if len(data) == 0:
        raise DataFormatError("the database has no ratings to train on: run `cinerec data import` first")
    model = create(algo, **(params or {}))
    if model.needs_features:
        encoder = None
        if text_encoder:
            from functools import partial

            from cinerec.nlp.embeddings import encode

            encoder = partial(encode, encoder=text_encoder)
        data = data.with_features(load_item_features(engine, data.item_vocab, encoder))
    t0 = time.perf_counter()
    try:
        model.fit(data)
    except CinerecError:
        raise
    except Exception as exc:  # any numeric failure becomes one clear error
        raise ModelFitError(f"{algo} failed to fit: {exc}") from exc
    fit_s = time.perf_counter() - t0
    extra: dict[str, Any] = {"ratings": len(data), "users": data.n_users, "items": data.n_items, "fit_seconds": round(fit_s, 3),
                             "params": model.get_params()}
    threshold = get_settings().ann_min_items if ann_min_items is None else ann_min_items
    ann = build_ann(model, threshold)
    if ann is not None:
        extra["ann"] = ann
    return registry.publish(model, user_ids=data.user_vocab.ids, item_ids=data.item_vocab.ids, extra=extra, activate=activate)


def build_ann(model: RecommenderBase, min_items: int) -> dict[str, Any] | None:
    """Give a fitted latent model its approximate top-k index when its catalogue has ``min_items`` items or more.

    Non-latent models, smaller catalogues and a missing faiss (the ``ann``
    extra) are skipped: the model then ranks exactly, which is always correct.

    Returns:
        What was built (cells searched, the recall@10 they reached on trained users, seconds, bytes) for the
        manifest, or ``None`` when nothing was.
    """
    if model.n_items_ < min_items or not model.supports_ann:
        return None
    if not ann_available():
        log.warning("%s: %d items but faiss is not installed (pip install 'cinerec[ann]'): no ANN index, exact ranking",
                    model.name, model.n_items_)
        return None
    t0 = time.perf_counter()
    model.build_ann_index()
    info = {"kind": "ivf-flat", "nprobe": int(model.ann_nprobe_), "recall_at_10": round(float(model.ann_recall_), 4),
            "build_seconds": round(time.perf_counter() - t0, 3), "bytes": int(model.ann_index_.nbytes)}
    log.info("%s: ANN index built over %d items in %.1f s", model.name, model.n_items_, info["build_seconds"])
    return info
