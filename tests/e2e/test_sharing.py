"""Sharing in a real browser: Debian's chromium driven by Playwright against uvicorn on 127.0.0.1.

Member A shares a film with a note as a public link and makes a public list
with notes; member B follows A and sees both in the feed; a logged-out
visitor opens A's link and sees the film, the note and the OpenGraph tags; A
withdraws the link and the visitor gets the "withdrawn" page (410).
Screenshots of the feed, a list (as a member and as its owner), the public
share page, the film page after sharing, a profile, notifications, the public
lists and "my shares", in English and Chinese, at phone (390x844) and desktop
(1280x900) width, go to ``test-artifacts/screenshots/sharing-*.png``.

Uses the server of :mod:`tests.e2e.test_browser` (ml-latest-small with its
offline metadata and an item-kNN model); needs ``apt-get install chromium``
and ``pip install playwright``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from tests.e2e.test_browser import (  # noqa: F401 - server is a fixture used by the tests below
    CHROMIUM,
    DESKTOP,
    LAUNCH_ARGS,
    PASSWORD,
    PHONE,
    SHOTS,
    _new_page,
    _set_language,
    server,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NOTE = "Still the best animated film ever made: watch it with the whole family."
LIST_TITLE = "Films that made me love cinema"
#: Films for the list (a title search and its first, most rated, result), with a note each.
LIST_FILMS = [("Toy Story", "Where it all started for me."), ("Shawshank", "Hope, patience and a poster on the wall."),
              ("Pulp Fiction", "Watch the diner scenes twice.")]


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """Debian's chromium through Playwright; keeps the screenshots the other browser tests took."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: apt-get install chromium (CI installs it in .ci/run)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install playwright (the dev extra has it)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("sharing-*.png"):
        old.unlink()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield b
        b.close()


def _sign_up(page: object, name: str) -> None:
    page.goto("/signup")  # type: ignore[attr-defined]
    page.fill("#su-username", name)  # type: ignore[attr-defined]
    page.fill("#su-email", f"{name}@example.org")  # type: ignore[attr-defined]
    page.fill("#su-password", PASSWORD)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign up").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r".*/welcome$"))  # type: ignore[attr-defined]


def _film_id(page: object, query: str) -> str:
    """The id of the most rated film whose title matches ``query`` (through the site's search)."""
    page.goto(f"/movies?q={query}&sort=popular")  # type: ignore[attr-defined]
    href = page.locator(".grid a.card-link").first.get_attribute("href")  # type: ignore[attr-defined]
    assert href, query
    return str(href).rsplit("/", 1)[1]


def _meta(page: object, key: str) -> str:
    attr = "name" if key.startswith("twitter:") else "property"
    value = page.locator(f"head meta[{attr}='{key}']").get_attribute("content")  # type: ignore[attr-defined]
    assert value is not None, key
    return str(value)


def _check_fits(page: object, what: str) -> None:
    broken = page.evaluate(  # type: ignore[attr-defined]
        "() => [...document.images].filter(i => i.complete && i.naturalWidth === 0).length")
    assert broken == 0, f"{what}: broken images"
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")  # type: ignore[attr-defined]
    assert overflow <= 1, f"{what} is wider than the screen by {overflow}px"


def test_share_follow_feed_public_link_and_withdrawal(server: str, chromium: object) -> None:  # noqa: F811
    dialogs: list[str] = []
    stamp = int(time.time())
    name_a, name_b = f"ada{stamp}", f"ben{stamp}"
    # A shares a film with a note, as a public link
    a = _new_page(chromium, server, DESKTOP, dialogs=dialogs)
    _sign_up(a, name_a)
    a.goto("/movies/1")  # type: ignore[attr-defined]
    film_title = a.locator("h1").first.inner_text().split(" (")[0]  # type: ignore[attr-defined]
    a.locator("form.rate-form label[for='my-10']").click()  # type: ignore[attr-defined]
    a.wait_for_selector("form.rate-form input[value='5']:checked")  # type: ignore[attr-defined]
    a.fill("#share-note", NOTE)  # type: ignore[attr-defined]
    a.check("input[name=audience][value=public]")  # type: ignore[attr-defined]
    a.get_by_role("button", name="Share", exact=True).click()  # type: ignore[attr-defined]
    a.wait_for_url(re.compile(r".*/movies/1\?shared=\d+#share$"))  # type: ignore[attr-defined]
    shared_url = a.url  # type: ignore[attr-defined]
    link = a.locator(".shared-box input[data-select]").input_value()  # type: ignore[attr-defined]
    assert re.fullmatch(rf"{re.escape(server)}/s/[A-Za-z0-9_-]{{43}}", link), link
    # ... and makes a public list with a note on each film
    a.goto("/lists/new")  # type: ignore[attr-defined]
    a.fill("#new-title", LIST_TITLE)  # type: ignore[attr-defined]
    a.fill("#new-desc", "Ten years of evenings at the cinema, in the order I saw them.")  # type: ignore[attr-defined]
    a.get_by_role("button", name="Create the list").click()  # type: ignore[attr-defined]
    a.wait_for_url(re.compile(r".*/lists/\d+$"))  # type: ignore[attr-defined]
    list_url = a.url  # type: ignore[attr-defined]
    film_ids = [_film_id(a, query) for query, _ in LIST_FILMS]
    for movie_id, (query, note) in zip(film_ids, LIST_FILMS, strict=True):
        # find the film by title in the owner's box, add it, then write its note
        a.goto(list_url)  # type: ignore[attr-defined]
        a.fill("#add-find", query)  # type: ignore[attr-defined]
        a.get_by_role("button", name="Find", exact=True).click()  # type: ignore[attr-defined]
        a.wait_for_selector(".find-results")  # type: ignore[attr-defined]
        a.locator(f".find-results form:has(input[name=movie_id][value='{movie_id}']) button").click()  # type: ignore[attr-defined]
        a.wait_for_load_state()  # type: ignore[attr-defined]
        entry = a.locator(f".entries .entry:has(form[action$='/items/{movie_id}/note'])")  # type: ignore[attr-defined]
        entry.locator("details.entry-edit summary").click()
        entry.locator("textarea[name=note]").fill(note)
        entry.get_by_role("button", name="Save note").click()
        a.wait_for_load_state()  # type: ignore[attr-defined]
    assert a.locator(".entries .entry").count() == len(LIST_FILMS)  # type: ignore[attr-defined]
    assert a.locator(".entry-note").all_inner_texts() == [n for _, n in LIST_FILMS]  # type: ignore[attr-defined]
    # B follows A and sees both in the feed
    b = _new_page(chromium, server, DESKTOP, dialogs=dialogs)
    _sign_up(b, name_b)
    b.goto(f"/u/{name_a}")  # type: ignore[attr-defined]
    b.get_by_role("button", name="+ Follow").click()  # type: ignore[attr-defined]
    b.wait_for_load_state()  # type: ignore[attr-defined]
    assert b.get_by_role("button", name="✓ Following").is_visible()  # type: ignore[attr-defined]
    b.goto("/feed")  # type: ignore[attr-defined]
    feed = b.locator("#feed")  # type: ignore[attr-defined]
    shared_item = feed.locator(".feed-item", has_text=NOTE)
    assert shared_item.count() == 1 and film_title in shared_item.inner_text()
    assert shared_item.locator(f"a[href='/u/{name_a}']").count() == 1
    assert feed.locator(".feed-item", has_text=LIST_TITLE).count() >= 1
    # A sees B's follow as a notification
    a.goto("/")  # type: ignore[attr-defined]
    assert a.locator(".nav-bell .count").inner_text() == "1"  # type: ignore[attr-defined]
    # a logged-out visitor opens the link: the film, the note and the OpenGraph tags
    visitor = _new_page(chromium, server, DESKTOP, dialogs=dialogs)
    response = visitor.goto(link)  # type: ignore[attr-defined]
    assert response.status == 200
    assert visitor.locator(".shared-film h1").inner_text().startswith(film_title)  # type: ignore[attr-defined]
    assert visitor.locator(".shared-note").inner_text() == NOTE  # type: ignore[attr-defined]
    assert visitor.get_by_role("link", name="Sign up, it is free").is_visible()  # type: ignore[attr-defined]
    assert _meta(visitor, "og:title").startswith(film_title)
    assert _meta(visitor, "og:description") == NOTE and _meta(visitor, "og:url") == link
    assert _meta(visitor, "twitter:card") == "summary_large_image"
    image = _meta(visitor, "og:image")
    assert image.startswith(("https://image.tmdb.org/", f"{server}/static/"))
    if image.startswith(server):
        assert visitor.request.get(image).status == 200  # type: ignore[attr-defined]
    # screenshots of the feed, the list, the public page and the film page after sharing
    cookies_a = a.context.cookies()  # type: ignore[attr-defined]
    cookies_b = b.context.cookies()  # type: ignore[attr-defined]
    shots = {"feed": (cookies_b, "/feed"), "list": (cookies_b, list_url), "list-owner": (cookies_a, list_url),
             "share-public": (None, link), "film-shared": (cookies_a, shared_url.split("#")[0]),
             "member": (cookies_b, f"/u/{name_a}"), "notifications": (cookies_a, "/notifications"),
             "lists": (None, "/lists"), "my-shares": (cookies_a, "/me/shares")}
    for locale in ("en", "zh_CN"):
        for width_name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            for shot, (cookies, url) in shots.items():
                p = _new_page(chromium, server, viewport, cookies=cookies, dialogs=dialogs)
                p.goto(url)  # type: ignore[attr-defined]
                _set_language(p, locale)
                p.goto(url)  # type: ignore[attr-defined]
                _check_fits(p, f"{shot} ({width_name}, {locale})")
                p.screenshot(path=str(SHOTS / f"sharing-{shot}-{locale}-{width_name}.png"),  # type: ignore[attr-defined]
                             full_page=True)
                p.context.close()  # type: ignore[attr-defined]
    # A withdraws the link: the visitor gets the "withdrawn" page
    a.goto("/me/shares")  # type: ignore[attr-defined]
    _set_language(a, "en")  # the screenshots left A's interface in Chinese
    a.locator(".share-row", has_text=film_title).get_by_role("button", name="Withdraw").click()  # type: ignore[attr-defined]
    a.wait_for_load_state()  # type: ignore[attr-defined]
    assert a.locator(".share-row", has_text=film_title).locator(".badge").inner_text() == "Withdrawn"  # type: ignore[attr-defined]
    response = visitor.goto(link)  # type: ignore[attr-defined]
    assert response.status == 410
    assert visitor.locator("h2").first.inner_text() == "This link was withdrawn"  # type: ignore[attr-defined]
    assert NOTE not in visitor.content() and visitor.locator("meta[property='og:title']").count() == 0  # type: ignore[attr-defined]
    visitor.screenshot(path=str(SHOTS / "sharing-withdrawn-en-desktop.png"), full_page=True)  # type: ignore[attr-defined]
    assert visitor.goto(link[:-5] + "AAAAA").status == 404  # type: ignore[attr-defined]
    assert dialogs == []
    assert len(list(SHOTS.glob("sharing-*.png"))) == len(shots) * 4 + 1
    for pg in (a, b, visitor):
        pg.context.close()  # type: ignore[attr-defined]
