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
from cinerec.algorithms.implicit_mf import BPR, ImplicitALS
from cinerec.algorithms.item_item import EASE, SLIM, RP3beta
from cinerec.algorithms.knn import ItemKNN, UserKNN
from cinerec.algorithms.mf import BayesianMF, BiasedMF, SVDpp
from cinerec.algorithms.persist import load, save

__all__ = [
    "BPR",
    "EASE",
    "SLIM",
    "BayesianMF",
    "BiasBaseline",
    "BiasedMF",
    "ContentKNN",
    "ImplicitALS",
    "ItemKNN",
    "Popularity",
    "RP3beta",
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
