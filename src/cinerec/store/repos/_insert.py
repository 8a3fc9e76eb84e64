"""``INSERT ... ON CONFLICT DO NOTHING`` for the social tables, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignore(session: Session, table: Any, **values: Any) -> bool:
    """Insert one row unless its primary key exists; returns whether a row was inserted.

    One statement, so two concurrent writers never both insert (and a kept
    counter is never bumped twice for one row).
    """
    dialect = session.get_bind().dialect.name
    mod: Any = postgresql if dialect == "postgresql" else sqlite
    core = table.__table__
    # RETURNING, not rowcount: the drivers do not agree on rowcount for a conflict that inserted nothing
    stmt = mod.insert(core).values(**values).on_conflict_do_nothing().returning(*core.primary_key.columns)
    return session.execute(stmt).first() is not None
