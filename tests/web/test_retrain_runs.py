"""The retraining worker's run log in the admin API and on the admin models page: admins only, validated, escaped."""

from __future__ import annotations

import secrets

from fastapi.testclient import TestClient
from sqlalchemy import update

from cinerec.config import Settings
from cinerec.service.accounts import create_user
from cinerec.service.worker import append_run
from cinerec.store.models import User
from tests.web.conftest import PASSWORD, login, member, new_name
from tests.web.test_pages import admin_browser

EVIL = "<script>alert(1)</script>"


def _log_runs(settings: Settings) -> tuple[str, str]:
    """A rejected run with a hostile reason and an interrupted one, dated in the future so they come first."""
    done, cut = secrets.token_hex(6), secrets.token_hex(6)
    models = settings.models_dir
    append_run(models, {"id": done, "event": "started", "trigger": "schedule", "pid": 1,
                        "started_at": "2099-01-01T10:00:00+00:00"})
    append_run(models, {"id": done, "event": "ended", "trigger": "schedule", "started_at": "2099-01-01T10:00:00+00:00",
                        "ended_at": "2099-01-01T10:00:09+00:00", "outcome": "rejected", "algo": "popularity",
                        "version": "20990101T100000-popularity-abcdef", "seconds": 9.25, "reason": EVIL,
                        "metrics": {"candidate": 0.0234, "active": 0.058}})
    append_run(models, {"id": cut, "event": "started", "trigger": "forced", "pid": 2**30,  # no such process
                        "started_at": "2099-01-01T09:00:00+00:00"})
    return done, cut


def test_retrain_runs_api_is_for_admins_and_validates(site: TestClient, member_settings: Settings) -> None:
    done, cut = _log_runs(member_settings)
    assert site.get("/api/v1/admin/retrain-runs").status_code == 401
    _, h = member(site)
    assert site.get("/api/v1/admin/retrain-runs", headers=h).status_code == 403
    name = new_name("admin")
    create_user(site.app.state.engine, name, PASSWORD, is_admin=True)
    admin = login(site, name)
    r = site.get("/api/v1/admin/retrain-runs", params={"limit": 2}, headers=admin)
    assert r.status_code == 200
    body = r.json()
    assert body["count"] >= 2 and [x["id"] for x in body["data"]] == [done, cut]
    first, second = body["data"]
    assert first["outcome"] == "rejected" and first["candidate_ndcg"] == 0.0234 and first["active_ndcg"] == 0.058
    assert first["reason"] == EVIL and first["seconds"] == 9.25  # JSON carries the text as it is
    assert second["outcome"] == "interrupted" and second["ended_at"] is None
    for bad in ("0", "501", "ten"):
        r = site.get("/api/v1/admin/retrain-runs", params={"limit": bad}, headers=admin)
        assert r.status_code == 422 and r.json()["error"]["code"]


def test_retrain_runs_on_the_admin_page_are_escaped_in_both_languages(site: TestClient,
                                                                       member_settings: Settings) -> None:
    _log_runs(member_settings)
    b = admin_browser(site)
    admin_name = b.get("/api/v1/users/me").json()["username"]
    page = b.get("/admin/models").text
    assert "Retraining runs" in page and "rejected" in page and "0.0234 / 0.0580" in page
    assert EVIL not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    with site.app.state.engine.begin() as conn:  # the admin's own language setting decides their pages
        conn.execute(update(User).where(User.username == admin_name).values(locale="zh_CN"))
    zh = b.get("/admin/models").text
    assert '<html lang="zh-Hans">' in zh and "重新训练记录" in zh and "未通过" in zh and "已中断" in zh
