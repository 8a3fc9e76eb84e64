"""Member accounts: sign-up, password policy and hashing, login sessions, account changes.

Passwords are hashed with argon2id (t=2, m=19456 KiB, p=1: the OWASP/ASVS
floor) over their UTF-8 bytes after NFKC normalisation, with no length
truncation. A login for an unknown account verifies a dummy hash, so the
answer and its timing do not tell whether the account exists. Sessions are
server-side rows holding the SHA-256 of a ``secrets.token_urlsafe(32)`` token
(256 bits): a new token at every login, revoked at logout, and every token of
a user invalidated at once by a password change or when the account is
disabled (``users.session_version``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cinerec.errors import AuthenticationFailed, InvalidParameter, NotFound, PermissionDenied
from cinerec.service.throttle import Throttle
from cinerec.store.db import transaction
from cinerec.store.models import User, utcnow
from cinerec.store.repos import sessions as session_repo
from cinerec.store.repos import users as user_repo

SessionKind = Literal["cookie", "bearer"]

#: Shortest password accepted, in characters (ASVS 6.2.1).
MIN_PASSWORD_CHARS = 8
#: Longest password accepted, in characters (at least 64 must be allowed: ASVS 6.2.9).
MAX_PASSWORD_CHARS = 256
#: How long a session lives from login.
SESSION_TTL: dict[str, timedelta] = {"cookie": timedelta(days=14), "bearer": timedelta(days=30)}
#: Usernames: letters, digits, ``_``, ``.``, ``-``; 3-32 characters, starting with a letter or digit.
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$")
#: A plausible email address (deliverability is not checked).
EMAIL_RE = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]{2,}$")
#: Interface languages a member may choose.
LOCALES = ("en", "zh_CN")
#: The generic login failure: the same for an unknown account and a wrong password.
LOGIN_FAILED = "wrong username or password"

_COMMON_PASSWORDS = Path(__file__).with_name("common_passwords.txt")

HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)


@dataclass(frozen=True)
class IssuedSession:
    """A freshly issued login session; ``token`` is shown to the client once and never stored."""

    token: str
    user_id: int
    kind: str
    expires_at: datetime


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: int
    username: str
    is_admin: bool
    session_id: int
    kind: str
    locale: str
    #: The member's ``history_version`` when the request began (keys their cached recommendation lists).
    history_version: int = 0


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (casefolded), read once."""
    lines = _COMMON_PASSWORDS.read_text(encoding="utf-8").split("\n")
    return frozenset(w.casefold() for w in lines if w and not w.startswith("#"))


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash of a random secret, verified when the account does not exist (equal timing)."""
    return HASHER.hash(secrets.token_urlsafe(16))


def _normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def check_password_policy(password: str, *, username: str | None = None) -> None:
    """Check a new password: 8-256 characters, not a common password, not the username.

    No composition rules (ASVS 6.2.5); every Unicode character is allowed.

    Raises:
        InvalidParameter: with ``details.fields`` naming ``password`` and the reason.
    """
    if not isinstance(password, str):
        raise _bad_password("must be a string", "type")
    pw = _normalise(password)
    if len(pw) < MIN_PASSWORD_CHARS:
        raise _bad_password(f"must be at least {MIN_PASSWORD_CHARS} characters", "too_short")
    if len(pw) > MAX_PASSWORD_CHARS:
        raise _bad_password(f"must be at most {MAX_PASSWORD_CHARS} characters", "too_long")
    if pw.casefold() in common_passwords():
        raise _bad_password("is on the list of commonly used passwords; choose another", "common")
    if username and pw.casefold() == username.casefold():
        raise _bad_password("must not be your username", "username")


def _bad_password(msg: str, reason: str) -> InvalidParameter:
    return InvalidParameter(f"password {msg}", details={"fields": [{"loc": ["body", "password"], "msg": msg,
                                                                     "type": reason}]})


def _bad_field(field: str, msg: str) -> InvalidParameter:
    return InvalidParameter(f"{field}: {msg}", details={"fields": [{"loc": ["body", field], "msg": msg,
                                                                    "type": "value_error"}]})


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (PHC string ``$argon2id$v=19$m=19456,t=2,p=1$...``)."""
    return HASHER.hash(_normalise(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash``; a missing hash verifies the dummy hash and fails."""
    try:
        ok = HASHER.verify(stored_hash or _dummy_hash(), _normalise(password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return ok and stored_hash is not None


def token_hash(token: str) -> str:
    """The SHA-256 hex digest under which a session token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_username(username: str) -> str:
    """Validate a username (see :data:`USERNAME_RE`).

    Raises:
        InvalidParameter: naming the ``username`` field.
    """
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise _bad_field("username", "3-32 letters, digits, '_', '.' or '-', starting with a letter or digit")
    return username


def check_display_name(name: str | None) -> str | None:
    """Trim a display name and refuse control characters (``None`` or empty clears it).

    Raises:
        InvalidParameter: naming the ``display_name`` field.
    """
    if name is None:
        return None
    clean = " ".join(name.split())
    if any(unicodedata.category(c) == "Cc" for c in clean) or len(clean) > 100:
        raise _bad_field("display_name", "at most 100 characters, no control characters")
    return clean or None


def signup(engine: Engine, throttle: Throttle, username: str, email: str | None, password: str, *, ip: str,
           display_name: str | None = None, locale: str = "en") -> User:
    """Create a member account.

    Raises:
        RateLimited: too many sign-ups from ``ip``.
        InvalidParameter: bad username, email, locale or password (field named in ``details``).
        Conflict: the username or email is taken.
    """
    check_username(username)
    if email is not None and not EMAIL_RE.fullmatch(email):
        raise _bad_field("email", "not an email address")
    if locale not in LOCALES:
        raise _bad_field("locale", f"one of {', '.join(LOCALES)}")
    check_password_policy(password, username=username)
    name = check_display_name(display_name)
    throttle.signup(ip)
    digest = hash_password(password)
    with transaction(engine) as session:
        user = user_repo.create_account(session, username, email.lower() if email else None, digest,
                                        display_name=name, locale=locale)
        session.expunge(user)
    return user


def create_user(engine: Engine, username: str, password: str, *, email: str | None = None,
                is_admin: bool = False) -> User:
    """Create an account from the shell (``cinerec users create``): same policy, no throttle.

    Raises:
        InvalidParameter: bad username or password.
        Conflict: the username is taken.
    """
    check_username(username)
    check_password_policy(password, username=username)
    digest = hash_password(password)
    with transaction(engine) as session:
        user = user_repo.create_account(session, username, email, digest, is_admin=is_admin)
        session.expunge(user)
    return user


def login(engine: Engine, throttle: Throttle, login_name: str, password: str, *, ip: str,
          kind: SessionKind = "bearer", previous_token: str | None = None) -> IssuedSession:
    """Check a username (or email) and password and open a new session.

    The same :class:`AuthenticationFailed` (and about the same time) whether
    the account is unknown, disabled or the password wrong. A session the
    client already held (``previous_token``) is revoked: the token rotates.

    Raises:
        RateLimited: too many failed attempts for this account name or address.
        AuthenticationFailed: wrong credentials.
    """
    throttle.check_login(login_name, ip)
    with transaction(engine, write=False) as session:
        user = user_repo.find_login(session, login_name)
        stored = user.password_hash if user is not None else None
    ok = verify_password(stored, password)
    if not ok or user is None or not user.is_active:
        throttle.failed_login(login_name, ip)
        raise AuthenticationFailed(LOGIN_FAILED)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    expires = now + SESSION_TTL[kind]
    with transaction(engine) as session:
        if previous_token:
            session_repo.revoke(session, token_hash(previous_token), now)
        if stored is not None and HASHER.check_needs_rehash(stored):
            user_repo.update_account(session, user.id, password_hash=hash_password(password))
        session_repo.create(session, user.id, token_hash(token), kind, session_version=user.session_version,
                            now=now, expires_at=expires)
    return IssuedSession(token, user.id, kind, expires)


def logout(engine: Engine, token: str) -> bool:
    """Revoke the session of ``token``; returns whether it was live."""
    with transaction(engine) as session:
        return session_repo.revoke(session, token_hash(token), utcnow())


def authenticate(session: Session, token: str | None) -> Principal | None:
    """The caller behind a session token, or ``None`` (missing, unknown, expired or revoked token).

    Read-only: a GET with a session cookie writes nothing.
    """
    if not token or len(token) > 200:
        return None
    found = session_repo.find_valid(session, token_hash(token), utcnow())
    if found is None:
        return None
    return Principal(found.user_id, found.username, bool(found.is_admin), found.session_id, found.kind, found.locale,
                     int(found.history_version or 0))


def get_account(session: Session, user_id: int) -> User:
    """The caller's own account.

    Raises:
        NotFound: the account no longer exists.
    """
    user = user_repo.get_account(session, user_id)
    if user is None:
        raise NotFound("account does not exist")
    return user


def update_profile(engine: Engine, user_id: int, *, display_name: str | None = None, locale: str | None = None,
                   clear_display_name: bool = False) -> User:
    """Change the caller's display name and/or interface language.

    Raises:
        InvalidParameter: bad display name or unknown locale.
    """
    fields: dict[str, object] = {}
    if display_name is not None or clear_display_name:
        fields["display_name"] = check_display_name(display_name)
    if locale is not None:
        if locale not in LOCALES:
            raise _bad_field("locale", f"one of {', '.join(LOCALES)}")
        fields["locale"] = locale
    with transaction(engine) as session:
        if fields:
            user_repo.update_account(session, user_id, **fields)
        user = get_account(session, user_id)
        session.expunge(user)
    return user


def change_password(engine: Engine, throttle: Throttle, user_id: int, current: str, new: str, *, ip: str) -> None:
    """Set a new password after checking the current one; every session of the user ends.

    Raises:
        RateLimited: too many wrong current passwords.
        AuthenticationFailed: the current password is wrong.
        InvalidParameter: the new password breaks the policy.
    """
    with transaction(engine, write=False) as session:
        user = get_account(session, user_id)
    throttle.check_login(user.username, ip)
    if not verify_password(user.password_hash, current):
        throttle.failed_login(user.username, ip)
        raise AuthenticationFailed("the current password is wrong", details={"field": "current_password"})
    check_password_policy(new, username=user.username)
    digest = hash_password(new)
    with transaction(engine) as session:
        user_repo.update_account(session, user_id, password_hash=digest)
        user_repo.bump_session_version(session, user_id)
        session_repo.revoke_all(session, user_id, utcnow())


def set_active(engine: Engine, actor: Principal, user_id: int, active: bool) -> None:
    """Disable (or re-enable) an account; disabling ends all of its sessions at once.

    Raises:
        PermissionDenied: the actor is not an admin, or disables their own account.
        NotFound: no such site account.
    """
    if not actor.is_admin:
        raise PermissionDenied("admins only")
    if actor.user_id == user_id and not active:
        raise PermissionDenied("an admin cannot disable their own account")
    with transaction(engine) as session:
        get_account(session, user_id)
        user_repo.update_account(session, user_id, is_active=active)
        if not active:
            user_repo.bump_session_version(session, user_id)
            session_repo.revoke_all(session, user_id, utcnow())


def delete_account(engine: Engine, throttle: Throttle, user_id: int, password: str, *, ip: str) -> None:
    """Delete the caller's account with their ratings, reviews, lists and sessions (password re-checked).

    Events stay for the statistics but lose the link to the person.

    Raises:
        RateLimited: too many wrong passwords.
        AuthenticationFailed: the password is wrong.
    """
    with transaction(engine, write=False) as session:
        user = get_account(session, user_id)
    throttle.check_login(user.username, ip)
    if not verify_password(user.password_hash, password):
        throttle.failed_login(user.username, ip)
        raise AuthenticationFailed("the password is wrong", details={"field": "password"})
    with transaction(engine) as session:
        user_repo.delete_account(session, user_id)  # recounts the rated films' aggregates itself


def update_me(engine: Engine, throttle: Throttle, user_id: int, *, ip: str, display_name: str | None = None,
              clear_display_name: bool = False, locale: str | None = None, current_password: str | None = None,
              new_password: str | None = None) -> User:
    """Apply the caller's account settings: display name, language and, with the current one, a new password.

    The password changes first, so a wrong current password changes nothing.

    Raises:
        AuthenticationFailed: wrong current password.
        RateLimited: too many wrong current passwords.
        InvalidParameter: bad display name, locale or new password.
    """
    if new_password is not None:
        change_password(engine, throttle, user_id, current_password or "", new_password, ip=ip)
    return update_profile(engine, user_id, display_name=display_name, locale=locale,
                          clear_display_name=clear_display_name)
