"""User queries: dataset profiles for the engine-facing pages, site accounts for members."""

from __future__ import annotations

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from cinerec.errors import Conflict, NotFound
from cinerec.store.models import Event, Movie, Rating, User
from cinerec.store.repos import aggregates, likes


def get_dataset_profile(session: Session, user_id: int) -> User:
    """A user imported from a public dataset (never a site account).

    Raises:
        NotFound: unknown id, or the id belongs to a site account.
    """
    user = session.get(User, user_id)
    if user is None or user.source is None:
        raise NotFound(f"dataset profile {user_id} does not exist")
    return user


def sample_dataset_profiles(session: Session, n: int = 12) -> list[tuple[User, int]]:
    """The dataset profiles with the most ratings, with their counts."""
    cnt = func.count(Rating.id)
    stmt = (select(User, cnt).join(Rating, Rating.user_id == User.id).where(User.source.is_not(None))
            .group_by(User.id).order_by(cnt.desc(), User.id).limit(n))
    return [(u, int(c)) for u, c in session.execute(stmt)]


def top_rated(session: Session, user_id: int, n: int = 10) -> list[tuple[Movie, float]]:
    """A user's highest-rated movies."""
    stmt = (select(Movie, Rating.value).join(Rating, Rating.movie_id == Movie.id)
            .where(Rating.user_id == user_id).order_by(Rating.value.desc(), Rating.updated_at.desc()).limit(n))
    return [(m, float(v)) for m, v in session.execute(stmt)]


def touch_history(session: Session, user_id: int) -> None:
    """Raise the member's ``history_version`` in the current transaction (their scored history changed)."""
    session.execute(update(User).where(User.id == user_id).values(history_version=User.history_version + 1))


def history(session: Session, user_id: int) -> list[tuple[int, float]]:
    """A user's current ratings as ``(movie id, rating)``, for scoring without refitting."""
    rows = session.execute(select(Rating.movie_id, Rating.value).where(Rating.user_id == user_id))
    return [(int(m), float(v)) for m, v in rows]


def create_account(session: Session, username: str, email: str | None, password_hash: str, *,
                   display_name: str | None = None, locale: str = "en", is_admin: bool = False) -> User:
    """Insert a site account (``source`` NULL) and return it.

    Raises:
        Conflict: the username or email is taken (compared case-insensitively).
    """
    taken = session.scalar(select(User.id).where(or_(func.lower(User.username) == username.lower(),
                                                     func.lower(User.email) == (email or "").lower())).limit(1))
    if taken is not None:
        raise Conflict("that username or email is already taken", details={"fields": ["username", "email"]})
    user = User(username=username, email=email, password_hash=password_hash, display_name=display_name,
                locale=locale, is_admin=is_admin, is_active=True, session_version=0)
    session.add(user)
    session.flush()
    return user


def get_account(session: Session, user_id: int) -> User | None:
    """A site account by id (``None`` for unknown ids and dataset profiles)."""
    user = session.get(User, user_id)
    return user if user is not None and user.source is None else None


def find_login(session: Session, login: str) -> User | None:
    """The site account whose username or email equals ``login`` (case-insensitive), if any."""
    key = login.lower()
    return session.scalar(select(User).where(User.source.is_(None),
                                             or_(func.lower(User.username) == key, func.lower(User.email) == key))
                          .limit(1))


def by_username(session: Session, username: str) -> User | None:
    """A member by username (case-insensitive), if any: a site account or an imported dataset profile.

    Dataset profiles (``source`` set, no password) are members of the site's
    social graph: their public ratings, followers and lists show on ``/u/NAME``
    and they can be followed; they cannot log in.
    """
    return session.scalar(select(User).where(func.lower(User.username) == username.lower()).limit(1))


def update_account(session: Session, user_id: int, **fields: object) -> None:
    """Set columns of one account (``display_name``, ``locale``, ``password_hash``, ``is_active``...)."""
    session.execute(update(User).where(User.id == user_id).values(**fields))


def bump_session_version(session: Session, user_id: int) -> None:
    """Invalidate every session of a user at once (password change, account disabled)."""
    session.execute(update(User).where(User.id == user_id).values(session_version=User.session_version + 1))


def delete_account(session: Session, user_id: int) -> None:
    """Delete an account and, through ``ON DELETE CASCADE``, its ratings, reviews, lists and sessions.

    Events keep no link to the person: their ``user_id`` is cleared explicitly
    (the foreign key says SET NULL; done here so it also holds where foreign
    keys are not enforced). The rated films' aggregates are recounted, and the
    like counts of the reviews and lists the account liked are taken down.
    """
    rated = list(session.scalars(select(Rating.movie_id).where(Rating.user_id == user_id)))
    likes.release_user(session, user_id)
    session.execute(update(Event).where(Event.user_id == user_id).values(user_id=None))
    session.execute(delete(User).where(User.id == user_id))
    aggregates.recount(session, rated)


def list_accounts(session: Session, *, limit: int, offset: int) -> tuple[list[tuple[User, int]], int]:
    """One page of site accounts (newest first, ties by id) with their rating counts, and the total."""
    total = int(session.scalar(select(func.count()).select_from(User).where(User.source.is_(None))) or 0)
    n = select(func.count(Rating.id)).where(Rating.user_id == User.id).correlate(User).scalar_subquery()
    stmt = (select(User, n).where(User.source.is_(None)).order_by(User.created_at.desc(), User.id.desc())
            .limit(limit).offset(offset))
    return [(u, int(c or 0)) for u, c in session.execute(stmt)], total
