"""Issue 12 on the admin pages: list, create, start / ramp / stop an experiment, read its report and plot.

Its own site (ML-100K with item-kNN active and popularity published beside
it), so a running experiment never reaches the members site of the other
tests. The last test clicks a recommended film in a real browser and checks
that the click beacon stored the event.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cinerec.config import Settings
from cinerec.service import accounts
from cinerec.service import experiments as exps
from cinerec.service.accounts import create_user
from cinerec.store.db import transaction
from cinerec.store.models import Event, User
from tests.e2e.site_server import running_site
from tests.web.conftest import PASSWORD, member, new_name, two_version_site

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
CHROMIUM = Path(os.environ.get("CINEREC_CHROMIUM", "/usr/bin/chromium"))
Site = tuple[TestClient, str, str, Settings]


@pytest.fixture(scope="module")
def ab(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Iterator[Site]:
    """The two-version site (item-kNN active, popularity beside it); yields (client, active, other, settings)."""
    s, active, other = two_version_site(tmp_path_factory.mktemp("ab-pages-home"), datasets)
    from cinerec.web import create_app

    with TestClient(create_app(s)) as c:
        yield c, active, other, s


def _token(html: str) -> str:
    m = TOKEN_RE.search(html)
    assert m, "the page has no form with a CSRF token"
    return m.group(1)


def browser(c: TestClient, lang: str | None = None) -> TestClient:
    headers = {"accept": "text/html", **({"accept-language": lang} if lang else {})}
    return TestClient(c.app, headers=headers, follow_redirects=False)


def logged_in(c: TestClient, *, admin: bool, locale: str | None = None) -> tuple[TestClient, str]:
    """A browser logged in as a new admin (or member); returns it and a CSRF token of its session."""
    name = new_name("adm" if admin else "mem")
    user = create_user(c.app.state.engine, name, PASSWORD, is_admin=admin)
    if locale:
        accounts.update_profile(c.app.state.engine, user.id, locale=locale)
    b = browser(c)
    r = b.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": _token(b.get("/login").text),
                               "next": "/"})
    assert r.status_code == 303, r.text
    c.app.state.throttle.reset()
    return b, _token(b.get("/settings").text)


def form(name: str, active: str, other: str, **extra: object) -> dict[str, object]:
    return {"name": name, "metric": "ctr", "traffic": "100", "control": active, "treatment": other,
            "control_weight": "50", "treatment_weight": "50", "min_sample": "", "window_days": "7", **extra}


def create(b: TestClient, token: str, data: dict[str, object]) -> str:
    r = b.post("/admin/experiments", data={**data, "csrf_token": token})
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


def test_experiment_pages_are_for_admins_only(ab: Site) -> None:
    c, active, other, _s = ab
    admin, at = logged_in(c, admin=True)
    name = new_name("acl")
    create(admin, at, form(name, active, other))
    pages = ["/admin/experiments", f"/admin/experiments/{name}", f"/admin/experiments/{name}/plot.png"]
    visitor = browser(c)
    for url in pages:
        r = visitor.get(url)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), url
    mem, mt = logged_in(c, admin=False)
    for url in pages:
        assert mem.get(url).status_code == 403, url
    for url, data in (("/admin/experiments", form(new_name("no"), active, other)),
                      (f"/admin/experiments/{name}/start", {}), (f"/admin/experiments/{name}/ramp", {"traffic": "5"}),
                      (f"/admin/experiments/{name}/stop", {})):
        assert mem.post(url, data={**data, "csrf_token": mt}).status_code == 403, url
    assert exps.get(c.app.state.engine, name).status == "draft"
    assert "Experiments" in admin.get("/admin/models").text  # the admin tabs link to it


def test_admin_creates_and_reads_an_experiment_in_english_and_chinese(ab: Site) -> None:
    c, active, other, _s = ab
    admin, t = logged_in(c, admin=True)
    page = admin.get("/admin/experiments")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "New experiment" in page.text and f'value="{active}"' in page.text and f'value="{other}"' in page.text
    name = new_name("ui")
    where = create(admin, t, form(name, active, other, traffic="40", guardrails=["watchlist", "rating"],
                                  min_sample="500", window_days="3", control_weight="1", treatment_weight="3"))
    assert where == f"/admin/experiments/{name}"
    info = exps.get(c.app.state.engine, name)
    assert info.status == "draft" and info.traffic == pytest.approx(0.4) and info.min_sample == 500
    assert set(info.guardrails) == {"watchlist", "rating"} and info.window_days == 3
    assert [v.model_version for v in info.variants] == [active, other]
    assert [v.weight for v in info.variants] == pytest.approx([0.25, 0.75])
    listing = admin.get("/admin/experiments").text
    assert f"/admin/experiments/{name}" in listing and "draft" in listing and "40%" in listing
    detail = admin.get(where)
    assert detail.status_code == 200 and '<html lang="en">' in detail.text
    for text in ("Report", "Variants", "Against the control", "Start", "Ramp", "Stop", "Guardrails",
                 f"/admin/experiments/{name}/plot.png", "No member has been exposed to this experiment yet."):
        assert text in detail.text, text
    zh, _t = logged_in(c, admin=True, locale="zh_CN")
    listing_zh = zh.get("/admin/experiments").text
    assert '<html lang="zh-Hans">' in listing_zh and "A/B 实验" in listing_zh and "新建实验" in listing_zh
    assert "New experiment" not in listing_zh
    detail_zh = zh.get(where).text
    assert "报告" in detail_zh and "与对照组比较" in detail_zh and "还没有会员进入这个实验。" in detail_zh
    assert "Report" not in detail_zh


def test_bad_form_input_reshows_the_form_with_a_message(ab: Site) -> None:
    c, active, other, _s = ab
    admin, t = logged_in(c, admin=True)
    engine = c.app.state.engine
    before = len(exps.list_experiments(engine))

    def post(data: dict[str, object], status: int) -> str:
        r = admin.post("/admin/experiments", data={**data, "csrf_token": t})
        assert r.status_code == status, r.text[:500]
        assert "Traceback" not in r.text and 'id="new-experiment"' in r.text
        return r.text

    assert "An experiment&#39;s name has 1–64 letters" in post(form("<b>bold</b>", active, other), 422)
    evil = "<script>alert(1)</script>"
    page = post(form(new_name("x"), active, evil), 404)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "does not exist" in page
    page = post(form(new_name("x"), active, "no-such-version"), 404)
    assert "Model version no-such-version does not exist." in page
    assert "must be a number from 0 to 100" in post(form(new_name("x"), active, other, traffic="lots"), 422)
    assert "must be a number" in post(form(new_name("x"), active, other, treatment_weight="0"), 422)
    assert "must be a number" in post(form(new_name("x"), active, other, min_sample="2.5"), 422)
    assert "must be a number from 0 to 1" in post(form(new_name("x"), active, other, treatment_diversity="2"), 422)
    assert "Choose a metric" in post(form(new_name("x"), active, other, metric="revenue"), 422)
    assert "Choose a metric" in post(form(new_name("x"), active, other, guardrails=["<i>x</i>"]), 422)
    assert len(exps.list_experiments(engine)) == before
    varied = new_name("mmr")  # the same version, re-ranked: a model plus a re-ranking setting
    create(admin, t, form(varied, active, active, treatment_diversity="0.7"))
    assert [v.diversity for v in exps.get(engine, varied).variants] == [None, 0.7]
    assert "MMR re-ranking 0.7" in admin.get(f"/admin/experiments/{varied}").text
    name = new_name("dup")
    create(admin, t, form(name, active, other))
    page = post(form(name, active, other), 409)
    assert f"An experiment called {name} already exists." in page and f'value="{name}"' in page
    # no CSRF token: refused before anything happens
    assert admin.post("/admin/experiments", data=form(new_name("x"), active, other)).status_code == 403
    zh, zt = logged_in(c, admin=True, locale="zh_CN")
    r = zh.post("/admin/experiments", data={**form(name, active, other), "csrf_token": zt})
    assert r.status_code == 409 and f"已有名为 {name} 的实验。" in r.text


def test_start_ramp_stop_through_the_forms_and_the_report_fills(ab: Site) -> None:
    c, active, other, _s = ab
    admin, t = logged_in(c, admin=True)
    engine = c.app.state.engine
    name = new_name("run")
    url = create(admin, t, form(name, active, other, guardrails=["watchlist"]))
    assert admin.post(f"{url}/start", data={"csrf_token": t}).status_code == 303
    assert exps.get(engine, name).status == "running"
    assert name in {i.name for i in c.app.state.experiments.running}  # this process serves it at once
    # members see recommendations (exposures) and some click
    for i in range(24):
        _, h = member(c)
        recs = c.get("/api/v1/me/recommendations", headers=h).json()
        assert recs["experiment"]["name"] == name
        if i % 3 == 0:
            r = c.post("/api/v1/me/events", json={"kind": "click", "movie_id": recs["data"][0]["movie"]["id"],
                                                  "position": 0}, headers=h)
            assert r.status_code == 204
    c.app.state.experiments.exposures.flush()
    detail = admin.get(url).text
    report = exps.report(engine, name)
    assert report.users == 24
    assert "No member has been exposed" not in detail and "running" in detail
    for v in report.variants:
        assert f"<strong>{v.name}</strong>" in detail
    assert re.search(r"\d+\.\d\d%", detail)  # rates with 2 decimals

    assert admin.post(f"{url}/ramp", data={"traffic": "25", "csrf_token": t}).status_code == 303
    assert exps.get(engine, name).traffic == pytest.approx(0.25)
    r = admin.post(f"{url}/ramp", data={"traffic": "250", "csrf_token": t})
    assert r.status_code == 422 and "must be a number from 0 to 100" in r.text
    assert admin.post(f"{url}/ramp", data={"traffic": "50"}).status_code == 403  # no token
    assert admin.post(f"{url}/stop", data={"csrf_token": t}).status_code == 303
    assert exps.get(engine, name).status == "stopped"
    assert name not in {i.name for i in c.app.state.experiments.running}
    r = admin.post(f"{url}/start", data={"csrf_token": t})
    assert r.status_code == 409 and "a stopped experiment never runs again" in r.text
    r = admin.post(f"{url}/ramp", data={"traffic": "50", "csrf_token": t})
    assert r.status_code == 409 and "its traffic can no longer change" in r.text
    assert admin.post(f"{url}/explode", data={"csrf_token": t}).status_code == 422
    assert admin.get("/admin/experiments/no-such-thing").status_code == 404
    assert admin.get("/admin/experiments/%3Cb%3E").status_code == 422


def test_a_sample_ratio_mismatch_hides_every_decision(ab: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from cinerec.experiments import report as rep
    from tests.experiments.test_plot import members as outcomes

    c, active, other, _s = ab
    admin, t = logged_in(c, admin=True)
    name = new_name("srm")
    url = create(admin, t, form(name, active, other, guardrails=["watchlist"]))
    info = exps.get(c.app.state.engine, name)
    m = outcomes(4000, 5, (0.10, 0.30))
    skewed = np.where(np.arange(len(m)) % 3 == 0, 0, m.variant)  # a third of the treatment counted as control
    bad = rep.build(info.config, rep.MemberOutcomes(skewed, m.exposed_at, m.first, m.clicks, m.rating_sum,
                                                    m.rating_n, m.impressions))
    assert bad.srm_flagged and bad.hidden_reason
    monkeypatch.setattr(exps, "report", lambda *_a, **_k: bad)
    page = admin.get(url).text
    assert "Sample ratio mismatch: the decision is hidden." in page and 'class="alert bad srm"' in page
    assert "Members did not split as planned (chi-square p = " in page and "below 0.001)" in page
    for word in ("better", "worse", "inconclusive", "collecting data"):
        assert f">{word}</span>" not in page, word
    assert page.count(">hidden</span>") == 2  # the primary comparison and the guardrail


def test_the_plot_is_a_png_for_admins(ab: Site) -> None:
    c, active, other, _s = ab
    admin, t = logged_in(c, admin=True, locale="zh_CN")
    name = new_name("plot")
    url = create(admin, t, form(name, active, other))
    r = admin.get(f"{url}/plot.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.headers["cache-control"] == "no-store" and r.content.startswith(b"\x89PNG\r\n\x1a\n")
    mem, _ = logged_in(c, admin=False)
    assert mem.get(f"{url}/plot.png").status_code == 403
    assert admin.get("/admin/experiments/no-such-thing/plot.png").status_code == 404


def test_recommended_films_carry_the_click_beacon(ab: Site) -> None:
    c, _active, _other, _s = ab
    b, _t = logged_in(c, admin=False)
    page = b.get("/for-you").text
    first = re.search(r'<a class="card-link" href="/movies/(\d+)" data-rec-click="(\d+)" data-rec-pos="(\d+)">', page)
    assert first and first.group(1) == first.group(2) and first.group(3) == "0"
    assert 'data-rec-pos="1"' in page
    for movie_id in (50, 181, 100):  # with ratings, the home page shows a "For you" row
        assert b.put(f"/api/v1/movies/{movie_id}/rating", json={"rating": 5}).status_code == 200
    home = b.get("/").text
    assert 'data-rec-click=' in home and 'data-rec-pos="0"' in home


# --------------------------------------------------------------------------- in a real browser

@pytest.mark.slow
@pytest.mark.e2e
def test_clicking_a_recommended_film_stores_a_click_event(ab: Site, tmp_path: Path) -> None:
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed")
    c, _active, _other, s = ab
    name = new_name("click")
    create_user(c.app.state.engine, name, PASSWORD)
    with running_site(s.home, s.data_dir, tmp_path / "server.log") as base:
        with sync_playwright() as p:
            chrome = p.chromium.launch(executable_path=str(CHROMIUM),
                                       args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = chrome.new_context(base_url=base, locale="en-US").new_page()
            page.goto("/login?next=/for-you")
            page.fill("input[name=username]", name)
            page.fill("input[name=password]", PASSWORD)
            page.locator("form[action='/login'] button").click()
            page.wait_for_url("**/for-you")
            link = page.locator("#for-you a[data-rec-click]").nth(1)
            movie_id = int(link.get_attribute("data-rec-click") or 0)
            link.click()
            page.wait_for_url(f"**/movies/{movie_id}")
            chrome.close()
        engine = c.app.state.engine
        found: list[tuple[int | None, int | None]] = []
        deadline = time.monotonic() + 10
        while not found and time.monotonic() < deadline:
            with transaction(engine, write=False) as ses:
                uid = ses.scalar(select(User.id).where(User.username == name))
                found = [(e.movie_id, e.position) for e in ses.scalars(
                    select(Event).where(Event.user_id == uid, Event.kind == "click"))]
            time.sleep(0.2)
        assert found == [(movie_id, 1)]
