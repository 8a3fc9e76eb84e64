"""Training jobs: database snapshot -> fitted model -> published version."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine

from cinerec.algorithms.registry import create
from cinerec.errors import CinerecError, DataFormatError, ModelFitError
from cinerec.service.registry import ModelRegistry, VersionInfo
from cinerec.store.snapshot import load_interactions, load_item_features


def train_from_store(
    engine: Engine, registry: ModelRegistry, algo: str, params: dict[str, Any] | None = None, *, activate: bool = True,
    text_encoder: str | None = None,
) -> VersionInfo:
    """Fit ``algo`` on every rating (and scored review) in the database and publish it.

    A failure anywhere leaves the active version untouched.

    Args:
        text_encoder: ``minilm`` or ``use-m`` to add sentence embeddings of
            overviews and tags to the content features (needs the nlp extra).

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
    extra = {"ratings": len(data), "users": data.n_users, "items": data.n_items, "fit_seconds": round(fit_s, 3), "params": model.get_params()}
    return registry.publish(model, user_ids=data.user_vocab.ids, item_ids=data.item_vocab.ids, extra=extra, activate=activate)
