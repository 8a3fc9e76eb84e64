"""Attempt throttling for login, sign-up, password changes and social writes (the ``limits`` library).

Moving windows, in process memory by default (``memory://``) or in Redis when
``CINEREC_REDIS_URL`` is set, so several worker processes share one count.
Two keys are checked for each attempt: the account name (a targeted guess)
and the client address (one client spraying many accounts).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal, cast

from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from cinerec.errors import RateLimited

#: Failed logins allowed per account name in a moving minute (the 11th attempt is refused).
LOGIN_PER_ACCOUNT = "10/minute"
#: Failed logins allowed per client address in a moving minute, over every account it tries.
LOGIN_PER_IP = "50/minute"
#: Accounts one client address may create in a moving hour.
SIGNUP_PER_IP = "20/hour"
#: Shares one member may make in a moving hour.
SHARES_PER_USER = "30/hour"
#: Follows and unfollows one member may make in a moving hour.
FOLLOWS_PER_USER = "100/hour"
#: Likes and unlikes (reviews and lists together) one member may make in a moving hour.
LIKES_PER_USER = "300/hour"
#: List writes (create, change, delete, items) one member may make in a moving hour.
LIST_WRITES_PER_USER = "300/hour"
#: Clicks on recommended films a member may report (``POST /api/v1/me/events``).
CLICKS_PER_USER = "1000/hour"

#: The kinds of social write :meth:`Throttle.social` counts.
SocialKind = Literal["share", "follow", "like", "list", "click"]


@dataclass(frozen=True)
class Limits:
    """The windows the throttle enforces, as ``limits`` strings (``"10/minute"``)."""

    login_per_account: str = LOGIN_PER_ACCOUNT
    login_per_ip: str = LOGIN_PER_IP
    signup_per_ip: str = SIGNUP_PER_IP
    shares_per_user: str = SHARES_PER_USER
    follows_per_user: str = FOLLOWS_PER_USER
    likes_per_user: str = LIKES_PER_USER
    list_writes_per_user: str = LIST_WRITES_PER_USER
    clicks_per_user: str = CLICKS_PER_USER


class Throttle:
    """Counts attempts per account and per client address and refuses the excess.

    Args:
        storage_uri: a ``limits`` storage URI: ``memory://`` (default, per
            process) or ``redis://host:port/db`` (shared; needs the ``redis`` package).
        limits: the windows.
    """

    def __init__(self, storage_uri: str = "memory://", limits: Limits | None = None) -> None:
        self.storage_uri = storage_uri
        self.storage = cast(Storage, storage_from_string(storage_uri))
        self.limiter = MovingWindowRateLimiter(self.storage)
        lim = limits or Limits()
        self._account: RateLimitItem = parse(lim.login_per_account)
        self._ip: RateLimitItem = parse(lim.login_per_ip)
        self._signup: RateLimitItem = parse(lim.signup_per_ip)
        self._social: dict[str, RateLimitItem] = {
            "share": parse(lim.shares_per_user), "follow": parse(lim.follows_per_user),
            "like": parse(lim.likes_per_user), "list": parse(lim.list_writes_per_user),
            "click": parse(lim.clicks_per_user)}

    @classmethod
    def from_url(cls, redis_url: str | None) -> Throttle:
        """In memory without ``redis_url``, else in that Redis."""
        return cls(redis_url or "memory://")

    def _refuse_if_spent(self, item: RateLimitItem, *keys: str) -> None:
        if not self.limiter.test(item, *keys):
            reset_at, _remaining = self.limiter.get_window_stats(item, *keys)
            wait = max(1, math.ceil(reset_at - time.time()))
            raise RateLimited(f"too many attempts; try again in {wait} s", retry_after=wait)

    def check_login(self, account: str, ip: str) -> None:
        """Refuse a login attempt when the account's or the address's failures are spent.

        Raises:
            RateLimited: with the seconds until the oldest counted failure leaves the window.
        """
        self._refuse_if_spent(self._account, "login-account", account.casefold())
        self._refuse_if_spent(self._ip, "login-ip", ip)

    def failed_login(self, account: str, ip: str) -> None:
        """Count one failed login against the account name and the address."""
        self.limiter.hit(self._account, "login-account", account.casefold())
        self.limiter.hit(self._ip, "login-ip", ip)

    def signup(self, ip: str) -> None:
        """Count one sign-up from ``ip``.

        Raises:
            RateLimited: the address created too many accounts in the window.
        """
        self._refuse_if_spent(self._signup, "signup-ip", ip)
        self.limiter.hit(self._signup, "signup-ip", ip)

    def social(self, kind: SocialKind, user_id: int) -> None:
        """Count one write of a member: a share, a follow change, a like change, a list write or a reported click.

        Args:
            kind: ``share``, ``follow``, ``like``, ``list`` or ``click`` (each has its own window in :class:`Limits`).
            user_id: the member writing.

        Raises:
            RateLimited: the member used up the window (``retry_after`` seconds until it frees).
        """
        item = self._social[kind]
        self._refuse_if_spent(item, f"social-{kind}", str(user_id))
        self.limiter.hit(item, f"social-{kind}", str(user_id))

    def reset(self) -> None:
        """Forget every count (tests, or an operator after an incident)."""
        self.storage.reset()
