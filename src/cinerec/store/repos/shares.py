"""Shares of films and lists: the ``shares`` table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cinerec.store.models import Share


def create(session: Session, user_id: int, *, movie_id: int | None, list_id: int | None, note: str | None,
           audience: str, token: str | None, now: datetime) -> Share:
    """Insert one share (checked by the caller) and return it with its id."""
    share = Share(user_id=user_id, movie_id=movie_id, list_id=list_id, note=note, audience=audience, token=token,
                  created_at=now)
    session.add(share)
    session.flush()
    return share


def get(session: Session, share_id: int) -> Share | None:
    """One share by id, if it exists."""
    return session.get(Share, share_id)


def by_token(session: Session, token: str) -> Share | None:
    """The share of a public link (unique index on ``token``), if any."""
    return session.scalar(select(Share).where(Share.token == token).limit(1))


def revoke(session: Session, share_id: int, now: datetime) -> bool:
    """Mark a share revoked (the first revocation time is kept); returns whether it was live."""
    result = session.execute(update(Share).where(Share.id == share_id, Share.revoked_at.is_(None))
                             .values(revoked_at=now))
    return bool(getattr(result, "rowcount", 0))


def of_user(session: Session, user_id: int, *, limit: int, offset: int) -> tuple[list[Share], int]:
    """One page of a member's shares (revoked ones too), newest first, and their number."""
    total = int(session.scalar(select(func.count()).select_from(Share).where(Share.user_id == user_id)) or 0)
    rows = session.scalars(select(Share).where(Share.user_id == user_id)
                           .order_by(Share.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def by_ids(session: Session, ids: list[int]) -> dict[int, Share]:
    """Shares by id (missing ids are absent)."""
    if not ids:
        return {}
    return {s.id: s for s in session.scalars(select(Share).where(Share.id.in_(ids)))}
