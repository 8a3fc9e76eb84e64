"""Helpers shared by the command modules: settings, engine, registry, params."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from cinerec.config import Settings, get_settings
from cinerec.errors import InvalidParameter


def settings() -> Settings:
    """The process settings."""
    return get_settings()


def engine(s: Settings | None = None) -> Engine:
    """An engine on the configured database."""
    from cinerec.store.db import make_engine

    s = s or settings()
    return make_engine(s.resolved_database_url, busy_timeout_ms=s.sqlite_busy_timeout_ms)


def ensure_schema(s: Settings | None = None) -> None:
    """Apply pending migrations (idempotent)."""
    from cinerec.store.migrate import upgrade

    upgrade((s or settings()).resolved_database_url)


def parse_params(items: list[str] | None, algos: list[str]) -> dict[str, dict[str, Any]]:
    """``["ease.regularization=300"]`` -> ``{"ease": {"regularization": 300}}``.

    Raises:
        InvalidParameter: a parameter names an algorithm that is not selected.
    """
    from cinerec.evaluation.protocols import parse_param

    out: dict[str, dict[str, Any]] = {a: {} for a in algos}
    for text in items or []:
        algo, key, value = parse_param(text)
        if algo not in out:
            raise InvalidParameter(f"--param {text!r} names {algo!r}, which is not among --algo {','.join(algos)}")
        out[algo][key] = value
    return out
