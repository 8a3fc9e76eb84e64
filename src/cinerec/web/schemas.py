"""Pydantic schemas of the HTTP API (``*Out`` for responses, ``*In`` for bodies)."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class ListOut(BaseModel, Generic[T]):
    """The list envelope: a page of ``data`` and the total ``count``."""

    data: list[T]
    count: int


class MovieOut(BaseModel):
    """A movie as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    year: int | None
    genres: list[str]
    imdb_id: str | None = None
    tmdb_id: int | None = None
    n_ratings: int = 0
    mean_rating: float | None = None


class ReviewOut(BaseModel):
    """A public review with its detected language and sentiment (-1..1)."""

    id: int
    movie_id: int
    author: str
    text: str
    language: str | None
    sentiment: float | None
    created_at: datetime


class KeywordOut(BaseModel):
    """A keyword of a film's reviews and its TF-IDF weight."""

    term: str
    weight: float


class InsightsOut(BaseModel):
    """What a film's audience says: review sentiment and keywords (all, praised, criticised)."""

    movie_id: int
    n_reviews: int
    n_scored: int
    mean_sentiment: float | None
    positive_share: float
    negative_share: float
    keywords: list[KeywordOut]
    positive_keywords: list[KeywordOut]
    negative_keywords: list[KeywordOut]


class ReasonOut(BaseModel):
    """Why a movie was recommended."""

    kind: str
    text: str
    weight: float
    movie_id: int | None = None
    movie_title: str | None = None
    rating: float | None = None


class RecommendationOut(BaseModel):
    """One recommended movie."""

    movie: MovieOut
    score: float
    reasons: list[ReasonOut]


class RecommendationsOut(BaseModel):
    """A recommendation list and the model version that produced it."""

    model_version: str
    algo: str
    strategy: str
    data: list[RecommendationOut]
    count: int


class ModelOut(BaseModel):
    """A published model version."""

    version: str
    algo: str
    created_at: str
    active: bool = False


class ErrorBody(BaseModel):
    """The error envelope's inner object."""

    code: str
    message: str
    details: dict[str, object] = {}


class ErrorOut(BaseModel):
    """Every error response: ``{"error": {"code", "message", "details"}}``."""

    error: ErrorBody
