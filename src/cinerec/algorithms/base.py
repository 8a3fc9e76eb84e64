"""The algorithm protocol and :class:`RecommenderBase`.

Models implement ``fit`` and ``score`` (and ``predict`` for rating
prediction); masking, top-k and parameters are written once here; saving
and loading go through :mod:`cinerec.algorithms.persist`. Hyper-parameters are keyword arguments of ``__init__`` stored unchanged;
learned state ends in ``_``.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple, Protocol, Self, runtime_checkable

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cinerec.algorithms import _ann
from cinerec.algorithms._ann import LatentQuery
from cinerec.algorithms._topk import topk
from cinerec.data.interactions import Interactions
from cinerec.errors import InvalidParameter, NotFittedError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

log = logging.getLogger(__name__)
#: Serialises reading an ANN index from its bytes: concurrent first requests of a server process would each
#: deserialise their own copy (128 MiB at 500k items x 64), and malloc keeps the memory of the discarded ones.
_ANN_LOAD = threading.Lock()


class Ranked(NamedTuple):
    """Recommendations for a batch of users: ``(n_users, k)`` item indices and scores.

    Missing slots (fewer than ``k`` eligible items) hold ``-1`` and NaN.
    """

    items: IntArray
    scores: FloatArray


class Reason(NamedTuple):
    """One explanation of a recommendation.

    Attributes:
        kind: ``liked_item``, ``similar_users``, ``popular``, ``attribute``...
        text: human-readable sentence fragment.
        item: the related item index, when there is one.
        weight: contribution to the score.
    """

    kind: str
    text: str
    item: int | None = None
    weight: float = 0.0


@runtime_checkable
class Recommender(Protocol):
    """Anything that can be fitted and can score and rank items for users."""

    def fit(self, data: Interactions) -> Self: ...

    def score(self, users: IntArray, items: IntArray | None = None) -> FloatArray: ...

    def recommend(
        self, users: IntArray, k: int = 10, *, exclude_seen: bool = True, candidates: IntArray | None = None
    ) -> Ranked: ...


@runtime_checkable
class RatingPredictor(Protocol):
    """A model that predicts ratings for (user, item) pairs on the rating scale."""

    def predict(self, users: IntArray, items: IntArray) -> FloatArray: ...


@runtime_checkable
class SupportsFoldIn(Protocol):
    """A model that can build a user's representation from fresh interactions without refitting.

    Latent-factor models return the user's coordinates ``x`` in their item
    design, so that history scores are ``offset + design @ x`` (see
    :mod:`cinerec.algorithms._latent`); content models return a profile.
    """

    def fold_in(self, items: IntArray, values: FloatArray) -> FloatArray: ...


class RecommenderBase:
    """Shared behaviour of every cinerec recommender.

    Subclasses set :attr:`name`, implement :meth:`fit` (calling
    :meth:`_remember` first) and :meth:`score`. Everything ending in ``_``
    after fitting is the model's learned state and is what
    :func:`cinerec.algorithms.persist.save` writes.

    Attributes:
        name: registry name, e.g. ``item-knn``.
        predicts_ratings: whether :meth:`predict` gives ratings.
    """

    name: ClassVar[str] = "base"
    predicts_ratings: ClassVar[bool] = False
    #: Whether ``fit`` needs ``data.item_features``.
    needs_features: ClassVar[bool] = False
    #: Catalogue size from which a built ANN index ranks instead of exact scoring (not saved: the
    #: service sets it from ``CINEREC_ANN_MIN_ITEMS`` on every load).
    ann_min_items: int = _ann.ANN_MIN_ITEMS

    # ------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters as given to ``__init__``."""
        return {p: getattr(self, p) for p in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        """Change hyper-parameters (before fitting).

        Raises:
            InvalidParameter: for a name ``__init__`` does not take.
        """
        names = set(self._param_names())
        for key, value in params.items():
            if key not in names:
                raise InvalidParameter(f"{self.name} has no parameter {key!r}; it takes {sorted(names)}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # --------------------------------------------------------------- fitting
    def fit(self, data: Interactions) -> Self:
        """Learn from ``data``; returns ``self``."""
        raise NotImplementedError

    def estimate_fit_bytes(self, n_users: int, n_items: int, n_ratings: int) -> int:
        """Peak memory :meth:`fit` needs beyond its input, in bytes, from the data's size and this model's parameters.

        The service compares it with the memory limit before loading any data
        (:func:`cinerec.service.training.check_memory`), so a fit that cannot
        succeed is refused instead of being killed by the operating system. It
        is an estimate of the same order as the measured peak (the tests hold
        the big models to within 0.5-3x on ML-100K), not an exact figure.

        The default, for models whose state grows linearly: 32 bytes per
        rating (the seen mask and values :meth:`_remember` keeps, 16 bytes,
        and two float64 working arrays over the ratings) and 64 per user and
        per item (a few float64 vectors: means, biases, counts). Models with
        superlinear or large state override it.

        Args:
            n_users, n_items, n_ratings: the size of the data it would be fitted on.
        """
        return 32 * int(n_ratings) + 64 * (int(n_users) + int(n_items))

    def _remember(self, data: Interactions) -> None:
        """Record the shape, the seen-items mask and each seen item's value (rating or implicit weight)."""
        self.n_users_ = data.n_users
        self.n_items_ = data.n_items
        self.seen_ = data.binary.copy()
        # same construction as the mask (one COO -> CSR with sorted indices), so the values line up with seen_.indices
        self.seen_values_ = np.asarray(data.matrix.data, dtype=np.float32)
        self._derived_cache().clear()
        # an index of the previous fit's item vectors would answer for the wrong model
        for key in ("ann_index_", "ann_nprobe_", "ann_recall_"):
            self.__dict__.pop(key, None)

    def _derived_cache(self) -> dict[str, Any]:
        """Values derived from learned state (e.g. a fold-in prior): computed once, cleared by every fit, never saved."""
        cache: dict[str, Any] = self.__dict__.setdefault("_derived", {})
        return cache

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` (or a load) has happened."""
        return hasattr(self, "n_items_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() first")

    def _split_users(self, users: npt.ArrayLike) -> tuple[IntArray, npt.NDArray[np.bool_]]:
        """Users as an int array and a mask of those the model knows."""
        self._check_fitted()
        u = np.atleast_1d(np.asarray(users, dtype=np.int64))
        known = (u >= 0) & (u < self.n_users_)
        return u, known

    def _pairs(self, users: npt.ArrayLike, items: npt.ArrayLike) -> tuple[IntArray, IntArray, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """(user, item) pairs made safe to index: ``(users, items, known_user, known_item)``.

        Unknown indices are replaced by 0; callers use the masks to drop the
        terms they cannot compute (the fallback for cold users and items).
        """
        self._check_fitted()
        u = np.asarray(users, dtype=np.int64)
        i = np.asarray(items, dtype=np.int64)
        ku = (u >= 0) & (u < self.n_users_)
        ki = (i >= 0) & (i < self.n_items_)
        return np.where(ku, u, 0), np.where(ki, i, 0), ku, ki

    # --------------------------------------------------------------- history
    def _check_history(self, items: npt.ArrayLike, values: npt.ArrayLike | None) -> tuple[IntArray, FloatArray]:
        """A history made safe: items the model does not know dropped, repeats collapsed to the last value.

        Raises:
            InvalidParameter: lengths differ, or a value is not finite.
        """
        self._check_fitted()
        it = np.atleast_1d(np.asarray(items, dtype=np.int64))
        v = np.ones(len(it)) if values is None else np.atleast_1d(np.asarray(values, dtype=np.float64))
        if v.shape != it.shape:
            raise InvalidParameter(f"a history needs one value per item: got {len(it)} items and {len(v)} values")
        if not np.isfinite(v).all():
            raise InvalidParameter("history values must be finite numbers")
        keep = (it >= 0) & (it < self.n_items_)
        it, v = it[keep], v[keep]
        if len(np.unique(it)) < len(it):
            last = len(it) - 1 - np.unique(it[::-1], return_index=True)[1]
            it, v = it[last], v[last]
        return it, v

    def training_history(self, user: int) -> tuple[IntArray, FloatArray]:
        """The items a trained user interacted with and their training values (ratings, else implicit weights).

        Artifacts saved before the values were kept give 1 for every item.
        """
        self._check_fitted()
        if not 0 <= user < self.n_users_:
            return np.empty(0, dtype=np.int64), np.empty(0)
        lo, hi = self.seen_.indptr[user], self.seen_.indptr[user + 1]
        values = getattr(self, "seen_values_", None)
        row = self.seen_.indices[lo:hi].astype(np.int64)
        return row, (np.ones(len(row)) if values is None else np.asarray(values[lo:hi], dtype=np.float64))

    def score_history(self, items: npt.ArrayLike, values: npt.ArrayLike | None = None) -> FloatArray:
        """Scores of every item for an interaction history the model was not trained on.

        This is how a new member, or a member who rated films since the last
        training, gets a personal ranking without refitting. For a trained
        user's own training history the ranking matches :meth:`score`'s
        (exactly for neighbourhood and bias models, closely for latent ones).

        Args:
            items: item indices of the history (unknown ones, ``-1``, are dropped).
            values: one rating or implicit weight per item (``None``: all 1).

        Returns:
            ``(n_items,)`` scores, higher is better, NaN where the model cannot score.

        Raises:
            InvalidParameter: malformed history.
        """
        it, v = self._check_history(items, values)
        return self._history_scores(it, v)

    def _history_scores(self, items: IntArray, values: FloatArray) -> FloatArray:
        """``_score_history`` of a validated history as a float ``(n_items,)`` row."""
        return np.asarray(self._score_history(items, values), dtype=np.float64).reshape(self.n_items_)

    def _score_history(self, items: IntArray, values: FloatArray) -> FloatArray:
        """Scores of every item for a validated history; every model implements this."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _score_history")

    # ------------------------------------------------------------ explaining
    def explain(self, user: int, item: int, n: int = 3) -> list[Reason]:
        """Why ``item`` is recommended to the trained ``user``: :meth:`explain_history` over their training items."""
        items, values = self.training_history(user)
        return self.explain_history(items, values, item, n)

    def explain_history(self, items: npt.ArrayLike, values: npt.ArrayLike | None, item: int, n: int = 3) -> list[Reason]:
        """Why ``item`` suits a history: reasons drawn only from the films the history liked.

        "Liked" means a value at or above the history's own mean (every film
        when all values are equal, as in implicit data), so a film rated 2 of
        5 is never given as a reason.

        Args:
            items, values: the history, as for :meth:`score_history`.
            item: the recommended item index.
            n: at most this many reasons.

        Returns:
            Reasons, strongest first; ``Reason.item`` names the history film.
        """
        it, v = self._check_history(items, values)
        if not 0 <= item < self.n_items_ or n < 1:
            return []
        if len(v) and np.ptp(v) > 0:
            liked = v >= v.mean()
            it, v = it[liked], v[liked]
        return self._explain_history(it, v, int(item), int(n))[:n]

    def _explain_history(self, items: IntArray, values: FloatArray, item: int, n: int) -> list[Reason]:
        """Reasons from the liked part of a history; models that can explain override this."""
        return []

    def _explain_by_vectors(self, vectors: FloatArray, items: IntArray, item: int, n: int) -> list[Reason]:
        """The ``items`` whose ``vectors`` are most cosine-similar to ``item``'s."""
        if not len(items):
            return []
        # plain numpy: sklearn's normalize() costs ~0.2 ms per call in parameter validation alone
        cand, target = vectors[items], vectors[item]
        norms = np.linalg.norm(cand, axis=1) * np.linalg.norm(target)
        s = np.divide(cand @ target, norms, out=np.zeros(len(items)), where=norms > 0)
        order = np.argsort(-s, kind="stable")[:n]
        return [Reason("liked_item", "because you rated it", int(items[j]), float(s[j])) for j in order if s[j] > 0]

    def _items(self, items: npt.ArrayLike | None) -> IntArray:
        if items is None:
            return np.arange(self.n_items_, dtype=np.int64)
        return np.atleast_1d(np.asarray(items, dtype=np.int64))

    # --------------------------------------------------------------- scoring
    def score(self, users: IntArray, items: IntArray | None = None) -> FloatArray:
        """Scores ``(len(users), len(items))``, higher is better, NaN where the model cannot score.

        Unknown users (index ``-1`` or beyond the training data) and unknown
        items get NaN unless the model has a fallback (popularity, content).
        """
        self._check_fitted()
        u, known = self._split_users(users)
        it = self._items(items)
        out = np.full((len(u), len(it)), np.nan)
        valid_items = (it >= 0) & (it < self.n_items_)
        if known.any() and valid_items.any():
            block = self._score_known(u[known])
            out[np.ix_(known, valid_items)] = block[:, it[valid_items]]
        return out

    def _score_known(self, users: IntArray) -> FloatArray:
        """Scores of known users over all training items; subclasses implement this."""
        raise NotImplementedError

    def recommend(
        self,
        users: npt.ArrayLike,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        candidates: npt.ArrayLike | None = None,
        exclude: npt.ArrayLike | None = None,
    ) -> Ranked:
        """Top-``k`` items for each trained user, best first.

        Args:
            users: dense user indices (unknown users get only what the model can score for them).
            k: list length.
            exclude_seen: drop items the user interacted with in training.
            candidates: restrict to these item indices.
            exclude: item indices to leave out for every user (e.g. films marked watched).

        Returns:
            :class:`Ranked` with ``(n_users, k)`` arrays.
        """
        self._check_fitted()
        u = np.atleast_1d(np.asarray(users, dtype=np.int64))
        known = (u >= 0) & (u < self.n_users_)
        seen = None
        if exclude_seen:
            seen = self.seen_[np.where(known, u, 0)]
            if not known.all():
                seen = sp.csr_matrix(sp.diags(known.astype(np.float64)) @ seen)
                seen.eliminate_zeros()
        query = self._latent_users(u) if known.all() and self._ann() is not None else None
        return self._rank(lambda: self.score(u), k, seen, candidates, exclude, query)

    def recommend_history(
        self,
        items: npt.ArrayLike,
        values: npt.ArrayLike | None = None,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        candidates: npt.ArrayLike | None = None,
        exclude: npt.ArrayLike | None = None,
    ) -> Ranked:
        """Top-``k`` items for a history the model was not trained on (see :meth:`score_history`).

        Args:
            items, values: the history.
            k: list length.
            exclude_seen: drop the history's own items.
            candidates, exclude: as for :meth:`recommend`.

        Returns:
            :class:`Ranked` with ``(1, k)`` arrays.
        """
        it, v = self._check_history(items, values)
        seen = sp.csr_matrix((np.ones(len(it)), (np.zeros(len(it), dtype=np.int64), it)), shape=(1, self.n_items_)) if exclude_seen else None
        query = self._latent_history(it, v) if self._ann() is not None else None
        return self._rank(lambda: self._history_scores(it, v)[None, :], k, seen, candidates, exclude, query,
                          probe_factor=_ann.HISTORY_PROBE_FACTOR)

    def _rank(self, scores: Callable[[], FloatArray], k: int, seen: sp.csr_matrix | None,
              candidates: npt.ArrayLike | None, exclude: npt.ArrayLike | None, query: LatentQuery | None = None,
              *, probe_factor: int = 1) -> Ranked:
        """The one ranking step: masks, then :func:`topk` over every score, or the ANN index for ``query``.

        Args:
            scores: computes the ``(n_rows, n_items)`` scores; called only on the exact path.
            k, seen, candidates, exclude: as for :meth:`recommend` (``seen`` one CSR row per ranked row).
            query: the rows as latent queries; with one and a usable index,
                :func:`cinerec.algorithms._ann.ann_topk` ranks (over-fetch,
                filters, exact re-scoring of the candidates, refill).
            probe_factor: search this many times the index's cells (histories' queries need more).
        """
        allowed = None
        if candidates is not None or exclude is not None:
            allowed = np.ones(self.n_items_, dtype=bool)
            if candidates is not None:
                allowed[:] = False
                c = np.atleast_1d(np.asarray(candidates, dtype=np.int64))
                allowed[c[(c >= 0) & (c < self.n_items_)]] = True
            if exclude is not None:
                e = np.atleast_1d(np.asarray(exclude, dtype=np.int64))
                allowed[e[(e >= 0) & (e < self.n_items_)]] = False
        index = self._ann() if query is not None else None
        vectors = self._latent_items() if index is not None else None
        if query is not None and index is not None and vectors is not None:
            nlist = int(index.nlist)
            nprobe = min(nlist, probe_factor * int(getattr(self, "ann_nprobe_", _ann.default_nprobe(nlist))))

            cache = self._derived_cache()
            if "ann_radius" not in cache:
                cache["ann_radius"] = _ann.item_radius(vectors)
            radius = float(cache["ann_radius"])

            def searcher(w: FloatArray, n: int, probes: int) -> IntArray:
                return _ann.search(index, w, n, probes, radius)

            items, vals = _ann.ann_topk(searcher, query, vectors, k, nprobe=nprobe, max_nprobe=nlist, exclude=seen,
                                        allowed=allowed)
            return Ranked(items, vals)
        items, vals = topk(scores(), k, exclude=seen, allowed=allowed)
        return Ranked(items, vals)

    # ------------------------------------------------------ approximate top-k
    def _latent_items(self) -> FloatArray | None:
        """``(n_items, d)`` item vectors ``v`` such that scores are ``const_u + v_i . w_u``; ``None`` for non-latent models.

        Latent models return them (computed once per fitted state) together
        with :meth:`_latent_users` and :meth:`_latent_history`; an ANN index
        is built over them and its candidates re-scored with them.
        """
        return None

    def _latent_users(self, users: IntArray) -> LatentQuery | None:
        """Trained (known) users as :class:`LatentQuery`: the same scores as :meth:`score`'s, ranking shift included."""
        return None

    def _latent_history(self, items: IntArray, values: FloatArray) -> LatentQuery | None:
        """A validated history as a one-row :class:`LatentQuery`: the same scores as :meth:`score_history`'s."""
        return None

    @property
    def supports_ann(self) -> bool:
        """Whether the model is a latent-factor model that :meth:`build_ann_index` can index."""
        self._check_fitted()
        return self._latent_items() is not None

    @property
    def has_ann_index(self) -> bool:
        """Whether an ANN index was built (or loaded) for this fitted state."""
        return "ann_index_" in vars(self)

    def build_ann_index(self, *, nlist: int | None = None, nprobe: int | None = None, target_recall: float = 0.95,
                        check_users: int = 200) -> None:
        """Build the approximate top-k index over the item vectors; it is saved with the model.

        Ranking goes through it (:meth:`recommend`, :meth:`recommend_history`)
        when the catalogue has at least :attr:`ann_min_items` items and faiss
        can be imported; scores stay exact. A new :meth:`fit` drops it.

        Unless ``nprobe`` is given, the cells searched are then tuned on this
        model: recall@10 of up to ``check_users`` trained users (a seeded
        sample, seen items excluded) against their exact lists, the cells
        doubled until it reaches ``target_recall`` or every cell is searched.
        Factors without the clustered structure trained ones have need many
        more cells (plain Gaussian vectors: recall 0.54 at the default).
        The measured recall is kept as ``ann_recall_``.

        Args:
            nlist: k-means cells (default about ``2 sqrt(n_items)``).
            nprobe: cells searched per query (default: tuned from 64).
            target_recall: recall@10 the tuning aims at.
            check_users: trained users the recall is measured on.

        Raises:
            NotFittedError: before fitting.
            InvalidParameter: the model is not a latent-factor model.
            ImportError: faiss is not installed (``pip install cinerec[ann]``).
        """
        self._check_fitted()
        vectors = self._latent_items()
        if vectors is None:
            raise InvalidParameter(f"{self.name} has no item vectors to index: approximate top-k is for latent models")
        if not _ann.ann_available():
            raise ImportError("approximate top-k needs faiss: pip install 'cinerec[ann]'")
        index = _ann.build_index(vectors, nlist=nlist)
        self.ann_index_ = _ann.serialize(index)
        self._derived_cache()["ann"] = index
        nlist_built = int(index.nlist)
        self.ann_nprobe_ = int(nprobe) if nprobe is not None else _ann.default_nprobe(nlist_built)
        self.ann_recall_ = self._ann_recall(check_users)
        while nprobe is None and self.ann_recall_ < target_recall and self.ann_nprobe_ < nlist_built:
            self.ann_nprobe_ = min(nlist_built, 2 * self.ann_nprobe_)
            self.ann_recall_ = self._ann_recall(check_users)

    def _ann_recall(self, n_users: int) -> float:
        """Recall@10 of the index against exact ranking for a seeded sample of trained users (1.0 without any)."""
        trained = np.flatnonzero(np.diff(self.seen_.indptr) > 0)
        if not len(trained) or n_users < 1:
            return 1.0
        users = np.sort(np.random.default_rng(0).choice(trained, min(n_users, len(trained)), replace=False))
        cache = self._derived_cache()
        if cache.get("ann_truth_users") is None or not np.array_equal(cache["ann_truth_users"], users):
            chunks = [topk(self.score(users[lo:lo + 16]), 10, exclude=self.seen_[users[lo:lo + 16]])[0]
                      for lo in range(0, len(users), 16)]  # 16 rows of scores at a time: bounded memory on big catalogues
            cache["ann_truth_users"], cache["ann_truth"] = users, np.vstack(chunks)
        truth = cache["ann_truth"]
        saved = self.ann_min_items
        self.ann_min_items = 0
        try:
            got = self.recommend(users, 10).items
        finally:
            self.ann_min_items = saved
        hits = [len(set(g[g >= 0].tolist()) & set(t[t >= 0].tolist())) / max(int((t >= 0).sum()), 1)
                for g, t in zip(got, truth, strict=True)]
        return float(np.mean(hits))

    def _ann(self) -> Any | None:
        """The usable faiss index, or ``None``: no index, a catalogue under :attr:`ann_min_items`, no faiss, or a bad index.

        The index is read from its bytes once per loaded model; an unreadable
        one is logged once and ranking stays exact.
        """
        blob = getattr(self, "ann_index_", None)
        if blob is None or self.n_items_ < self.ann_min_items:
            return None
        cache = self._derived_cache()
        if "ann" in cache:
            index: Any | None = cache["ann"]
            return index
        with _ANN_LOAD:
            if "ann" not in cache:
                self._load_ann(blob, cache)
        index = cache["ann"]
        return index

    def _load_ann(self, blob: Any, cache: dict[str, Any]) -> None:
        """Read the index from ``blob`` into ``cache["ann"]`` (``None`` when it cannot be used)."""
        vectors = self._latent_items()
        if vectors is None:
            cache["ann"] = None
        elif not _ann.ann_available():
            log.info("%s has an ANN index but faiss is not installed: ranking exactly", self.name)
            cache["ann"] = None
        else:
            cache["ann"] = _ann.deserialize(np.asarray(blob), self.n_items_, vectors.shape[1])

    def learned_summary(self) -> dict[str, Any]:
        """A few JSON-ready figures of what fitting learned (weights, epochs, variance), for reports."""
        return {}
