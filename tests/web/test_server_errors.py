"""TESTPLAN S13 headers-and-errors, the server-error half: a route that raises and database failures are
answered as a JSON 5xx (no traceback, SQL or path), with the site's security headers, and logged with the
request id the answer carries. (Headers on ordinary responses, CORS and HSTS: tests/web/test_hygiene.py.)"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from cinerec.config import Settings
from cinerec.store.migrate import upgrade
from cinerec.web import create_app

#: What a 5xx body must never show.
LEAKS = re.compile(r"Traceback|File \"|\.py\b|SELECT|INSERT|sqlite|/tmp/|/work/|secret-detail", re.I)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """A site over an empty migrated SQLite database, with three routes that fail on purpose."""
    home = tmp_path_factory.mktemp("s13")
    settings = Settings(home=home)
    upgrade(settings.resolved_database_url)
    app = create_app(settings)

    @app.get("/api/v1/_test/raise")
    def boom() -> None:
        raise RuntimeError(f"secret-detail {Path(__file__)}")

    @app.get("/api/v1/_test/locked")
    def locked() -> None:
        raise OperationalError("UPDATE ratings SET value = ?", {}, Exception("database is locked"))

    @app.get("/api/v1/_test/sql")
    def bad_sql() -> None:
        with app.state.engine.connect() as conn:
            conn.execute(text("SELECT secret_column FROM no_such_table"))

    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client that receives the 500 instead of re-raising the route's exception."""
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _assert_clean_5xx(r, status: int, code: str, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    body = r.json()["error"]
    assert body["code"] == code and body["message"]
    assert not LEAKS.search(r.text), r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    # the answer's request id names the server-side log record, which holds the traceback
    request_id = r.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}", request_id) and body["details"]["request_id"] == request_id
    records = [rec for rec in caplog.records if request_id in rec.getMessage()]
    assert len(records) == 1 and records[0].levelno == logging.ERROR and records[0].exc_info is not None


def test_s13_route_raising_is_a_clean_500(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="cinerec.web"):
        r = client.get("/api/v1/_test/raise")
    _assert_clean_5xx(r, 500, "internal", caplog)
    assert "secret-detail" in caplog.text  # the details are in the log, not in the answer


def test_s13_sql_error_is_a_clean_500(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="cinerec.web"):
        r = client.get("/api/v1/_test/sql")
    _assert_clean_5xx(r, 500, "internal", caplog)  # a bug, not "busy": no Retry-After
    assert "retry-after" not in r.headers


def test_s13_locked_database_is_503_with_retry_after(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="cinerec.web"):
        r = client.get("/api/v1/_test/locked")
    _assert_clean_5xx(r, 503, "unavailable", caplog)
    assert int(r.headers["retry-after"]) >= 1


def test_s13_database_file_removed(app: FastAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The database's folder is gone (the file cannot be opened): 503 for a real API route, nothing leaked."""
    gone = tmp_path / "gone"
    gone.mkdir()
    broken = create_app(Settings(home=gone))
    gone.rmdir()  # the engine's first connection now cannot create or open the file
    with TestClient(broken, raise_server_exceptions=False) as c, caplog.at_level(logging.ERROR, logger="cinerec.web"):
        r = c.get("/api/v1/movies")
    _assert_clean_5xx(r, 503, "unavailable", caplog)
