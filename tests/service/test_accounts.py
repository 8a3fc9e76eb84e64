"""Accounts service: password policy and hashing, sessions, throttle (SQLite, no web)."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import Engine, select

from cinerec.errors import AuthenticationFailed, InvalidParameter, RateLimited
from cinerec.service import accounts
from cinerec.service.throttle import Limits, Throttle
from cinerec.store.db import make_engine, transaction
from cinerec.store.migrate import upgrade
from cinerec.store.models import AuthSession, User

PW = "a quiet evening with tea"


@pytest.fixture
def engine(sqlite_url: str) -> Engine:
    upgrade(sqlite_url)
    return make_engine(sqlite_url)


def test_policy_rejects_short_common_and_username() -> None:
    for bad, reason in (("abc1234", "too_short"), ("password1234", "common"), ("PASSWORD1234", "common"),
                        ("x" * 257, "too_long")):
        with pytest.raises(InvalidParameter) as exc:
            accounts.check_password_policy(bad)
        assert exc.value.details["fields"][0]["type"] == reason
        assert exc.value.details["fields"][0]["loc"] == ["body", "password"]
    with pytest.raises(InvalidParameter):
        accounts.check_password_policy("alice-the-great", username="Alice-The-Great")
    accounts.check_password_policy("长城" * 32)  # 64 characters of CJK
    assert "password1234" in accounts.common_passwords() and len(accounts.common_passwords()) > 10_000


def test_hash_is_argon2id_at_the_floor_and_never_truncates() -> None:
    digest = accounts.hash_password(PW)
    m = re.match(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=1\$", digest)
    assert m and int(m.group(1)) >= 19456 and int(m.group(2)) >= 2
    long_pw = "a" * 72 + "X"
    d2 = accounts.hash_password(long_pw)
    assert accounts.verify_password(d2, long_pw)
    assert not accounts.verify_password(d2, "a" * 72 + "Y")
    assert not accounts.verify_password(None, PW)  # the dummy hash never verifies


def test_login_rotates_and_logout_revokes(engine: Engine) -> None:
    t = Throttle()
    user = accounts.create_user(engine, "alice", PW)
    first = accounts.login(engine, t, "alice", PW, ip="1.2.3.4", kind="cookie")
    second = accounts.login(engine, t, "ALICE", PW, ip="1.2.3.4", kind="cookie", previous_token=first.token)
    assert first.token != second.token and len(first.token) >= 43  # 32 random bytes
    with transaction(engine, write=False) as s:
        assert accounts.authenticate(s, first.token) is None  # rotated: the old token is revoked
        assert accounts.authenticate(s, second.token).user_id == user.id
        stored = set(s.scalars(select(AuthSession.token_hash)))
    assert second.token not in stored and accounts.token_hash(second.token) in stored
    assert accounts.logout(engine, second.token)
    with transaction(engine, write=False) as s:
        assert accounts.authenticate(s, second.token) is None


def test_password_change_and_disable_end_every_session(engine: Engine) -> None:
    t = Throttle()
    admin = accounts.create_user(engine, "root", PW, is_admin=True)
    bob = accounts.create_user(engine, "bob", PW)
    a = accounts.login(engine, t, "bob", PW, ip="x")
    b = accounts.login(engine, t, "bob", PW, ip="y", kind="cookie")
    with pytest.raises(AuthenticationFailed):
        accounts.change_password(engine, t, bob.id, "wrong password", "another fine phrase", ip="x")
    accounts.change_password(engine, t, bob.id, PW, "another fine phrase", ip="x")
    with transaction(engine, write=False) as s:
        assert accounts.authenticate(s, a.token) is None and accounts.authenticate(s, b.token) is None
    c = accounts.login(engine, t, "bob", "another fine phrase", ip="x")
    root = accounts.login(engine, t, "root", PW, ip="x")
    with transaction(engine, write=False) as s:
        principal = accounts.authenticate(s, root.token)
    assert principal is not None and principal.user_id == admin.id
    accounts.set_active(engine, principal, bob.id, False)
    with transaction(engine, write=False) as s:
        assert accounts.authenticate(s, c.token) is None
    with pytest.raises(AuthenticationFailed):
        accounts.login(engine, t, "bob", "another fine phrase", ip="x")


def test_throttle_counts_failures_per_account_and_resets_after_the_window(engine: Engine) -> None:
    t = Throttle(limits=Limits(login_per_account="3 per 2 seconds", login_per_ip="100/minute"))
    accounts.create_user(engine, "carol", PW)
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            accounts.login(engine, t, "carol", "not her password", ip="9.9.9.9")
    with pytest.raises(RateLimited) as exc:
        accounts.login(engine, t, "carol", PW, ip="9.9.9.9")
    assert 1 <= exc.value.retry_after <= 2
    accounts.create_user(engine, "dave", PW)
    accounts.login(engine, t, "dave", PW, ip="9.9.9.9")  # another account is not blocked
    time.sleep(2.1)
    assert accounts.login(engine, t, "carol", PW, ip="9.9.9.9").token


def test_throttle_in_redis_is_shared_between_instances() -> None:
    import redis

    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/15", socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError:
        pytest.fail("Redis is not reachable on 127.0.0.1:6379")
    lim = Limits(login_per_account="2/minute")
    one, two = Throttle("redis://127.0.0.1:6379/15", lim), Throttle("redis://127.0.0.1:6379/15", lim)
    one.reset()
    one.failed_login("erin", "1.1.1.1")
    two.failed_login("erin", "1.1.1.1")
    with pytest.raises(RateLimited):
        one.check_login("erin", "1.1.1.1")
    one.reset()


def test_delete_account_removes_the_person_and_keeps_anonymous_events(engine: Engine) -> None:
    t = Throttle()
    u = accounts.create_user(engine, "frank", PW)
    with pytest.raises(AuthenticationFailed):
        accounts.delete_account(engine, t, u.id, "wrong password", ip="x")
    accounts.delete_account(engine, t, u.id, PW, ip="x")
    with transaction(engine, write=False) as s:
        assert s.get(User, u.id) is None
        assert not list(s.scalars(select(AuthSession)))
