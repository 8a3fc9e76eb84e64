"""TESTPLAN S12 schemathesis-all: the whole OpenAPI schema fuzzed in-process with an authenticated member.

Schemathesis loads ``/api/openapi.json`` from the ASGI app (no server), generates
positive and negative requests for every operation (explicit examples,
coverage of boundaries, then random fuzzing) and walks the links it infers
between operations (stateful). Every response must pass ``not_a_server_error``,
``negative_data_rejection``, ``ignored_auth``, ``use_after_free`` and
``response_schema_conformance``: 0 failures.

The database is a private copy of the members fixture's (ML-100K, active
item-kNN model), so accounts the fuzzer creates, reviews it deletes or the
admin it disables never reach other tests. Requests carry a member's bearer
token (a fresh one whenever a fuzzed ``/auth/logout`` or password change has
revoked it). A second pass fuzzes the admin operations as an admin, except
the two that start background jobs (``/admin/models/train`` and
``/admin/imports``): those run as the member (403 before anything starts);
their admin path is covered by ``test_members_api.py::test_s11_admin_functions``.
Generation is derandomized with a fixed seed and bounded per operation, so
CI runs are reproducible.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cinerec.config import Settings
from cinerec.service import accounts
from cinerec.service.throttle import Throttle
from cinerec.web import create_app
from tests.web.conftest import PASSWORD, new_name

pytestmark = pytest.mark.slow

#: The checks TESTPLAN S12 names (every other check is off).
CHECKS = ("not_a_server_error", "negative_data_rejection", "ignored_auth", "use_after_free",
          "response_schema_conformance")
#: Examples per operation and generation mode: small enough for CI (about a minute on 2 cores).
MAX_EXAMPLES = 25
#: Fixed seed: the same requests on every run.
SEED = 20240909
#: Admin operations that start background jobs (a real training run or import): fuzzed as a member only.
JOB_OPERATIONS = ("/api/v1/admin/models/train", "/api/v1/admin/imports")


def _copy_home(src: Settings, dest: Path) -> Settings:
    """A private copy of a cinerec home: files copied, the SQLite database through the backup API."""
    shutil.copytree(src.home, dest, ignore=shutil.ignore_patterns("cinerec.db*"))
    db = src.resolved_database_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as source, sqlite3.connect(dest / "cinerec.db") as target:
        source.backup(target)
    return Settings(home=dest, data_dir=src.data_dir)


class _Identity:
    """An account whose bearer token is renewed whenever the fuzzer has revoked it."""

    def __init__(self, app: FastAPI, username: str) -> None:
        self.app, self.username, self.token = app, username, ""

    def current(self) -> str:
        """A live token (checked in the database; a new login when the old one was revoked)."""
        with self.app.state.sessionmaker() as session:
            if accounts.authenticate(session, self.token) is not None:
                return self.token
        # a throttle of its own: the fuzzer's wrong passwords must not lock the test out
        self.token = accounts.login(self.app.state.engine, Throttle(), self.username, PASSWORD, ip="s12").token
        return self.token


@pytest.fixture(scope="module")
def fuzz_app(member_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The app over a private copy of the members database, with its lifespan entered."""
    settings = _copy_home(member_settings, tmp_path_factory.mktemp("s12") / "home")
    app = create_app(settings)
    with TestClient(app):
        yield app


def _schema(app: FastAPI, identity: _Identity) -> Any:
    """The app's OpenAPI schema for schemathesis, every case sent with ``identity``'s bearer token."""
    config = schemathesis.Config.from_dict({
        "seed": SEED,
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
                   "stateful": {"enabled": True}},
    })
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app, config=config)

    @schema.auth(refresh_interval=None)
    class _Bearer:
        def get(self, case: schemathesis.Case, ctx: schemathesis.AuthContext) -> str:
            return identity.current()

        def set(self, case: schemathesis.Case, data: str, ctx: schemathesis.AuthContext) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return schema


@pytest.fixture(scope="module")
def member_schema(fuzz_app: FastAPI) -> Any:
    """The whole API as a member (admin operations answer 403)."""
    name = new_name("s12m")
    accounts.create_user(fuzz_app.state.engine, name, PASSWORD)
    return _schema(fuzz_app, _Identity(fuzz_app, name))


@pytest.fixture(scope="module")
def admin_schema(fuzz_app: FastAPI) -> Any:
    """The admin operations that start no background job, as an admin."""
    name = new_name("s12a")
    accounts.create_user(fuzz_app.state.engine, name, PASSWORD, is_admin=True)
    schema = _schema(fuzz_app, _Identity(fuzz_app, name)).include(path_regex=r"^/api/v1/admin/")
    for path in JOB_OPERATIONS:
        schema = schema.exclude(path=path)
    return schema


def _run(schema: Any) -> tuple[list[str], Counter[tuple[str, int]]]:
    """Run every phase (examples, coverage, fuzzing, stateful) as ``schemathesis run`` does.

    Returns:
        The failures found (one line each, with a curl command to replay them) and how many
        responses each operation got per status code (stateful sequences under "Stateful tests").
    """
    from schemathesis.engine import Status, events, from_schema

    found: list[str] = []
    answered: Counter[tuple[str, int]] = Counter()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            for interaction in event.recorder.interactions.values():
                if interaction.response is not None:
                    answered[event.recorder.label, interaction.response.status_code] += 1
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        f = check.failure_info
                        found.append(f"{event.recorder.label} [{check.name}] {f.failure.title}: {f.failure.message}\n"
                                     f"    {f.code_sample}")
        elif isinstance(event, events.NonFatalError):
            found.append(f"{event.label}: error {event.info.title}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            found.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            assert event.stop_reason == "completed", event.stop_reason
            found.extend(f"after run: {f.title}: {f.message}" for f in event.failures)
    return sorted(set(found)), answered


def _operations(app: FastAPI, prefix: str = "/api/") -> set[str]:
    """``METHOD /path`` of every operation in the app's OpenAPI schema under ``prefix``."""
    return {f"{m.upper()} {p}" for p, ops in app.openapi()["paths"].items() for m in ops if p.startswith(prefix)}


def test_s12_schemathesis_all(member_schema: Any, fuzz_app: FastAPI) -> None:
    """Every operation, positive and negative data, stateful sequences, as a member: 0 failures."""
    failures, answered = _run(member_schema)
    assert not failures, f"{len(failures)} schemathesis failures:\n" + "\n".join(failures)
    # the run reached every operation, and as a member: the bearer token worked and the fuzzer's writes landed
    assert {label for label, _ in answered} == _operations(fuzz_app) | {"Stateful tests"}
    for label in ("GET /api/v1/users/me", "PUT /api/v1/movies/{movie_id}/rating",
                  "POST /api/v1/movies/{movie_id}/reviews", "PATCH /api/v1/reviews/{review_id}"):
        assert any(label == lb and 200 <= status < 300 for lb, status in answered), (label, answered)
    assert answered["POST /api/v1/admin/models/train", 202] == 0  # no training job was started


def test_s12_schemathesis_admin(admin_schema: Any, fuzz_app: FastAPI) -> None:
    """The admin operations that start no background job, as an admin: 0 failures."""
    failures, answered = _run(admin_schema)
    assert not failures, f"{len(failures)} schemathesis failures:\n" + "\n".join(failures)
    wanted = {op for op in _operations(fuzz_app, "/api/v1/admin/") if op.split()[1] not in JOB_OPERATIONS}
    assert {label for label, _ in answered} - {"Stateful tests"} == wanted
    # as an admin, not refused: rollback answers 409 (this copy holds one model version) or 200
    assert any(lb == "POST /api/v1/admin/models/rollback" and status in (200, 409) for lb, status in answered), answered
