"""Evaluation: metrics, protocols (cross-validation over splits) and reports."""

from cinerec.evaluation.metrics import (
    catalog_coverage,
    hit_rate_at_k,
    intra_list_diversity,
    mae,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    novelty,
    precision_at_k,
    recall_at_k,
    rmse,
)
from cinerec.evaluation.protocols import (
    AlgoSpec,
    Results,
    cross_validate,
    evaluate_split,
    make_splits,
)

__all__ = [
    "AlgoSpec",
    "Results",
    "catalog_coverage",
    "cross_validate",
    "evaluate_split",
    "hit_rate_at_k",
    "intra_list_diversity",
    "mae",
    "make_splits",
    "map_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "novelty",
    "precision_at_k",
    "recall_at_k",
    "rmse",
]
