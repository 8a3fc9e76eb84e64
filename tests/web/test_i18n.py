"""Translations: every message in the source has a Chinese translation; the locale is negotiated as documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from cinerec.web import i18n

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "ngettext": (1, 2)}


def source_messages() -> set[str | tuple[str, ...]]:
    """Every message id used in the package's Python and templates, extracted as pybabel does."""
    found: set[str | tuple[str, ...]] = set()
    method_map = [("web/templates/**.html", "jinja2"), ("**.py", "python")]
    for _file, _line, msg, _comments, _ctx in extract_from_dir(ROOT / "src" / "cinerec", method_map=method_map,
                                                               keywords=KEYWORDS):
        found.add(msg)
    return found


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_catalog_has_every_source_message(locale: str) -> None:
    with i18n.catalog_path(locale).open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    ids = {m.id for m in catalog if m.id}
    missing = [m for m in source_messages() if m not in ids]
    assert not missing, f"{locale}: {len(missing)} messages not in the catalog (run pybabel extract/update): {missing[:5]}"
    if locale != i18n.DEFAULT:
        untranslated = [m.id for m in catalog if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))]
        assert not untranslated, f"{locale}: untranslated: {untranslated[:5]}"
        fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
        assert not fuzzy, f"{locale}: fuzzy translations need review: {fuzzy[:5]}"


def test_source_uses_translatable_messages() -> None:
    assert len(source_messages()) > 0


@pytest.mark.parametrize(("member", "cookie", "header", "expected"), [
    (None, None, None, "en"),
    (None, None, "zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
    (None, None, "fr-FR,zh;q=0.5,en;q=0.4", "zh_CN"),
    (None, None, "en-GB,en;q=0.9", "en"),
    (None, None, "zh-TW", "en"),  # Traditional Chinese is not offered: English rather than the wrong script
    (None, None, "de, *;q=0.1", "en"),
    (None, "zh_CN", "en-US", "zh_CN"),
    ("en", "zh_CN", "zh-CN", "en"),
    ("zh_CN", None, "en", "zh_CN"),
    (None, "klingon", "zh-Hans-CN", "zh_CN"),
    (None, None, "zh;q=abc, en;q=0.3", "en"),
])
def test_negotiation_order(member: str | None, cookie: str | None, header: str | None, expected: str) -> None:
    assert i18n.negotiate(member, cookie, header) == expected


def test_formatting_follows_the_locale() -> None:
    from datetime import date

    assert i18n.format_number(1234.5, "en", 1) == "1,234.5"
    assert "2026" in i18n.format_when(date(2026, 11, 30), "zh_CN") and "月" in i18n.format_when(date(2026, 11, 30), "zh_CN")
    assert i18n.format_when(date(2026, 11, 30), "en") == "Nov 30, 2026"
