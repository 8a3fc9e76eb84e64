"""Recommendation algorithms: numpy / scipy / numba / implicit only; no SQL, no HTTP."""

from cinerec.algorithms.base import (
    Ranked,
    RatingPredictor,
    Reason,
    Recommender,
    RecommenderBase,
    SupportsFoldIn,
)
from cinerec.algorithms.baseline import BiasBaseline, Popularity
from cinerec.algorithms.content import ContentKNN
from cinerec.algorithms.hybrid import WeightedHybrid
from cinerec.algorithms.implicit_mf import BPR, EASE, ImplicitALS
from cinerec.algorithms.knn import ItemKNN, UserKNN
from cinerec.algorithms.mf import BayesianMF, BiasedMF, SVDpp
from cinerec.algorithms.persist import load, save

__all__ = [
    "BPR",
    "EASE",
    "BayesianMF",
    "BiasBaseline",
    "BiasedMF",
    "ContentKNN",
    "ImplicitALS",
    "ItemKNN",
    "Popularity",
    "Ranked",
    "RatingPredictor",
    "Reason",
    "Recommender",
    "RecommenderBase",
    "SVDpp",
    "SupportsFoldIn",
    "UserKNN",
    "WeightedHybrid",
    "load",
    "save",
]
