"""Translations for pages and messages: English and Simplified Chinese.

Catalogs are gettext ``.po`` files under ``web/i18n/<locale>/LC_MESSAGES``
(``messages.pot`` is the extracted template: ``pybabel extract -F
babel.cfg``). They are compiled in memory the first time a locale is used,
so a source checkout and an installed wheel behave the same and no build
step can be forgotten.

The locale of a request is, in order: the member's own setting, the
``lang`` cookie set by the language switch, the browser's
``Accept-Language``, then English.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

HERE = Path(__file__).parent
#: Locales the site speaks, the default first.
LOCALES: tuple[str, ...] = ("en", "zh_CN")
DEFAULT = LOCALES[0]
#: The cookie the language switch sets.
COOKIE = "lang"
#: ``<html lang>`` values.
HTML_LANG = {"en": "en", "zh_CN": "zh-Hans"}
LABELS = {"en": "English", "zh_CN": "简体中文"}


def catalog_path(locale: str) -> Path:
    """The ``.po`` file of ``locale``."""
    return HERE / locale / "LC_MESSAGES" / "messages.po"


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> Translations:
    """The compiled catalog of ``locale`` (English falls back to the message ids)."""
    if locale not in LOCALES:
        locale = DEFAULT
    with catalog_path(locale).open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf, domain="messages")


def normalise(tag: str | None) -> str | None:
    """A supported locale for a language tag (``zh``, ``zh-CN``, ``zh-Hans-CN``, ``en-GB`` …), else ``None``."""
    if not tag:
        return None
    try:
        loc = Locale.parse(tag.strip().replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return None
    if loc.language == "zh" and loc.script in (None, "Hans") and loc.territory in (None, "CN", "SG"):
        return "zh_CN"
    if loc.language == "en":
        return "en"
    return None


def from_accept_language(header: str | None) -> str | None:
    """The best supported locale of an ``Accept-Language`` header (quality values honoured)."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for pos, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        loc = normalise(tag)
        if loc and q > 0:
            ranked.append((-q, pos, loc))
    return min(ranked)[2] if ranked else None


def negotiate(member_setting: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The locale of a request: member setting, then cookie, then the browser, then English."""
    return normalise(member_setting) or normalise(cookie) or from_accept_language(accept_language) or DEFAULT


def gettext_for(locale: str) -> Callable[..., str]:
    """``_("Hello {name}", name=...)``: translate, then fill ``str.format`` fields."""
    t = translations(locale)

    def _(message: str, **fields: Any) -> str:
        text = t.gettext(message)
        return text.format(**fields) if fields else text

    return _


def ngettext_for(locale: str) -> Callable[..., str]:
    """Plural-aware ``ngettext(singular, plural, n, **fields)``; ``{n}`` is always available."""
    t = translations(locale)

    def ngettext(singular: str, plural: str, n: float, **fields: Any) -> str:
        # gettext plural rules take integers: 1 is "one", any other amount (0.5, 1.5 stars) is "many"
        count = n if isinstance(n, int) else (1 if n == 1 else 2)
        return t.ngettext(singular, plural, count).format(n=format_number(n, locale), **fields)

    return ngettext


@lru_cache(maxsize=8192)
def format_number(value: float | int, locale: str, digits: int | None = None) -> str:
    """A number in the locale's notation (``1,234.5``); memoised (pages format the same counts again and again)."""
    fmt = None if digits is None else "#,##0." + "0" * digits if digits else "#,##0"
    return str(format_decimal(value, format=fmt, locale=locale))


def format_when(value: date | datetime | None, locale: str) -> str:
    """A date (or date-time) in the locale's medium format: ``Nov 30, 2026`` / ``2026年11月30日``."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return str(format_datetime(value, format="medium", locale=locale))
    return str(format_date(value, format="medium", locale=locale))


#: How long ago something may be and still be told as "3 hours ago"; older things show their date.
RELATIVE_UNTIL = timedelta(days=7)


def format_ago(value: datetime | None, locale: str, now: datetime | None = None) -> str:
    """A recent moment relative to now in the locale (``3 hours ago`` / ``3小时前``); after a week, its date.

    Naive date-times (SQLite gives them back so) are taken as UTC.
    """
    if value is None:
        return ""
    when = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    delta = when - (now or datetime.now(UTC))
    if -delta >= RELATIVE_UNTIL:
        return format_when(when.date(), locale)
    delta = min(delta, timedelta(seconds=-1))  # a clock a little ahead must not say "in 2 seconds"
    return str(format_timedelta(delta, add_direction=True, threshold=1.1, locale=locale))


def template_globals(locale: str) -> dict[str, Any]:
    """What every template gets for ``locale``: ``_``, ``ngettext``, formatters and the ``<html lang>``.

    ``fmt_date`` shows the day only (also for date-times); ``fmt_datetime`` adds the time; ``fmt_ago``
    says how long ago a recent date-time was (see :func:`format_ago`).
    """
    return {
        "_": gettext_for(locale), "ngettext": ngettext_for(locale), "locale": locale, "html_lang": HTML_LANG[locale],
        "locales": LABELS, "fmt_number": lambda v, d=None: format_number(v, locale, d),
        "fmt_date": lambda v: format_when(v.date() if isinstance(v, datetime) else v, locale),
        "fmt_datetime": lambda v: format_when(v, locale),
        "fmt_ago": lambda v: format_ago(v, locale),
    }
