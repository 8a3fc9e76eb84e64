"""Training jobs: database snapshot -> fitted model -> published version."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select

from cinerec.algorithms._ann import ann_available
from cinerec.algorithms.base import RecommenderBase
from cinerec.algorithms.registry import create
from cinerec.config import get_settings
from cinerec.data.interactions import Interactions
from cinerec.errors import CinerecError, DataFormatError, ModelFitError, TrainingRefused
from cinerec.service.memory import DEFAULT_FRACTION, default_limit, format_bytes
from cinerec.service.registry import ModelRegistry, VersionInfo
from cinerec.store.models import Movie, MovieStats, Rating, Review, User
from cinerec.store.snapshot import load_interactions, load_item_features

log = logging.getLogger(__name__)

_SPARK = "`cinerec train --engine spark --algo als`"
#: Per algorithm: what dominates its training memory, and what to train instead when it does not fit.
_MEMORY_ADVICE: dict[str, tuple[str, str]] = {
    "ease": ("an item x item matrix inverted in float64",
             f"Train `--algo ease` on fewer films, or `--algo implicit-als` / {_SPARK} instead"),
    "item-knn": ("up to max_neighbors similarities per film, plus copies of the ratings",
                 f"Lower `--param item-knn.max_neighbors`, or train `--algo implicit-als` / {_SPARK} instead"),
    "user-knn": ("up to max_neighbors similarities per member, plus copies of the ratings",
                 f"Lower `--param user-knn.max_neighbors`, or train `--algo item-knn` / {_SPARK} instead"),
    "hybrid": ("every member's model, and their scores of the validation members",
               f"Train a hybrid of fewer or smaller members, or one member alone / {_SPARK} instead"),
    "neural": ("embeddings with their Adam state, and the item tower's activations",
               f"Lower n_factors, hidden or batch_size, or train {_SPARK} instead"),
    "bayesian-mf": ("every kept posterior sample of the factors",
                    f"Lower n_samples or n_factors, or train {_SPARK} instead"),
    "slim": ("one regression per film over the films rated with it, and its weights",
             f"Keep fewer weights per film (`--param slim.top_k=100`), or train `--algo implicit-als` / {_SPARK} instead"),
    "rp3beta": ("item x item random-walk blocks and top_k neighbours per film",
                f"Lower `--param rp3beta.top_k`, or train `--algo item-knn` / {_SPARK} instead"),
    "vae": ("catalogue-wide encoder and decoder layers with their Adam state",
            f"Lower hidden or latent, or train `--algo implicit-als` / {_SPARK} instead"),
    "autorec": ("a dense films x members matrix and its intermediates for the backward pass",
                f"Lower n_factors, or train `--algo bayesian-mf` / {_SPARK} instead"),
}
_FACTORS = ("user and item factors, plus copies of the ratings", f"Lower n_factors, or train {_SPARK} instead")


def data_counts(engine: Engine) -> tuple[int, int, int]:
    """``(members, films, ratings)`` as the training snapshot will have them, without reading the ratings.

    Members and films are counted (a snapshot's vocabularies hold every one);
    ratings are the sum of ``movie_stats.n_ratings`` (one row per film), or
    the highest rating id (never fewer than there are) when the aggregates
    are empty. Reviews and social signals add a few interactions on top.
    """
    with engine.connect() as conn:
        users = int(conn.execute(select(func.count()).select_from(User)).scalar() or 0)
        films = int(conn.execute(select(func.count()).select_from(Movie)).scalar() or 0)
        ratings = int(conn.execute(select(func.sum(MovieStats.n_ratings))).scalar() or 0)
        if ratings == 0:
            ratings = int(conn.execute(select(func.max(Rating.id))).scalar() or 0)
    return users, films, ratings


def check_memory(model: RecommenderBase, n_users: int, n_items: int, n_ratings: int, *,
                 limit_bytes: int | None = None) -> None:
    """Refuse to fit ``model`` on data of this size when its estimate exceeds the memory limit.

    The estimate is the model's own
    (:meth:`~cinerec.algorithms.base.RecommenderBase.estimate_fit_bytes`);
    nothing is allocated here. The limit is ``limit_bytes``, else
    ``CINEREC_TRAIN_MEMORY_LIMIT``, else 80 % of the memory available now
    (:func:`cinerec.service.memory.default_limit`); when none is known (no
    ``/proc``), nothing is refused.

    Raises:
        TrainingRefused: the estimate is over the limit; the message names the
            algorithm, both figures and what to train instead.
    """
    setting = get_settings().train_memory_limit
    limit = limit_bytes if limit_bytes is not None else setting if setting is not None else default_limit()
    if limit is None:
        log.debug("available memory unknown: %s is trained without a memory check", model.name)
        return
    need = int(model.estimate_fit_bytes(n_users, n_items, n_ratings))
    if need <= limit:
        return
    what, instead = _MEMORY_ADVICE.get(model.name, _FACTORS)
    have = (f"the limit is {format_bytes(limit)}" if limit_bytes is not None
            else f"CINEREC_TRAIN_MEMORY_LIMIT is {format_bytes(limit)}" if setting is not None
            else f"{format_bytes(limit)} is available ({DEFAULT_FRACTION:.0%} of the free memory)")
    raise TrainingRefused(
        f"{type(model).__name__} needs about {format_bytes(need)} to train on {n_items:,} films, {n_users:,} members "
        f"and {n_ratings:,} ratings ({what}); {have}. {instead} "
        "(or raise CINEREC_TRAIN_MEMORY_LIMIT).",
        details={"algo": model.name, "estimate_bytes": need, "limit_bytes": int(limit), "users": n_users,
                 "items": n_items, "ratings": n_ratings})


def train_from_store(
    engine: Engine, registry: ModelRegistry, algo: str, params: dict[str, Any] | None = None, *, activate: bool = True,
    text_encoder: str | None = None, ann_min_items: int | None = None, extra: dict[str, Any] | None = None,
) -> VersionInfo:
    """Fit ``algo`` on every rating (and scored review) in the database and publish it.

    A failure anywhere leaves the active version untouched. A latent model of
    a catalogue of at least ``ann_min_items`` films also gets its approximate
    top-k index (:func:`build_ann`), saved in the same artifact. The manifest
    records how fresh the data was (:func:`data_watermark`), so the retraining
    worker can count what arrived since.

    Args:
        text_encoder: ``minilm`` or ``use-m`` to add sentence embeddings of
            overviews and tags to the content features (needs the nlp extra).
        ann_min_items: the index threshold (default ``CINEREC_ANN_MIN_ITEMS``).
        extra: more metadata for the manifest (e.g. the worker's run id).

    Raises:
        DataFormatError: the database holds no ratings.
        TrainingRefused: the fit would need more memory than the limit
            (:func:`check_memory`, from :func:`data_counts`, before any data is loaded).
        ModelFitError: the algorithm failed to fit.
    """
    model = create(algo, **(params or {}))
    check_memory(model, *data_counts(engine))
    data, mark = snapshot(engine, features=model.needs_features, text_encoder=text_encoder)
    fit_s = fit_model(model, data)
    return publish_model(registry, model, data, fit_s, {**mark, **(extra or {})}, activate=activate,
                         ann_min_items=ann_min_items)


def data_watermark(engine: Engine) -> dict[str, Any]:
    """How far the database's ratings and reviews go, for the manifest of a model trained on them now.

    Read *before* the snapshot, so that a rating written while the snapshot
    is taken counts as new next time (over-counting, never missing). Only
    indexed columns are read (``MAX`` of primary keys and of
    ``ratings.updated_at``).

    Returns:
        ``data_as_of``: ISO time of the newest rating change or review
        (the current time when there is neither); ``rating_id_max`` and
        ``review_id_max``: the highest ids, which catch imported rows whose
        timestamps are older than ``data_as_of``.
    """
    with engine.connect() as conn:
        rating_id = conn.execute(select(func.max(Rating.id))).scalar()
        rating_at = conn.execute(select(func.max(Rating.updated_at))).scalar()
        review_id = conn.execute(select(func.max(Review.id))).scalar()
        review_at = (conn.execute(select(Review.created_at).where(Review.id == review_id)).scalar()
                     if review_id is not None else None)
    times = [as_utc(t) for t in (rating_at, review_at) if t is not None]
    return {"data_as_of": (max(times) if times else datetime.now(UTC)).isoformat(),
            "rating_id_max": int(rating_id or 0), "review_id_max": int(review_id or 0)}


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC time (SQLite hands back naive UTC times)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def snapshot(engine: Engine, *, features: bool = False, text_encoder: str | None = None,
             ) -> tuple[Interactions, dict[str, Any]]:
    """The training data and its :func:`data_watermark`.

    Args:
        features: attach the films' content features (for models that need them).
        text_encoder: as for :func:`train_from_store`.

    Raises:
        DataFormatError: the database holds no ratings.
    """
    mark = data_watermark(engine)
    data = load_interactions(engine)
    if len(data) == 0:
        raise DataFormatError("the database has no ratings to train on: run `cinerec data import` first")
    if features:
        encoder = None
        if text_encoder:
            from functools import partial

            from cinerec.nlp.embeddings import encode

            encoder = partial(encode, encoder=text_encoder)
        data = data.with_features(load_item_features(engine, data.item_vocab, encoder))
    return data, mark


def fit_model(model: RecommenderBase, data: Interactions) -> float:
    """Fit ``model`` on ``data``; returns the seconds it took.

    Raises:
        ModelFitError: the algorithm failed (a cinerec error is passed on as it is).
    """
    t0 = time.perf_counter()
    try:
        model.fit(data)
    except CinerecError:
        raise
    except Exception as exc:  # any numeric failure becomes one clear error
        raise ModelFitError(f"{model.name} failed to fit: {exc}") from exc
    return time.perf_counter() - t0


def publish_model(registry: ModelRegistry, model: RecommenderBase, data: Interactions, fit_seconds: float,
                  extra: dict[str, Any] | None = None, *, activate: bool = True,
                  ann_min_items: int | None = None) -> VersionInfo:
    """Publish a model fitted on ``data`` (with its ANN index when the catalogue is large enough).

    Args:
        fit_seconds: recorded in the manifest.
        extra: more manifest metadata (the data watermark...).
        activate: switch the active pointer to it.
        ann_min_items: the index threshold (default ``CINEREC_ANN_MIN_ITEMS``).
    """
    meta: dict[str, Any] = {"ratings": len(data), "users": data.n_users, "items": data.n_items,
                            "fit_seconds": round(fit_seconds, 3), "params": model.get_params(), **(extra or {})}
    threshold = get_settings().ann_min_items if ann_min_items is None else ann_min_items
    ann = build_ann(model, threshold)
    if ann is not None:
        meta["ann"] = ann
    return registry.publish(model, user_ids=data.user_vocab.ids, item_ids=data.item_vocab.ids, extra=meta,
                            activate=activate)


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
