"""Translatable labels for values that come from data or from the engine.

Genre names, the recommender's reasons and the service's error messages are
English strings made outside the templates; the functions here turn them
into the viewer's language. :func:`N_` marks a message for extraction
without translating it (the catalog gets it, the page translates it later).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cinerec.errors import (
    AuthenticationFailed,
    CinerecError,
    Conflict,
    InvalidParameter,
    NotFound,
    RateLimited,
)

Gettext = Callable[..., str]


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    """Mark ``message`` for extraction; returns it unchanged."""
    return message


def _marks(_: Gettext) -> None:
    """Messages translated later by value; never called (pybabel extracts the ``_()`` calls)."""
    # MovieLens genres (ML-100K, ml-latest-small)
    _("Action"), _("Adventure"), _("Animation"), _("Children"), _("Children's"), _("Comedy"), _("Crime")
    _("Documentary"), _("Drama"), _("Fantasy"), _("Film-Noir"), _("Horror"), _("IMAX"), _("Musical"), _("Mystery")
    _("Romance"), _("Sci-Fi"), _("Thriller"), _("War"), _("Western"), _("unknown"), _("(no genres listed)")
    # the content model's attribute labels
    _("genres"), _("people"), _("tags"), _("plot words"), _("era"), _("same director/cast")


def genre(name: str, _: Gettext) -> str:
    """A genre name in the viewer's language (unknown names unchanged)."""
    return _(name)


def reason(r: Any, _: Gettext) -> str:
    """One recommendation reason (a :class:`~cinerec.web.schemas.ReasonOut`) as a sentence in the viewer's language."""
    title = getattr(r, "movie_title", None)
    rating = getattr(r, "rating", None)
    kind = getattr(r, "kind", "")
    text = str(getattr(r, "text", "") or "")
    username = getattr(r, "username", None)
    if kind == "shared_by" and username:
        return _("shared by @{name}", name=username)
    if kind == "following" and username:
        n = int(getattr(r, "count", None) or 1)
        if n > 1:
            return _("liked by @{name} and {n} more you follow", name=username, n=n - 1)
        return _("liked by @{name}, whom you follow", name=username)
    if kind == "similar_audience" and title:
        return _("liked by the people who liked {title}", title=title)
    if title and rating is not None:
        return _("because you rated {title} {rating}★", title=title, rating=_stars_number(rating))
    if title:
        return _("because {title} is on your lists", title=title)
    if kind == "popular":
        digits = "".join(c for c in text if c.isdigit())
        return _("Popular: {n} ratings", n=digits) if digits else _("Popular")
    if kind == "similar_users":
        digits = "".join(c for c in text.split(" ")[0] if c.isdigit())
        return _("{n} people with similar taste liked it", n=digits) if digits else _("People with similar taste liked it")
    if kind == "attribute" and ": " in text:
        label, _sep, values = text.partition(": ")
        return _("{label}: {values}", label=_(label), values=values)
    return _("Recommended for you")


def _stars_number(value: float) -> str:
    return f"{value:g}"


def error_message(exc: CinerecError, _: Gettext) -> str:
    """A service error from a form as a sentence in the viewer's language."""
    if isinstance(exc, RateLimited):
        return _("Too many attempts. Try again in {n} seconds.", n=exc.retry_after)
    if isinstance(exc, AuthenticationFailed):
        field = (exc.details or {}).get("field")
        if field in ("current_password", "password"):
            return _("The password is wrong.")
        return _("Wrong username or password.")
    if isinstance(exc, Conflict):
        return _("That username or email is already taken.")
    if isinstance(exc, NotFound):
        return _("That film or item does not exist.")
    if isinstance(exc, InvalidParameter):
        fields = (exc.details or {}).get("fields") or [{}]
        first = fields[0] if isinstance(fields[0], dict) else {}
        loc = first.get("loc") or ["", ""]
        name, reason_code = str(loc[-1]), str(first.get("type", ""))
        if name in ("password", "new_password"):
            return {
                "too_short": _("The password must be at least 8 characters."),
                "too_long": _("The password must be at most 256 characters."),
                "common": _("That password is too common. Choose another."),
                "username": _("The password must not be your username."),
            }.get(reason_code, _("Choose another password."))
        if name == "username":
            return _("A username has 3–32 letters, digits, '_', '.' or '-', and starts with a letter or digit.")
        if name == "email":
            return _("That is not an email address.")
        if name == "display_name":
            return _("A display name has at most 100 characters.")
        if name == "rating":
            return _("A rating is 0.5 to 5 stars, in half stars.")
        if name == "text":
            return _("Write some text (at most 10,000 characters).")
        if name == "confirm":
            return _("Tick the box to confirm.")
        if name == "file":
            return _("Upload a dataset as .zip, .csv, .tsv, .dat, .data or .txt.")
        return _("Check the form and try again.")
    return _("Something went wrong. Try again.")
