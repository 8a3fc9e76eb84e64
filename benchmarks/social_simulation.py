"""Does the social signal help? A simulation with a follow graph built from training ratings only.

    python benchmarks/social_simulation.py [--dataset ml-100k|ml-latest-small] [--seed 42]

Protocol. Per-user stratified 80/20 holdout (seed 42). From the TRAINING
ratings alone, the demo's generator (:func:`cinerec.service.social_seed.plan_social_graph`,
default knobs: 8 taste neighbours + 2 random follows per user, 3 shares of
top-rated films, half the users with public top-picks/genre lists) builds the
follow graph, shares and lists, so nothing of the test set leaks into them.
Metrics: NDCG@10 and recall@10 over every test item of each user with one,
training items excluded from the lists.

Variants, for each base model (implicit ALS and EASE with registry defaults):

- ``base``: trained on the training ratings.
- ``+social interactions``: training plus shares and public-list entries as
  implicit interactions by the product's rule (:mod:`cinerec.store.snapshot`:
  only for films the member did not rate). In this simulation every shared or
  listed film is one the member rated in training, so the rule adds nothing:
  the row shows that (rows added = 0) rather than assume a gain.
- ``+social boost``: the weight of a rated film the member also shared or
  listed raised to ``1 + w`` (share 0.8, list 0.6): the endorsement as extra
  confidence, which the product does not do; measured to see if it would help.
- ``blend``: ``(1 - a) * minmax(model) + a * minmax(popular with following)``
  per user, where the social score is the product's
  (:func:`cinerec.service.social_signals.score_signals`: distinct followees,
  strongest signal, recency). ``a`` is chosen on a validation split carved
  from training (models and graph rebuilt on the inner training set), never
  on the test set. A row with ``a = 0.1`` fixed shows the effect of a small
  social share on the test set whatever validation picked.

References: ``popular with following`` alone and ``popularity``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from cinerec.algorithms.registry import create
from cinerec.data.interactions import Interactions
from cinerec.data.readers import read_dataset
from cinerec.data.splits import stratified_split
from cinerec.evaluation import metrics as M
from cinerec.service.social_seed import SeedParams, SocialPlan, plan_social_graph
from cinerec.service.social_signals import MIN_RATING, score_signals
from cinerec.store.repos.circle import CircleSignal
from cinerec.store.snapshot import SOCIAL_SIGNALS

DATA = Path(os.environ.get("CINEREC_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
MODELS = ("implicit-als", "ease")
ALPHAS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7)
K = 10
#: A blend weight shown on the test set without tuning, so a small social share's effect is visible either way.
FIXED_ALPHA = 0.1


def genres_of(ds: object) -> dict[int, list[str]]:
    """Film id -> genre names of a dataset's movie table (empty when it has none)."""
    movies = getattr(ds, "movies", None)
    if movies is None or "genres" not in movies:
        return {}
    return {int(m): list(g) for m, g in zip(movies["item"], movies["genres"], strict=True)}


def plan_for(train: Interactions, genres: dict[int, list[str]], seed: int) -> SocialPlan:
    """The generator's graph, shares and lists from ``train``'s ratings (raw ids)."""
    assert train.ratings is not None
    return plan_social_graph(train.user_vocab.raw(train.users), train.item_vocab.raw(train.items), train.ratings,
                             genres, SeedParams(seed=seed))


def social_pairs(plan: SocialPlan) -> dict[tuple[int, int], str]:
    """``(user, film) -> strongest kind`` of the plan's shares and list entries (raw ids)."""
    out: dict[tuple[int, int], str] = {}
    for lst in plan.lists:
        for m in lst.movies:
            out.setdefault((lst.user, m), "list")
    for s in plan.shares:
        out[(s.user, s.movie)] = "share"
    return out


def with_social(train: Interactions, plan: SocialPlan, *, boost: bool) -> tuple[Interactions, int]:
    """``train`` plus the plan's shares/list entries: by the product's rule, or as weight boosts on rated films.

    Returns:
        The interactions and how many rows were added (product rule) or boosted.
    """
    df = train.to_frame()
    df["weight"] = 1.0
    pairs = social_pairs(plan)
    key = list(zip(df["user"].astype(int), df["item"].astype(int), strict=True))
    rated = set(key)
    if boost:
        extra = np.array([1.0 + SOCIAL_SIGNALS[pairs[k]][1] if k in pairs else 1.0 for k in key])
        df["weight"] = extra
        changed = int((extra > 1.0).sum())
    else:
        rows = [(u, m, *SOCIAL_SIGNALS[kind]) for (u, m), kind in pairs.items() if (u, m) not in rated]
        changed = len(rows)
        if rows:
            add = pd.DataFrame(rows, columns=["user", "item", "rating", "weight"])
            add["timestamp"] = int(df["timestamp"].max()) if "timestamp" in df else 0
            df = pd.concat([df, add], ignore_index=True)
    out = Interactions.from_frame(df, user_vocab=train.user_vocab, item_vocab=train.item_vocab, weight_col="weight")
    return out, changed


def social_scores(train: Interactions, plan: SocialPlan) -> np.ndarray:
    """Users x items "popular with following" scores (the product's formula) from ``train`` and ``plan``."""
    assert train.ratings is not None and train.timestamps is not None
    now = datetime.fromtimestamp(int(train.timestamps.max()), UTC)
    raw_u, raw_i = train.user_vocab.raw(train.users), train.item_vocab.raw(train.items)
    by_user: dict[int, list[CircleSignal]] = defaultdict(list)
    keep = train.ratings >= MIN_RATING
    for u, m, v, t in zip(raw_u[keep], raw_i[keep], train.ratings[keep], train.timestamps[keep], strict=True):
        by_user[int(u)].append(CircleSignal(int(m), int(u), str(u), "rate", float(v),
                                            datetime.fromtimestamp(int(t), UTC)))
    for s in plan.shares:
        by_user[s.user].append(CircleSignal(s.movie, s.user, str(s.user), "share", None, now - timedelta(days=s.days_ago)))
    for lst in plan.lists:
        for m in lst.movies:
            by_user[lst.user].append(CircleSignal(m, lst.user, str(lst.user), "list", None,
                                                  now - timedelta(days=lst.days_ago)))
    followees: dict[int, list[int]] = defaultdict(list)
    for a, b, _ in plan.follows:
        followees[a].append(b)
    out = np.zeros((train.n_users, train.n_items), dtype=np.float64)
    for a, fs in followees.items():
        row = int(train.user_vocab.index(a))
        picks = score_signals([s for f in fs for s in by_user.get(f, [])], now)
        if picks:
            cols = train.item_vocab.indices(np.array([p.movie_id for p in picks]))
            ok = cols >= 0
            out[row, cols[ok]] = np.array([p.score for p in picks])[ok]
    return out


def _minmax(x: np.ndarray) -> np.ndarray:
    """Each row scaled to 0..1 over its finite values (-inf stays -inf)."""
    finite = np.isfinite(x)
    lo = np.where(finite, x, np.inf).min(axis=1, keepdims=True)
    hi = np.where(finite, x, -np.inf).max(axis=1, keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.where(finite, (x - lo) / span, -np.inf)


def model_scores(algo: str, train: Interactions) -> np.ndarray:
    """Users x items scores of ``algo`` fitted on ``train``, training items at -inf."""
    model = create(algo).fit(train)
    s = np.asarray(model.score(np.arange(train.n_users)), dtype=np.float64)
    s = np.where(np.isnan(s), -1e9, s)
    seen = train.binary.tocoo()
    s[seen.row, seen.col] = -np.inf
    return s


def measure(scores: np.ndarray, train: Interactions, test: Interactions) -> tuple[float, float]:
    """Mean NDCG@10 and recall@10 of the top-10 of ``scores`` over users with test items (training items masked)."""
    users = np.unique(test.users)
    s = scores[users].copy()
    seen = train.binary[users].tocoo()
    s[seen.row, seen.col] = -np.inf
    top = np.argpartition(-s, K, axis=1)[:, :K]
    order = np.take_along_axis(-s, top, axis=1).argsort(axis=1, kind="stable")
    recs = np.take_along_axis(top, order, axis=1)
    truth = test.binary[users]
    return float(M.ndcg_at_k(recs, truth, K).mean()), float(M.recall_at_k(recs, truth, K).mean())


def blend(model: np.ndarray, social: np.ndarray, alpha: float, train: Interactions) -> np.ndarray:
    """``(1 - alpha) * minmax(model) + alpha * minmax(social)`` per user, training items at -inf."""
    finite = np.isfinite(model)
    mixed = (1 - alpha) * np.where(finite, _minmax(model), 0.0) + alpha * np.where(
        finite, _minmax(np.where(finite, social, -np.inf)), 0.0)
    return np.where(finite, mixed, -np.inf)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="ml-100k", choices=["ml-100k", "ml-latest-small"])
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    t0 = time.perf_counter()
    ds = read_dataset(DATA / args.dataset)
    data = ds.interactions()
    genres = genres_of(ds)
    split = stratified_split(data, 0.8, random_state=args.seed)
    train, test = split.train, split.test
    inner = stratified_split(train, 0.875, random_state=args.seed + 1)  # 70/10 of all: the validation split
    plan, inner_plan = plan_for(train, genres, args.seed), plan_for(inner.train, genres, args.seed)
    social, inner_social = social_scores(train, plan), social_scores(inner.train, inner_plan)
    print(f"{args.dataset}: {data.n_users} users, {data.n_items} films, {len(train)} training / {len(test)} test "
          f"ratings (per-user 80/20, seed {args.seed}); graph from training only: {len(plan.follows)} follows, "
          f"{len(plan.shares)} shares, {len(plan.lists)} lists ({sum(len(x.movies) for x in plan.lists)} entries); "
          f"users with a social score: {int((social > 0).any(axis=1).sum())}\n")
    rows: list[tuple[str, str, float, float, str]] = []
    pop = np.tile(train.item_counts().astype(np.float64), (train.n_users, 1))
    rows.append(("popularity", "-", *measure(pop, train, test), ""))
    only = np.where(social > 0, social, -1.0) + 1e-6 * _minmax(pop)  # ties and empty rows fall back to popularity
    rows.append(("popular with following", "-", *measure(only, train, test), "social score alone"))
    for algo in MODELS:
        base = model_scores(algo, train)
        rows.append((algo, "base", *measure(base, train, test), ""))
        data_rule, added = with_social(train, plan, boost=False)
        rows.append((algo, "+social interactions", *measure(model_scores(algo, data_rule), train, test),
                     f"{added} rows added (shared/listed films are rated)"))
        data_boost, boosted = with_social(train, plan, boost=True)
        rows.append((algo, "+social boost", *measure(model_scores(algo, data_boost), train, test),
                     f"{boosted} ratings weighted 1.6-1.8"))
        inner_base = model_scores(algo, inner.train)
        val = {a: measure(blend(inner_base, inner_social, a, inner.train), inner.train, inner.test)[0] for a in ALPHAS}
        best = max(ALPHAS, key=lambda a: (val[a], -a))
        rows.append((algo, f"blend a={best:g}", *measure(blend(base, social, best, train), train, test),
                     "a from validation NDCG " + ", ".join(f"{a:g}:{v:.4f}" for a, v in val.items())))
        rows.append((algo, f"blend a={FIXED_ALPHA:g} (fixed)", *measure(blend(base, social, FIXED_ALPHA, train),
                                                                     train, test), "not tuned: shown for reference"))
    print(f"{'model':<24} {'variant':<22} {'NDCG@10':>8} {'recall@10':>9}  note")
    for name, variant, ndcg, recall, note in rows:
        print(f"{name:<24} {variant:<22} {ndcg:>8.4f} {recall:>9.4f}  {note}")
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
