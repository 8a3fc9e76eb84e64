"""``cinerec worker``: the retraining loop (see :mod:`cinerec.service.worker`)."""

from __future__ import annotations

from typing import Any

import typer

from cinerec.cli._common import engine, settings
from cinerec.config import Settings
from cinerec.errors import Conflict, DataFormatError, InvalidParameter, ModelFitError


def require_schema(s: Settings) -> None:
    """Stop with one line when the database cannot be reached or was never migrated.

    Raises:
        DataFormatError: no schema, or the database refused the connection.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from cinerec.store.migrate import current

    try:
        revision = current(s.resolved_database_url)
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().split("\n")[0]
        raise DataFormatError(f"cannot read the database: {first}") from None
    if revision is None:
        raise DataFormatError("the database has no tables yet: run `cinerec db upgrade` and "
                              "`cinerec data import PATH` (or `cinerec demo`) first")


def _echo_run(rec: dict[str, Any]) -> None:
    """Print one run as one line on stdout."""
    from cinerec.service.worker import describe_run

    typer.echo(describe_run(rec))


def worker(
    once: bool = typer.Option(False, "--once", help="check once (run if due), then exit"),
    force: bool = typer.Option(False, "--force", help="run now whatever the triggers say (the first check without --once)"),
    check_every: float = typer.Option(30.0, "--check-every", help="seconds between two checks of the triggers"),
) -> None:
    """Retrain when due, gate each candidate on a holdout, activate it only if it is not worse.

    Triggers: no active model; CINEREC_RETRAIN_EVERY (e.g. 6h) since the
    active version; CINEREC_RETRAIN_AFTER new ratings and reviews; --force.
    What it trains: CINEREC_RETRAIN_ALGO (hybrid = the demo's), else the
    active version's algorithm and parameters. A candidate whose holdout
    NDCG@10 falls below the active model's by more than CINEREC_RETRAIN_MARGIN
    stays registered but inactive. Runs are logged in <models>/runs.jsonl
    (`cinerec models runs`). SIGTERM or Ctrl-C stop the loop after the current
    run (a second one stops at once; the active model is never left half-swapped).
    """
    import logging.config
    import threading

    from cinerec.service.worker import RetrainWorker, stop_on_signals
    from cinerec.web.observability import log_config

    if not 0 < check_every <= 86400:  # NaN and infinity fail too
        raise InvalidParameter(f"--check-every must be a positive number of seconds, at most a day; got {check_every}")
    s = settings()
    require_schema(s)
    logging.config.dictConfig(log_config())  # the server's format, on stderr
    w = RetrainWorker(s, engine=engine(s), check_every=check_every)
    if once:
        w.lower_priority()
        rec = w.tick(force=force)
        if rec is None:
            typer.echo("nothing to do: no trigger is due (use --force to retrain anyway)")
            return
        _echo_run(rec)
        if rec["outcome"] == "failed":
            raise ModelFitError(f"retraining run {rec['id']} failed: {rec.get('error')}")
        if rec["outcome"] == "skipped":
            raise Conflict(str(rec.get("reason")))
        return
    stop = threading.Event()
    stop_on_signals(stop)
    w.run_forever(stop, force_first=force, on_run=_echo_run)
