"""The relational data model (SQLAlchemy 2, typed declarative mapping).

Dataset rows are keyed by ``(source, source_id)`` so re-importing a dataset
updates in place; rows people create on the site have ``source = NULL``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Bounds of a star rating stored in the database.
RATING_MIN, RATING_MAX = 0.5, 5.0


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention (stable migrations)."""

    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    """A person with an account, or a profile imported from a dataset (no password)."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("source", "source_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(100))
    locale: Mapped[str] = mapped_column(String(16), default="en")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    session_version: Mapped[int] = mapped_column(Integer, default=0)
    #: Raised with every change the member makes to what their recommendations come from (ratings, watched and
    #: wanted films, follows; :func:`cinerec.store.repos.users.touch_history`): cached lists are keyed by it.
    history_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    source: Mapped[str | None] = mapped_column(String(64))
    source_id: Mapped[str | None] = mapped_column(String(64))


class Movie(Base):
    """A film. ``title`` is never a key: ids are."""

    __tablename__ = "movies"
    __table_args__ = (UniqueConstraint("source", "source_id"), Index("ix_movies_title", "title"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    year: Mapped[int | None] = mapped_column(SmallInteger, index=True)
    #: First release (TMDB's ``release_date``); ``None`` when no source gave one.
    release_date: Mapped[date | None] = mapped_column(Date)
    overview: Mapped[str | None] = mapped_column(Text)
    runtime: Mapped[int | None] = mapped_column(SmallInteger)
    poster_url: Mapped[str | None] = mapped_column(String(500))
    imdb_id: Mapped[str | None] = mapped_column(String(16), index=True)
    tmdb_id: Mapped[int | None] = mapped_column(Integer, index=True)
    source: Mapped[str | None] = mapped_column(String(64))
    source_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: A stand-in ("Item 1234") created for a ratings-only file's unknown id: hide it or enrich it.
    is_placeholder: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    genres: Mapped[list[Genre]] = relationship(secondary="movie_genres", lazy="selectin", order_by="Genre.name")


class Genre(Base):
    """A genre name from the canonical vocabulary."""

    __tablename__ = "genres"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)


class MovieGenre(Base):
    """Association of movies and genres."""

    __tablename__ = "movie_genres"

    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True)
    genre_id: Mapped[int] = mapped_column(ForeignKey("genres.id", ondelete="CASCADE"), primary_key=True, index=True)


class Person(Base):
    """A director, writer or cast member."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    tmdb_id: Mapped[int | None] = mapped_column(Integer, unique=True)


class Credit(Base):
    """A person's role on a film: ``director``, ``writer`` or ``cast`` (with billing order)."""

    __tablename__ = "credits"
    __table_args__ = (
        UniqueConstraint("movie_id", "person_id", "role"),
        CheckConstraint("role IN ('director', 'writer', 'cast')", name="role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    character: Mapped[str | None] = mapped_column(String(200))
    order: Mapped[int | None] = mapped_column(SmallInteger)


class Tag(Base):
    """A free-text tag a user put on a film."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("user_id", "movie_id", "tag"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), index=True)
    tag: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Rating(Base):
    """One star rating per user and film (0.5-5 in half steps)."""

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("user_id", "movie_id"),
        CheckConstraint(f"value >= {RATING_MIN} AND value <= {RATING_MAX}", name="value_range"),
        Index("ix_ratings_movie_id", "movie_id"),
        Index("ix_ratings_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"))
    value: Mapped[float] = mapped_column(Float)
    #: The value on the dataset's own scale (see :class:`RatingScale`); ``NULL`` for ratings made on the site.
    source_value: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RatingScale(Base):
    """An imported dataset's own rating scale and how its values became stars.

    ``ratings.value`` always holds stars (0.5-5). A dataset whose scale lies
    within 0.5-5 (MovieLens 1-5 or 0.5-5, FilmTrust 0.5-4) is stored as it is
    (``mapping = 'identity'``); any other scale (MovieTweetings 0-10) is mapped
    linearly, ``stars = 0.5 + 4.5 * (value - low) / (high - low)``
    (``mapping = 'linear'``). The original value is kept in
    ``ratings.source_value``.
    """

    __tablename__ = "rating_scales"
    __table_args__ = (
        CheckConstraint("mapping IN ('identity', 'linear')", name="mapping"),
        CheckConstraint("high >= low", name="bounds"),
    )

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    low: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    step: Mapped[float | None] = mapped_column(Float)
    mapping: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Review(Base):
    """A written review; sentiment is filled in by the NLP pipeline."""

    __tablename__ = "reviews"
    __table_args__ = (
        Index("ix_reviews_movie_id", "movie_id"),
        Index("ix_reviews_user_id", "user_id"),
        CheckConstraint("visibility IN ('public', 'followers', 'private', 'draft')", name="visibility"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(8))
    sentiment: Mapped[float | None] = mapped_column(Float)
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    like_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Share(Base):
    """A film or a list shared with a note, to followers or through an unguessable public link.

    Exactly one of ``movie_id`` and ``list_id`` is set. A public share has a
    ``token`` (``secrets.token_urlsafe(32)``: 256 bits) that opens ``/s/{token}``
    for anybody; ``revoked_at`` set means the sharer withdrew it (the link then
    answers 410 and the share leaves feeds).
    """

    __tablename__ = "shares"
    __table_args__ = (
        CheckConstraint("audience IN ('followers', 'public')", name="audience"),
        CheckConstraint("(movie_id IS NULL) <> (list_id IS NULL)", name="one_target"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    movie_id: Mapped[int | None] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), index=True)
    list_id: Mapped[int | None] = mapped_column(ForeignKey("movie_lists.id", ondelete="CASCADE"), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(16), default="followers")
    token: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MovieList(Base):
    """A member's named, ordered list of films (Letterboxd lists, Douban 豆列).

    A private list (``is_public`` false) exists only for its owner: anybody
    else gets 404 by id and never sees it in search, profiles or feeds.
    ``item_count`` and ``like_count`` are kept by the writers in the same
    transaction (pages never count rows per request).
    """

    __tablename__ = "movie_lists"
    __table_args__ = (Index("ix_movie_lists_public_updated", "is_public", "updated_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    item_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    like_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ListItem(Base):
    """A film on a list, at ``position`` (0 first), with the owner's note about it."""

    __tablename__ = "list_items"
    __table_args__ = (Index("ix_list_items_list_position", "list_id", "position"),)

    list_id: Mapped[int] = mapped_column(ForeignKey("movie_lists.id", ondelete="CASCADE"), primary_key=True)
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewLike(Base):
    """``user`` likes a review (the review's ``like_count`` is kept with it)."""

    __tablename__ = "review_likes"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ListLike(Base):
    """``user`` likes a list (the list's ``like_count`` is kept with it)."""

    __tablename__ = "list_likes"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("movie_lists.id", ondelete="CASCADE"), primary_key=True,
                                         index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Block(Base):
    """``blocker`` blocked ``blocked``: no follows between them, no likes, nothing of the blocked in my feed."""

    __tablename__ = "blocks"
    __table_args__ = (CheckConstraint("blocker_id != blocked_id", name="not_self"),)

    blocker_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    blocked_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Notification(Base):
    """An in-site notice for ``user``: ``actor`` followed them, liked their review or list, or shared a film.

    ``kind`` is ``follow``, ``like_review`` (``review_id``), ``like_list``
    (``list_id``) or ``share`` (``share_id``; written for each follower of the
    sharer when a film or list is shared). ``read_at`` is set when the member
    has seen it. ``ix_notifications_user_unread`` leads the unread count of
    every page's navigation straight to the member's unread notices, however
    many read ones they keep.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_id_id", "user_id", "id"),
        Index("ix_notifications_user_unread", "user_id", "read_at", "id"),
        CheckConstraint("kind IN ('follow', 'like_review', 'like_list', 'share')", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    review_id: Mapped[int | None] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    list_id: Mapped[int | None] = mapped_column(ForeignKey("movie_lists.id", ondelete="CASCADE"), index=True)
    share_id: Mapped[int | None] = mapped_column(ForeignKey("shares.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Follow(Base):
    """``follower`` follows ``followee``."""

    __tablename__ = "follows"
    __table_args__ = (CheckConstraint("follower_id != followee_id", name="not_self"),)

    follower_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    followee_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WatchlistItem(Base):
    """A film on a user's watchlist."""

    __tablename__ = "watchlist"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WatchedItem(Base):
    """A film a member marked as watched (Douban's 看过, Letterboxd's diary without a date field)."""

    __tablename__ = "watched"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuthSession(Base):
    """A server-side login session: a browser cookie or an API bearer token.

    Only the SHA-256 of the token is stored, so a database leak reveals no
    usable token. A session is valid while it is not revoked, not expired and
    its ``session_version`` equals the user's (bumped at password change and
    account disable, which ends every session of the user at once).
    """

    __tablename__ = "auth_sessions"
    __table_args__ = (
        CheckConstraint("kind IN ('cookie', 'bearer')", name="kind"),
        Index("ix_auth_sessions_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    session_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


#: Kinds an ``events`` row may have (the table's check constraint).
EVENT_KINDS: tuple[str, ...] = ("impression", "click", "rate", "review", "share", "watchlist", "watched",
                                "list", "like_review", "like_list", "follow")


class Event(Base):
    """One member action or experiment record, append-only: the source of feeds, real-time updates and A/B analysis.

    ``kind`` is one of :data:`EVENT_KINDS`; ``experiment``/``variant``/
    ``model_version``/``position`` record what was shown. Member actions store
    in ``value``: the new rating (``NULL`` when removed), the review's sentiment
    (``NULL`` when deleted), 1/0 for a watchlist or watched mark, a share, a
    like or a follow set/removed, 1 for a list created or changed. ``object_id``
    names the object acted on: the review (``review``, ``like_review``), the
    share (``share``), the list (``list``, ``like_list``) or the followed member
    (``follow``). Ids grow with insertion, so ``id`` is the feed's cursor.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_user_created", "user_id", "created_at"),
        Index("ix_events_user_id_id", "user_id", "id"),
        Index("ix_events_experiment_variant", "experiment", "variant"),
        CheckConstraint("kind IN (" + ", ".join(f"'{k}'" for k in EVENT_KINDS) + ")", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    movie_id: Mapped[int | None] = mapped_column(ForeignKey("movies.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[int | None] = mapped_column(Integer)
    experiment: Mapped[str | None] = mapped_column(String(64))
    variant: Mapped[str | None] = mapped_column(String(64))
    model_version: Mapped[str | None] = mapped_column(String(64))
    position: Mapped[int | None] = mapped_column(SmallInteger)
    value: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ImportRun(Base):
    """An audit record of one completed dataset import."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(String(1000))
    format: Mapped[str] = mapped_column(String(16))
    counts: Mapped[dict[str, int]] = mapped_column(JSON)
    rejected: Mapped[dict[str, int]] = mapped_column(JSON)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MovieKeyword(Base):
    """A keyword of a film from its reviews (``polarity``: all reviews, positive or negative ones)."""

    __tablename__ = "movie_keywords"
    __table_args__ = (
        CheckConstraint("polarity IN ('all', 'positive', 'negative')", name="polarity"),
        UniqueConstraint("movie_id", "polarity", "term"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), index=True)
    polarity: Mapped[str] = mapped_column(String(8))
    term: Mapped[str] = mapped_column(String(100))
    weight: Mapped[float] = mapped_column(Float)


#: Half-star histogram bins of :class:`MovieStats`: ``stars_05`` counts 0.5★ ratings ... ``stars_50`` 5★.
STAR_BINS: tuple[str, ...] = tuple(f"stars_{b:02d}" for b in range(5, 51, 5))


class MovieStats(Base):
    """Per-film rating aggregates, kept equal to a recount of ``ratings``.

    Every rating write updates the row in the writer's transaction
    (:func:`cinerec.store.repos.aggregates.apply_rating_change`); bulk imports
    rebuild the table (:func:`cinerec.store.repos.aggregates.rebuild`). The
    catalogue reads counts, means and histograms from here instead of
    aggregating ``ratings`` per request. A rating that is not a half-star
    multiple counts in the next half-star bin up.
    """

    __tablename__ = "movie_stats"
    __table_args__ = (Index("ix_movie_stats_n_ratings", "n_ratings"),)

    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True)
    n_ratings: Mapped[int] = mapped_column(Integer, default=0)
    rating_sum: Mapped[float] = mapped_column(Float, default=0.0)
    stars_05: Mapped[int] = mapped_column(Integer, default=0)
    stars_10: Mapped[int] = mapped_column(Integer, default=0)
    stars_15: Mapped[int] = mapped_column(Integer, default=0)
    stars_20: Mapped[int] = mapped_column(Integer, default=0)
    stars_25: Mapped[int] = mapped_column(Integer, default=0)
    stars_30: Mapped[int] = mapped_column(Integer, default=0)
    stars_35: Mapped[int] = mapped_column(Integer, default=0)
    stars_40: Mapped[int] = mapped_column(Integer, default=0)
    stars_45: Mapped[int] = mapped_column(Integer, default=0)
    stars_50: Mapped[int] = mapped_column(Integer, default=0)


#: The life of an experiment: ``draft`` (created, nobody assigned), ``running``, ``stopped``.
EXPERIMENT_STATUSES: tuple[str, ...] = ("draft", "running", "stopped")


class Experiment(Base):
    """An A/B experiment between recommenders: its assignment seed, traffic, variants and life.

    ``variants`` is a JSON list of ``{"name", "model_version", "weight"}`` in
    assignment order (the order decides each variant's bucket range, so it
    never changes once the experiment runs). ``traffic`` is the fraction of
    members in the experiment; ``metric`` the primary metric of its report,
    ``guardrails`` metrics that must not get worse; ``min_sample`` the members
    per variant before a decision is shown; ``window_days`` how long after a
    member's first exposure an outcome is attributed to it.
    """

    __tablename__ = "experiments"
    __table_args__ = (
        UniqueConstraint("name"),
        CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in EXPERIMENT_STATUSES) + ")", name="status"),
        CheckConstraint("traffic >= 0 AND traffic <= 1", name="traffic"),
        CheckConstraint("window_days > 0 AND window_days <= 90", name="window_days"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    seed: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(32))
    traffic: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    variants: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    guardrails: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    min_sample: Mapped[int | None] = mapped_column(Integer)
    window_days: Mapped[float] = mapped_column(Float, default=7.0, server_default="7")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ExperimentExposure(Base):
    """A member's first exposure to an experiment: one row per member per experiment.

    ``items`` is the JSON list of the movie ids shown, in order (a film's
    position is its index). ``created_at`` is when the list was served, the
    start of the window in which outcomes are attributed to the exposure.
    """

    __tablename__ = "experiment_exposures"
    __table_args__ = (
        UniqueConstraint("experiment_id", "user_id"),
        Index("ix_experiment_exposures_experiment_variant", "experiment_id", "variant"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    variant: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    items: Mapped[list[int]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
