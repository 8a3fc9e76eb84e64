"""Pydantic schemas of the HTTP API (``*Out`` for responses, ``*In`` for bodies)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

T = TypeVar("T")


def _as_utc(value: datetime) -> datetime:
    """Timestamps are stored in UTC; SQLite hands them back without their offset, so put it back."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


#: A timestamp as the API sends it: RFC 3339 with its UTC offset (``date-time`` in the OpenAPI schema).
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


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
    poster_url: str | None = None
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
    created_at: UtcDatetime


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
    #: the member a social reason names (``shared_by``, ``following``)
    username: str | None = None
    #: how many people the member follows count for a ``following`` reason
    count: int | None = None


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


# --- members: accounts, ratings, lists, reviews, admin (bodies forbid unknown fields) ---------------


def _no_control_chars(value: str) -> str:
    """Refuse control characters (NUL and the like) in a text field; newlines and tabs are allowed."""
    if any(unicodedata.category(c) == "Cc" and c not in "\n\r\t" for c in value):
        raise ValueError("control characters are not allowed")
    return value


#: A text field without control characters.
CleanStr = Annotated[str, AfterValidator(_no_control_chars)]
#: A star rating: 0.5 to 5 in halves; strings, booleans, NaN and infinities are refused.
Stars = Annotated[float, Field(strict=True, ge=0.5, le=5.0, multiple_of=0.5, allow_inf_nan=False,
                               description="0.5 to 5 in steps of 0.5")]


class In(BaseModel):
    """Base of request bodies: unknown fields are a 422 (no mass assignment)."""

    model_config = ConfigDict(extra="forbid")


class SignupIn(In):
    """A new account."""

    username: Annotated[CleanStr, Field(min_length=3, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]+$")]
    email: Annotated[CleanStr, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    display_name: Annotated[CleanStr | None, Field(max_length=100)] = None
    locale: Literal["en", "zh_CN"] = "en"


class TokenIn(In):
    """Credentials for a bearer token (``username`` may also be the email)."""

    username: Annotated[CleanStr, Field(min_length=1, max_length=254)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class TokenOut(BaseModel):
    """A bearer token (OAuth2 password-flow shape)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: UtcDatetime


class CsrfOut(BaseModel):
    """The CSRF token of the session just opened (send it as ``csrf_token`` or ``X-CSRF-Token``)."""

    csrf_token: str


class AccountOut(BaseModel):
    """The caller's own account."""

    id: int
    username: str
    email: str | None
    display_name: str | None
    locale: str
    is_admin: bool
    created_at: UtcDatetime


class AccountPatchIn(In):
    """Changes to the caller's account; a password change needs the current password and ends every session."""

    display_name: Annotated[CleanStr | None, Field(max_length=100)] = None
    locale: Literal["en", "zh_CN"] | None = None
    current_password: Annotated[str | None, Field(max_length=1024)] = None
    new_password: Annotated[str | None, Field(min_length=1, max_length=1024)] = None


class PasswordConfirmIn(In):
    """The caller's password, to confirm deleting the account."""

    password: Annotated[str, Field(min_length=1, max_length=1024)]


class RatingIn(In):
    """A star rating."""

    rating: Stars


class RatingOut(BaseModel):
    """The caller's rating of a film."""

    movie_id: int
    rating: float
    updated_at: UtcDatetime


class RatedMovieOut(BaseModel):
    """A film with a member's rating."""

    movie: MovieOut
    rating: float
    updated_at: UtcDatetime


class ListedMovieOut(BaseModel):
    """A film on a member's watchlist or watched list, with when it was added."""

    movie: MovieOut
    added_at: UtcDatetime


class ListMarkOut(BaseModel):
    """The state of a watchlist or watched mark after a change."""

    movie_id: int
    list: Literal["watchlist", "watched"]
    on_list: bool
    changed: bool


class ReviewIn(In):
    """A new review, optionally with a star rating."""

    text: Annotated[CleanStr, Field(min_length=1, max_length=50_000)]
    rating: Stars | None = None


class ReviewPatchIn(In):
    """New text for a review."""

    text: Annotated[CleanStr, Field(min_length=1, max_length=50_000)]


class MemberReviewOut(BaseModel):
    """A review with its film."""

    review: ReviewOut
    movie: MovieOut


class PublicProfileOut(BaseModel):
    """A member's public profile: never an email, password hash or role."""

    username: str
    display_name: str | None
    joined: UtcDatetime
    n_ratings: int
    n_reviews: int
    ratings: list[RatedMovieOut]
    reviews: list[MemberReviewOut]


class TrainIn(In):
    """Train a model version from the database in a background job."""

    algo: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")] = "implicit-als"
    params: Annotated[dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$")], float | int | bool | str],
                      Field(max_length=32)] = {}
    activate: bool = True


class JobOut(BaseModel):
    """A background job (training, import) and where its log is written."""

    id: str
    kind: Literal["train", "import"]
    status: Literal["running", "succeeded", "failed"]
    exit_code: int | None = None
    started_at: UtcDatetime
