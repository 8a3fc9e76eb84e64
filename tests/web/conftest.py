"""A members site over a real SQLite database with ML-100K and a trained item-kNN model.

Built once per test session and shared by the member tests; each test makes
its own accounts (unique names), so tests do not depend on each other.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cinerec.config import Settings
from cinerec.data.readers import read_dataset
from cinerec.service.registry import ModelRegistry
from cinerec.service.throttle import Limits, Throttle
from cinerec.service.training import train_from_store
from cinerec.store.db import make_engine
from cinerec.store.importer import import_dataset
from cinerec.store.migrate import upgrade
from cinerec.web import create_app

#: A password that passes the policy, for accounts made by tests.
PASSWORD = "correct horse battery staple 42"


@pytest.fixture(scope="session")
def member_settings(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Settings:
    """Settings of a migrated database holding ML-100K and an active item-kNN model."""
    home = tmp_path_factory.mktemp("members-home")
    s = Settings(home=home, data_dir=datasets)
    upgrade(s.resolved_database_url)
    eng = make_engine(s.resolved_database_url)
    import_dataset(eng, read_dataset(datasets / "ml-100k"))
    train_from_store(eng, ModelRegistry(s.models_dir), "item-knn")
    eng.dispose()
    return s


def two_version_site(home: Path, datasets: Path) -> tuple[Settings, str, str]:
    """A site of ML-100K with item-kNN active and popularity published beside it (for A/B experiments).

    Returns (settings, active version, other version). A site of its own, so
    a running experiment never reaches the shared members site.
    """
    s = Settings(home=home, data_dir=datasets)
    upgrade(s.resolved_database_url)
    eng = make_engine(s.resolved_database_url)
    import_dataset(eng, read_dataset(datasets / "ml-100k"))
    reg = ModelRegistry(s.models_dir)
    active = train_from_store(eng, reg, "item-knn").version
    other = train_from_store(eng, reg, "popularity", activate=False).version
    eng.dispose()
    return s, active, other


@pytest.fixture(scope="session")
def site(member_settings: Settings) -> Iterator[TestClient]:
    """One app for the session (http://testserver)."""
    with TestClient(create_app(member_settings)) as c:
        yield c


@pytest.fixture(autouse=True)
def _fresh_throttle(request: pytest.FixtureRequest) -> None:
    """Start each test with no counted attempts (the app is shared by the session)."""
    if "site" in request.fixturenames:
        request.getfixturevalue("site").app.state.throttle.reset()


def new_name(prefix: str = "m") -> str:
    """A unique, valid username."""
    return f"{prefix}{secrets.token_hex(4)}"


def signup(client: TestClient, username: str | None = None, password: str = PASSWORD) -> str:
    """Create an account through the API; returns its username."""
    username = username or new_name()
    r = client.post("/api/v1/auth/signup", json={"username": username, "email": f"{username}@example.org",
                                                 "password": password})
    assert r.status_code == 201, r.text
    client.app.state.throttle.reset()
    return username


def login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """A bearer token for ``username``, as request headers."""
    r = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def member(client: TestClient, prefix: str = "m") -> tuple[str, dict[str, str]]:
    """A new member and their auth headers."""
    name = signup(client, new_name(prefix))
    return name, login(client, name)


@pytest.fixture
def low_limits(site: TestClient) -> Iterator[Throttle]:
    """The app with low social limits (2 a minute of each kind) for one test."""
    saved = site.app.state.throttle
    site.app.state.throttle = Throttle(limits=Limits(shares_per_user="2/minute", follows_per_user="2/minute",
                                                     likes_per_user="2/minute", list_writes_per_user="2/minute"))
    yield site.app.state.throttle
    site.app.state.throttle = saved
