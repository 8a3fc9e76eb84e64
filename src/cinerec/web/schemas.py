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
    #: how many members like the review
    like_count: int = 0


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


class EventIn(BaseModel):
    """An interaction the client reports: a click on a recommended film."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["click"]
    movie_id: Annotated[int, Field(strict=True, ge=1, le=2**31 - 1)]
    position: Annotated[int | None, Field(strict=True, ge=0, le=999,
                                          description="0-based place of the film in the list")] = None


class ExperimentTagOut(BaseModel):
    """The A/B experiment a list was served under, and the caller's variant in it."""

    name: str
    variant: str


class RecommendationsOut(BaseModel):
    """A recommendation list and the model version that produced it.

    ``experiment`` is present while the caller is in a running A/B
    experiment: ``model_version`` is then their variant's.
    """

    model_version: str
    algo: str
    strategy: str
    data: list[RecommendationOut]
    count: int
    experiment: ExperimentTagOut | None = None


class ModelOut(BaseModel):
    """A published model version."""

    version: str
    algo: str
    created_at: str
    active: bool = False


class RetrainRunOut(BaseModel):
    """One run of the retraining worker (``cinerec worker``), from its run log."""

    id: str
    started_at: str | None = None
    ended_at: str | None = None
    trigger: str | None = None
    outcome: str = Field(description="activated, rejected, failed, skipped, running or interrupted")
    algo: str | None = None
    version: str | None = Field(default=None, description="the candidate version it published")
    seconds: float | None = None
    reason: str | None = Field(default=None, description="why the candidate was activated or set aside")
    error: str | None = None
    candidate_ndcg: float | None = Field(default=None, description="the candidate's holdout NDCG@10")
    active_ndcg: float | None = Field(default=None, description="the active model's holdout NDCG@10 on the same rows")


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
    #: why a failed job failed (the command's error line), e.g. a training refused for lack of memory
    error: str | None = None
    started_at: UtcDatetime


# --- sharing: follows, blocks, shares, lists, likes, feed, notifications (bodies forbid unknown fields) ---

#: A database id in a body: a JSON integer (no strings, no booleans) from 1.
BodyId = Annotated[int, Field(strict=True, ge=1, le=2**31 - 1)]
#: A note on a share or a list item (at most 1000 characters).
Note = Annotated[CleanStr, Field(max_length=1000)]


class MemberOut(BaseModel):
    """A member as other members see them: username and display name."""

    username: str
    display_name: str | None


class FollowOut(BaseModel):
    """The caller's follow of a member after a change."""

    username: str
    following: bool
    changed: bool


class BlockOut(BaseModel):
    """The caller's block of a member after a change."""

    username: str
    blocked: bool
    changed: bool


class ShareIn(In):
    """Share a film (``movie_id``) or a public list (``list_id``): exactly one of the two."""

    movie_id: BodyId | None = None
    list_id: BodyId | None = None
    note: Note | None = None
    audience: Literal["followers", "public"] = "followers"


class ListSummaryOut(BaseModel):
    """A list without its films."""

    id: int
    owner: MemberOut
    title: str
    description: str | None
    public: bool
    item_count: int
    like_count: int
    created_at: UtcDatetime
    updated_at: UtcDatetime


class ShareOut(BaseModel):
    """A share; ``url`` is the public link (``/s/{token}``), only for ``audience`` ``public``."""

    id: int
    audience: Literal["followers", "public"]
    note: str | None
    url: str | None
    created_at: UtcDatetime
    revoked_at: UtcDatetime | None
    sharer: MemberOut
    movie: MovieOut | None
    list: ListSummaryOut | None


class ListIn(In):
    """A new list."""

    title: Annotated[CleanStr, Field(min_length=1, max_length=200)]
    description: Annotated[CleanStr | None, Field(max_length=5000)] = None
    public: Annotated[bool, Field(strict=True)] = True


class ListPatchIn(In):
    """Changes to a list; a field left out (or null) stays as it is, ``description: ""`` clears it."""

    title: Annotated[CleanStr | None, Field(min_length=1, max_length=200)] = None
    description: Annotated[CleanStr | None, Field(max_length=5000)] = None
    public: Annotated[bool | None, Field(strict=True)] = None


class ListItemIn(In):
    """Where a film goes on a list and its note; both optional.

    ``position`` 0 is first; past the end means last; left out, a new film goes
    last and a film already there stays. ``note`` replaces the note (``""``
    clears it; left out keeps it).
    """

    note: Note | None = None
    position: Annotated[int | None, Field(strict=True, ge=0, le=10_000)] = None


class ListEntryOut(BaseModel):
    """A film on a list with its place (0 first) and note."""

    movie: MovieOut
    position: int
    note: str | None
    added_at: UtcDatetime


class ListDetailOut(ListSummaryOut):
    """A list with its films in order and whether the caller likes it."""

    items: list[ListEntryOut]
    liked: bool


class LikeOut(BaseModel):
    """Whether the caller likes the review or list now, and its like count."""

    liked: bool
    like_count: int


class FriendRatingOut(BaseModel):
    """A rating of the film by somebody the caller follows."""

    member: MemberOut
    rating: float
    rated_at: UtcDatetime


class FeedReviewOut(BaseModel):
    """A review in the feed: the start of its text (at most 280 characters)."""

    id: int
    excerpt: str
    like_count: int


class FeedShareOut(BaseModel):
    """A share in the feed; ``url`` only for a public link."""

    id: int
    note: str | None
    audience: Literal["followers", "public"]
    url: str | None


class FeedListOut(BaseModel):
    """A list in the feed."""

    id: int
    title: str
    item_count: int


class FeedItemOut(BaseModel):
    """One thing somebody the caller follows did (``kind``: rate, review, share, list, like_review, like_list)."""

    id: int
    kind: str
    actor: MemberOut
    created_at: UtcDatetime
    movie: MovieOut | None
    rating: float | None
    review: FeedReviewOut | None
    share: FeedShareOut | None
    list: FeedListOut | None


class FeedOut(BaseModel):
    """A page of the feed; pass ``next_cursor`` as ``cursor`` for the next page (``null``: no more)."""

    data: list[FeedItemOut]
    next_cursor: int | None


class NotificationListOut(BaseModel):
    """The list a notification is about."""

    id: int
    title: str


class NotificationOut(BaseModel):
    """A notice (``kind``: follow, like_review, like_list, share)."""

    id: int
    kind: Literal["follow", "like_review", "like_list", "share"]
    actor: MemberOut
    created_at: UtcDatetime
    read: bool
    movie: MovieOut | None
    review_id: int | None
    list: NotificationListOut | None
    share_id: int | None
    share_url: str | None


class NotificationsOut(BaseModel):
    """A page of notices, the unread count, and ``next_cursor`` to pass as ``before`` (``null``: no more)."""

    data: list[NotificationOut]
    unread: int
    next_cursor: int | None


class NotificationsReadIn(In):
    """Mark notices read: those with id up to ``up_to_id``, or all of them when it is left out."""

    up_to_id: Annotated[int | None, Field(strict=True, ge=1, le=2**63 - 1)] = None


class NotificationsReadOut(BaseModel):
    """How many notices were marked read and how many stay unread."""

    marked: int
    unread: int


class SharedFilmOut(BaseModel):
    """A film the caller and a suggested member both rated 4★ or more."""

    id: int
    title: str
    year: int | None


class SuggestedMemberOut(BaseModel):
    """A member with the caller's taste, to follow.

    ``shared_likes`` counts the films both rated 4★ or more (0 when the member
    is suggested for being much followed); ``examples`` are a few of them,
    best-loved by both first; ``score`` is the damped score documented in
    ``cinerec.service.social_signals``.
    """

    member: MemberOut
    shared_likes: int
    examples: list[SharedFilmOut]
    followers: int
    score: float


# --- A/B experiments (admin) ---

ExperimentName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
MetricName = Literal["ctr", "rating", "watchlist", "share_rate"]


class VariantIn(In):
    """A variant: a name, the registered model version it serves, its relative share of members, a re-ranking."""

    name: ExperimentName
    model_version: ExperimentName
    weight: Annotated[float, Field(strict=True, gt=0, le=1000, allow_inf_nan=False)] = 1.0
    diversity: Annotated[float | None, Field(strict=True, ge=0, le=1, allow_inf_nan=False,
                                             description="re-rank the model's top films by MMR with this "
                                                         "relevance weight (1: the model's order; none: off)")] = None


class ExperimentIn(In):
    """A new experiment (created as a draft: ``POST .../start`` opens it to members). The first variant is the control."""

    name: ExperimentName
    metric: MetricName = "ctr"
    traffic: Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)] = 1.0
    variants: Annotated[list[VariantIn], Field(min_length=2, max_length=8)]
    guardrails: Annotated[list[MetricName], Field(max_length=4)] = []
    min_sample: Annotated[int | None, Field(strict=True, ge=1, le=100_000_000)] = None
    window_days: Annotated[float, Field(strict=True, gt=0, le=90, allow_inf_nan=False)] = 7.0


class RampIn(In):
    """The new fraction of members in the experiment."""

    traffic: Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]


class VariantSpecOut(BaseModel):
    """A variant as stored (weights normalised to sum to 1; ``diversity``: its MMR re-ranking, if any)."""

    name: str
    model_version: str
    weight: float
    diversity: float | None = None


class ExperimentOut(BaseModel):
    """An experiment; ``serving`` says whether this server process is serving it right now."""

    name: str
    status: Literal["draft", "running", "stopped"]
    metric: MetricName
    traffic: float
    variants: list[VariantSpecOut]
    guardrails: list[MetricName]
    min_sample: int | None
    window_days: float
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    stopped_at: UtcDatetime | None
    serving: bool


class VariantReportOut(BaseModel):
    """One variant's totals.

    ``users``: members exposed at least once; ``impressions``: films shown;
    ``clicks``: clicks on recommended films; ``ctr``: clicks per impression.
    Per-member rates: ``click_rate``, ``rating_rate``, ``watchlist`` and
    ``share_rate`` (share of ``users`` who clicked, rated, watchlisted or
    shared a recommended film within the window); ``rating``: mean of the
    members' ratings of recommended films (over ``rating_members``).
    """

    name: str
    model_version: str
    weight: float
    users: int
    impressions: int
    clicks: int
    ctr: float | None
    click_rate: float | None
    rating_rate: float | None
    watchlist: float | None
    share_rate: float | None
    rating: float | None
    rating_members: int


class ComparisonOut(BaseModel):
    """A metric of one variant against the control: lifts with intervals, p-values and the decision.

    ``sequential_p`` is the always-valid p-value (safe to read at every
    peek); ``decision`` uses it: ``better``/``worse`` below ``alpha``,
    ``inconclusive`` above, ``collecting`` before ``min_sample``, ``null``
    when the verdict is hidden (sample ratio mismatch) or not computable yet.
    """

    metric: MetricName
    variant: str
    control: str
    test: str
    control_value: float | None
    value: float | None
    abs_lift: float | None
    abs_ci: tuple[float, float] | None
    rel_lift: float | None
    rel_ci: tuple[float, float] | None
    p_value: float | None
    sequential_p: float | None
    decision: Literal["better", "worse", "inconclusive", "collecting"] | None


class PeekOut(BaseModel):
    """The primary metric of a variant at the end of a day since the start, with its interval."""

    day: int
    at: UtcDatetime
    variant: str
    users: int
    conversions: int
    value: float | None
    low: float | None
    high: float | None


class PeekTestOut(BaseModel):
    """A variant against the control at a daily peek: the fixed-horizon p-value and the always-valid one."""

    day: int
    variant: str
    p_value: float | None
    sequential_p: float


class CupedOut(BaseModel):
    """The primary conversion's effect adjusted with pre-experiment activity (CUPED), next to the raw one."""

    variant: str
    effect: float
    ci: tuple[float, float]
    raw_effect: float
    variance_reduction: float


class ExperimentReportOut(BaseModel):
    """An experiment's report (see ``cinerec experiment report``)."""

    name: str
    status: Literal["draft", "running", "stopped"]
    metric: MetricName
    traffic: float
    started_at: UtcDatetime | None
    stopped_at: UtcDatetime | None
    window_days: float
    users: int
    variants: list[VariantReportOut]
    srm_p_value: float | None
    srm_flagged: bool
    hidden_reason: str | None
    ready: bool
    min_sample: int | None
    alpha: float
    mde: float
    sample_size_per_variant: int | None
    sample_size_sequential: int | None
    comparisons: list[ComparisonOut]
    guardrails: list[ComparisonOut]
    harmed_guardrails: list[str]
    cuped: list[CupedOut]
    series: list[PeekOut]
    tests: list[PeekTestOut]
