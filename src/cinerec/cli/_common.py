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
    from cinerec.store.db import settings_engine

    return settings_engine(s or settings())


def ensure_schema(s: Settings | None = None) -> None:
    """Apply pending migrations (idempotent)."""
    from cinerec.store.migrate import upgrade

    upgrade((s or settings()).resolved_database_url)


def algo_names(text: str) -> list[str]:
    """``"BiasedMF, item_knn"`` -> ``["biased-mf", "item-knn"]``: comma-separated names or aliases, canonical.

    Raises:
        InvalidParameter: an unknown name.
    """
    from cinerec.algorithms.registry import canonical

    return [canonical(a) for a in text.split(",") if a.strip()]


def parse_params(items: list[str] | None, algos: list[str]) -> dict[str, dict[str, Any]]:
    """``["EASE.regularization=300"]`` -> ``{"ease": {"regularization": 300}}``, keyed by canonical names.

    Algorithm names on either side may be any alias (``BiasedMF.lr=0.01``).

    Raises:
        InvalidParameter: a parameter names an algorithm that is not selected, or an unknown one.
    """
    from cinerec.algorithms.registry import canonical
    from cinerec.evaluation.protocols import parse_param

    out: dict[str, dict[str, Any]] = {canonical(a): {} for a in algos}
    for text in items or []:
        algo, key, value = parse_param(text)
        algo = canonical(algo)
        if algo not in out:
            raise InvalidParameter(f"--param {text!r} names {algo!r}, which is not among --algo {','.join(algos)}")
        out[algo][key] = value
    return out


def runtime_params(algo: str, params: dict[str, Any], device: str | None, progress: bool,
                   strict: bool = True) -> dict[str, Any]:
    """Add ``device`` and a progress bar (``verbose``) to the algorithms that take them.

    For a hybrid, the options go to its members that take them.

    Raises:
        InvalidParameter: with ``strict``, ``--device`` for an algorithm that runs on the CPU only.
    """
    from cinerec.algorithms.registry import canonical, get_class

    algo = canonical(algo)

    def extra(name: str) -> dict[str, Any]:
        accepts = get_class(name)._param_names()
        out: dict[str, Any] = {}
        if device is not None and "device" in accepts:
            out["device"] = device
        if progress and "verbose" in accepts:
            out["verbose"] = True
        return out

    if algo == "hybrid":
        from cinerec.algorithms.hybrid import MemberSpec, parse_members

        specs = [MemberSpec(s.algo, {**extra(s.algo), **s.params}) for s in parse_members(params.get("members"))]
        if strict and device is not None and not any("device" in s.params for s in specs):
            raise InvalidParameter(f"--device applies to neural models; none among hybrid members {','.join(s.algo for s in specs)}")
        return {**params, "members": [s.as_config() for s in specs]}
    add = extra(algo)
    if strict and device is not None and "device" not in add:
        raise InvalidParameter(f"{algo} runs on the CPU only; --device applies to neural models")
    return {**add, **params}
