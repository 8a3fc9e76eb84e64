"""Server-side login sessions: cookies for pages, bearer tokens for the API.

Only the SHA-256 hex digest of a token is ever stored or looked up; the token
itself lives in the client.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Row, delete, select, update
from sqlalchemy.orm import Session

from cinerec.store.models import AuthSession, User


def create(session: Session, user_id: int, token_hash: str, kind: str, *, session_version: int,
           now: datetime, expires_at: datetime) -> AuthSession:
    """Record a new session for ``user_id`` under ``token_hash`` and return it."""
    row = AuthSession(token_hash=token_hash, user_id=user_id, kind=kind, session_version=session_version,
                      created_at=now, last_seen_at=now, expires_at=expires_at)
    session.add(row)
    session.flush()
    return row


def find_valid(session: Session, token_hash: str, now: datetime) -> Row[int, str, int, str, bool, str, int] | None:
    """The live session with this token hash, as one row of what a request needs, or ``None``.

    Live means: not revoked, not expired, the user active and the session's
    version equal to the user's current ``session_version``. The row holds
    ``session_id``, ``kind``, ``user_id``, ``username``, ``is_admin``,
    ``locale`` and ``history_version``: plain columns, no ORM objects (this
    runs on every authenticated request).
    """
    return session.execute(
        select(AuthSession.id.label("session_id"), AuthSession.kind, User.id.label("user_id"), User.username,
               User.is_admin, User.locale, User.history_version)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.token_hash == token_hash, AuthSession.revoked_at.is_(None),
               AuthSession.expires_at > now, AuthSession.session_version == User.session_version,
               User.is_active.is_(True))).first()


def touch(session: Session, session_id: int, now: datetime) -> None:
    """Record that a session was used (``last_seen_at``)."""
    session.execute(update(AuthSession).where(AuthSession.id == session_id).values(last_seen_at=now))


def revoke(session: Session, token_hash: str, now: datetime) -> bool:
    """Revoke one session by token hash; returns whether a live one was revoked."""
    result = session.execute(update(AuthSession).where(AuthSession.token_hash == token_hash,
                                                       AuthSession.revoked_at.is_(None)).values(revoked_at=now))
    return bool(getattr(result, "rowcount", 0))


def revoke_all(session: Session, user_id: int, now: datetime) -> None:
    """Revoke every session of a user."""
    session.execute(update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
                    .values(revoked_at=now))


def purge_expired(session: Session, before: datetime) -> int:
    """Delete sessions that expired or were revoked before ``before``; returns how many."""
    result = session.execute(delete(AuthSession).where((AuthSession.expires_at < before)
                                                       | (AuthSession.revoked_at < before)))
    return int(getattr(result, "rowcount", 0) or 0)
