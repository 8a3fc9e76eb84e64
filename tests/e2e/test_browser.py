"""The site in a real browser: Debian's chromium driven by Playwright against uvicorn on 127.0.0.1.

A visitor signs up, rates films in onboarding, sees "For you", rates one more
film and sees the list change, switches the interface to Chinese and writes a
review in Chinese, logs out and cannot reach their settings. TESTPLAN S7 in
the browser: script-like reviews show as text and no dialog ever opens.
Screenshots of the main pages, in English and Chinese, at phone (390x844)
and desktop (1280x900) width, go to ``test-artifacts/screenshots/``.

Needs ``apt-get install chromium`` and ``pip install playwright`` (never
``playwright install``); the data is ml-latest-small with the offline
metadata (TMDB CSV overviews, HetRec directors) and an item-kNN model.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.site_server import running_site

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = Path(os.environ.get("CINEREC_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
PASSWORD = "correct horse battery staple 42"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Iterator[str]:
    """uvicorn serving a prepared home: ml-latest-small, its offline metadata, item-kNN, an admin account."""
    from cinerec.cli.serve import offline_metadata
    from cinerec.config import Settings
    from cinerec.data.readers import read_dataset
    from cinerec.data.readers.metadata import read_metadata
    from cinerec.service.accounts import create_user
    from cinerec.service.registry import ModelRegistry
    from cinerec.service.training import train_from_store
    from cinerec.store.db import make_engine
    from cinerec.store.importer import import_dataset
    from cinerec.store.metadata import import_metadata
    from cinerec.store.migrate import upgrade

    home = tmp_path_factory.mktemp("browser-home")
    s = Settings(home=home, data_dir=datasets)
    upgrade(s.resolved_database_url)
    eng = make_engine(s.resolved_database_url)
    ds = read_dataset(datasets / "ml-latest-small")
    import_dataset(eng, ds)
    for meta in offline_metadata(datasets / "ml-latest-small", datasets):
        import_metadata(eng, read_metadata(meta), source=ds.name if meta.is_dir() else None)
    train_from_store(eng, ModelRegistry(s.models_dir), "item-knn")
    create_user(eng, "admin", PASSWORD, is_admin=True)
    eng.dispose()
    with running_site(home, datasets, home / "server.log") as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's chromium through Playwright (fails with a clear message when either is missing)."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: apt-get install chromium (CI installs it in .ci/run)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install playwright (the dev extra has it)")
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    SHOTS.mkdir(parents=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield b
        b.close()


def _shoot(page: object, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def _new_page(browser: object, base: str, viewport: dict[str, int], cookies: list[dict[str, object]] | None = None,
              dialogs: list[str] | None = None) -> object:
    ctx = browser.new_context(base_url=base, viewport=viewport, locale="en-US")  # type: ignore[attr-defined]
    if cookies:
        ctx.add_cookies(cookies)
    page = ctx.new_page()
    if dialogs is not None:
        def on_dialog(d: object) -> None:
            dialogs.append(d.message)  # type: ignore[attr-defined]
            d.dismiss()  # type: ignore[attr-defined]
        page.on("dialog", on_dialog)
    return page


def _for_you_ids(page: object) -> list[str]:
    hrefs = page.locator("#for-you a.card-link").evaluate_all("els => els.map(e => e.getAttribute('href'))")  # type: ignore[attr-defined]
    return [h.rsplit("/", 1)[1] for h in hrefs]


def _set_language(page: object, locale: str) -> None:
    """Use the header's language switch when the page is not in ``locale`` yet."""
    want = "zh-Hans" if locale == "zh_CN" else "en"
    if page.locator("html").get_attribute("lang") != want:  # type: ignore[attr-defined]
        page.locator(f"form.lang button[value={locale}]").click()  # type: ignore[attr-defined]
        page.wait_for_load_state()  # type: ignore[attr-defined]
    assert page.locator("html").get_attribute("lang") == want  # type: ignore[attr-defined]


def test_member_journey_in_a_real_browser(server: str, browser: object) -> None:
    dialogs: list[str] = []
    page = _new_page(browser, server, DESKTOP, dialogs=dialogs)
    # a visitor arrives and signs up
    page.goto("/")
    assert page.locator("h1").first.inner_text() == "Find films you will love"
    page.get_by_role("link", name="Sign up", exact=True).first.click()
    name = f"e2e{int(time.time())}"
    page.fill("#su-username", name)
    page.fill("#su-email", f"{name}@example.org")
    page.fill("#su-password", PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(r".*/welcome$"))
    # onboarding: rate six films with the half-star widget (clicking the star halves)
    cards = page.locator(".rate-grid .card")
    assert cards.count() >= 10
    for i, half_stars in enumerate([10, 9, 8, 7, 2, 6]):
        cards.nth(i).locator(f"label[for$='-{half_stars}']").click()
    assert page.locator(".rate-grid input:checked").count() == 6
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url(re.compile(r".*/welcome/people$"))  # onboarding's last step: people with the same taste
    assert page.locator(".taste-person").count() >= 1
    page.get_by_role("link", name="Continue to my recommendations").click()
    page.wait_for_url(re.compile(r".*/for-you$"))
    assert page.locator("#for-you .why").first.inner_text().startswith("because you rated")
    first = _for_you_ids(page)
    assert len(first) >= 10
    # rate the top recommendation: the widget saves on click (site.js), and the list changes at once
    page.goto(f"/movies/{first[0]}")
    page.locator("form.rate-form label[for='my-3']").click()
    page.wait_for_load_state()
    page.wait_for_selector("form.rate-form input[value='1.5']:checked")
    page.goto("/for-you")
    second = _for_you_ids(page)
    assert first[0] not in second and second != first
    page.goto("/")
    assert page.get_by_role("heading", name="For you").is_visible()
    assert page.get_by_role("heading", name=re.compile("^Because you liked")).is_visible()
    # the interface in Chinese, then a review in Chinese
    _set_language(page, "zh_CN")
    page.goto(f"/movies/{second[0]}")
    assert page.get_by_role("button", name="+ 想看").is_visible() and page.get_by_role("button", name="+ 看过").is_visible()
    page.get_by_role("button", name="+ 想看").click()
    page.wait_for_load_state()
    assert page.get_by_role("button", name="✓ 想看").is_visible()
    review = "画面很美，故事也很感人，强烈推荐给大家！"
    page.fill("#review-text", review)
    page.select_option("#review-rating", "4.5")
    page.get_by_role("button", name="发布").click()
    page.wait_for_load_state()
    assert page.locator(".reviews li", has_text=review).is_visible()
    assert page.locator(".reviews li[lang='zh-Hans']", has_text=review).count() == 1
    # S7: what looks like markup is shown as text and never runs
    for text in ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>'):
        page.fill("#review-text", text)
        page.get_by_role("button", name="发布").click()
        page.wait_for_load_state()
        assert page.locator(".review-text", has_text=text).first.inner_text() == text
    page.reload()
    page.wait_for_timeout(300)
    assert dialogs == []
    assert page.locator(".reviews img").count() == 0
    # log out through the account menu; settings are out of reach afterwards
    page.locator("details.menu summary").click()
    page.get_by_role("button", name="退出").click()
    page.wait_for_load_state()
    page.goto("/settings")
    assert re.search(r"/login\?next=%2Fsettings$|/login\?next=/settings$", page.url)
    assert page.locator("#li-password").is_visible()
    page.context.close()


def test_screenshots_of_the_main_pages(server: str, browser: object) -> None:
    """Each main page in English and Chinese at phone and desktop width (look at them)."""
    # a member with some history, and the admin
    page = _new_page(browser, server, DESKTOP)
    member = f"shots{int(time.time())}"
    page.goto("/signup")
    page.fill("#su-username", member)
    page.fill("#su-email", f"{member}@example.org")
    page.fill("#su-password", PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(r".*/welcome$"))
    cards = page.locator(".rate-grid .card")
    for i, half_stars in enumerate([10, 8, 9, 6, 7, 10, 4, 8]):
        cards.nth(i).locator(f"label[for$='-{half_stars}']").click()
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url(re.compile(r".*/welcome/people$"))
    page.goto("/for-you")
    film = _for_you_ids(page)[0]
    page.goto(f"/movies/{film}")
    page.fill("#review-text", "Smart, funny and beautifully shot. One of the best of its decade.")
    page.get_by_role("button", name="Publish").click()
    page.wait_for_load_state()
    member_cookies = page.context.cookies()
    page.context.close()
    admin = _new_page(browser, server, DESKTOP)
    admin.goto("/login")
    admin.fill("#li-username", "admin")
    admin.fill("#li-password", PASSWORD)
    admin.get_by_role("button", name="Log in").click()
    admin.wait_for_load_state()
    admin_cookies = admin.context.cookies()
    admin.context.close()

    pages = {"home-visitor": (None, "/"), "home-member": (member_cookies, "/"),
             "movie": (member_cookies, f"/movies/{film}"), "onboarding": (member_cookies, "/welcome"),
             "settings": (member_cookies, "/settings"), "my-ratings": (member_cookies, "/me/ratings"),
             "for-you": (member_cookies, "/for-you"), "admin-models": (admin_cookies, "/admin/models")}
    for locale in ("en", "zh_CN"):
        for width_name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            for shot, (cookies, url) in pages.items():
                p = _new_page(browser, server, viewport, cookies=cookies)
                p.goto(url)
                _set_language(p, locale)
                p.goto(url)
                assert p.locator("html").get_attribute("lang") == ("zh-Hans" if locale == "zh_CN" else "en")
                broken = p.evaluate("() => [...document.images].filter(i => i.complete && i.naturalWidth === 0).length")
                assert broken == 0, f"{shot}: broken images"
                overflow = p.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 1, f"{shot} ({width_name}, {locale}) is wider than the screen by {overflow}px"
                _shoot(p, f"{shot}-{locale}-{width_name}")
                p.context.close()
    assert len(list(SHOTS.glob("*.png"))) == len(pages) * 4
