"""Blocks between members: the ``blocks`` table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from cinerec.store.models import Block, User
from cinerec.store.repos._insert import insert_ignore


def add(session: Session, blocker_id: int, blocked_id: int, now: datetime) -> bool:
    """``blocker`` blocks ``blocked``; returns ``False`` when already blocked."""
    return insert_ignore(session, Block, blocker_id=blocker_id, blocked_id=blocked_id, created_at=now)


def remove(session: Session, blocker_id: int, blocked_id: int) -> bool:
    """Lift a block; returns whether there was one."""
    result = session.execute(delete(Block).where(Block.blocker_id == blocker_id, Block.blocked_id == blocked_id))
    return bool(getattr(result, "rowcount", 0))


def blocks(session: Session, blocker_id: int, blocked_id: int) -> bool:
    """Whether ``blocker`` blocked ``blocked`` (primary-key lookup)."""
    return session.get(Block, (blocker_id, blocked_id)) is not None


def either(session: Session, a: int, b: int) -> bool:
    """Whether either member blocked the other."""
    return blocks(session, a, b) or blocks(session, b, a)


def between(a: Any, b: Any) -> ColumnElement[bool]:
    """A SQL condition: a block exists between ``a`` and ``b`` (columns or ids) in either direction."""
    return exists().where(or_((Block.blocker_id == a) & (Block.blocked_id == b),
                              (Block.blocker_id == b) & (Block.blocked_id == a)))


def blocked(session: Session, blocker_id: int, *, limit: int, offset: int) -> tuple[list[User], int]:
    """One page of the members ``blocker`` blocked, newest first, and their number."""
    total = int(session.scalar(select(func.count()).select_from(Block).where(Block.blocker_id == blocker_id)) or 0)
    rows = session.scalars(select(User).join(Block, Block.blocked_id == User.id)
                           .where(Block.blocker_id == blocker_id)
                           .order_by(Block.created_at.desc(), User.id.desc()).limit(limit).offset(offset))
    return list(rows), total
