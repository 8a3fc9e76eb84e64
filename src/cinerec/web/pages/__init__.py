"""Server-rendered HTML pages (Jinja2, autoescaped), in English and Simplified Chinese.

One router per area: :mod:`.catalogue` (home, browse, films, map),
:mod:`.account` (sign-up, login, settings, language, onboarding),
:mod:`.social` (feed, notifications, follows, shares, likes, profiles),
:mod:`.lists` (members' lists of films), :mod:`.members` (for you,
ratings, marks, reviews, watchlist) and :mod:`.admin`. The social and list
routers come before the members one: their paths (``/me/lists``,
``/movies/{id}/share``) would otherwise match its ``/me/{kind}`` and
``/movies/{id}/{kind}``. :func:`~cinerec.web.pages._render.page_context` gives every
template the viewer, the locale's ``_`` and the CSRF token.
"""

from __future__ import annotations

from fastapi import APIRouter

from cinerec.web.deps import SessionRoute
from cinerec.web.pages import account, admin, catalogue, lists, members, social
from cinerec.web.pages._render import page_context

router = APIRouter(route_class=SessionRoute, include_in_schema=False)
router.include_router(catalogue.router)
router.include_router(account.router)
router.include_router(social.router)
router.include_router(lists.router)
router.include_router(members.router)
router.include_router(admin.router)

__all__ = ["page_context", "router"]
