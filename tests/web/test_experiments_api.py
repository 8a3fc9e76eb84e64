"""Issue 12 through HTTP: the admin experiment API (S11), members served their variant, exposures, clicks, reports.

Its own site (a database of ML-100K with two model versions: item-kNN active,
popularity published beside it), so a running experiment never reaches the
shared members site of the other tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cinerec.service.accounts import create_user
from cinerec.store.db import transaction
from cinerec.store.models import Event, ExperimentExposure, User
from cinerec.store.repos import events as event_repo
from cinerec.web import create_app
from tests.web.conftest import PASSWORD, login, member, new_name, two_version_site

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def ab(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Iterator[tuple[TestClient, str, str]]:
    """The two-version site (item-kNN active, popularity beside it); yields (client, active, other)."""
    s, active, other = two_version_site(tmp_path_factory.mktemp("ab-home"), datasets)
    with TestClient(create_app(s)) as c:
        yield c, active, other


def _admin(c: TestClient) -> dict[str, str]:
    name = new_name("admin")
    create_user(c.app.state.engine, name, PASSWORD, is_admin=True)
    c.app.state.throttle.reset()
    return login(c, name)


def _body(name: str, a: str, b: str, **extra: object) -> dict[str, object]:
    return {"name": name, "metric": "ctr", "traffic": 1.0,
            "variants": [{"name": "control", "model_version": a, "weight": 0.5},
                         {"name": "treatment", "model_version": b, "weight": 0.5}], **extra}


def test_s11_experiments_are_admin_only(ab: tuple[TestClient, str, str]) -> None:
    c, active, other = ab
    _, member_h = member(c)
    admin_h = _admin(c)
    name = new_name("s11")
    calls = [("post", "/api/v1/admin/experiments", _body(name, active, other)),
             ("get", "/api/v1/admin/experiments", None),
             ("get", f"/api/v1/admin/experiments/{name}", None),
             ("post", f"/api/v1/admin/experiments/{name}/start", None),
             ("post", f"/api/v1/admin/experiments/{name}/ramp", {"traffic": 0.5}),
             ("get", f"/api/v1/admin/experiments/{name}/report", None),
             ("post", f"/api/v1/admin/experiments/{name}/stop", None)]
    for method, url, body in calls:
        kw = {"json": body} if body is not None else {}
        assert getattr(c, method)(url, **kw).status_code == 401, url
        assert getattr(c, method)(url, headers=member_h, **kw).status_code == 403, url
    expected = [201, 200, 200, 200, 200, 200, 200]
    for (method, url, body), status in zip(calls, expected, strict=True):
        kw = {"json": body} if body is not None else {}
        r = getattr(c, method)(url, headers=admin_h, **kw)
        assert r.status_code == status, (url, r.text)
    assert c.get(f"/api/v1/admin/experiments/{name}", headers=admin_h).json()["status"] == "stopped"


def test_bad_experiment_input_is_a_clear_4xx(ab: tuple[TestClient, str, str]) -> None:
    c, active, other = ab
    h = _admin(c)
    url = "/api/v1/admin/experiments"
    name = new_name("bad")

    def err(body: object, status: int, **kw: object) -> str:
        r = c.post(url, json=body, headers=h, **kw)  # type: ignore[arg-type]
        assert r.status_code == status, r.text
        return str(r.json()["error"]["message"])

    assert "does-not-exist" in err(_body(name, active, "does-not-exist"), 404)
    err(_body("<script>", active, other), 422)
    err({**_body(name, active, other), "variants": [{"name": "only", "model_version": active}]}, 422)
    err({**_body(name, active, other), "traffic": 2}, 422)
    err({**_body(name, active, other), "metric": "revenue"}, 422)
    err({**_body(name, active, other), "is_admin": True}, 422)
    bad_weight = _body(name, active, other)
    bad_weight["variants"][0]["weight"] = 0  # type: ignore[index]
    err(bad_weight, 422)
    same = _body(name, active, other)
    same["variants"][1]["name"] = "control"  # type: ignore[index]
    assert "differ" in err(same, 422)
    r = c.post(url, content=b"name=x", headers={**h, "Content-Type": "text/plain"})
    assert r.status_code == 415
    assert c.post(url, json=_body(name, active, other), headers=h).status_code == 201
    assert "already exists" in err(_body(name, active, other), 409)
    assert c.post(f"{url}/{name}/ramp", json={"traffic": -1}, headers=h).status_code == 422
    assert c.get(f"{url}/no-such/report", headers=h).status_code == 404
    assert c.post(f"{url}/{name}/stop", headers=h).status_code == 200
    assert "cannot be restarted" in c.post(f"{url}/{name}/start", headers=h).json()["error"]["message"]
    assert c.post(f"{url}/{name}/ramp", json={"traffic": 0.5}, headers=h).status_code == 409
    assert c.get(f"{url}/%3Cb%3E/report", headers=h).status_code == 422


def test_members_get_their_variant_once_logged_and_clicks_count(ab: tuple[TestClient, str, str]) -> None:
    c, active, other = ab
    h = _admin(c)
    name = new_name("live")
    r = c.post("/api/v1/admin/experiments", json=_body(name, active, other), headers=h)
    assert r.status_code == 201 and r.json()["status"] == "draft" and r.json()["serving"] is False
    members = [member(c) for _ in range(16)]
    # a draft serves nobody
    first = c.get("/api/v1/me/recommendations", headers=members[0][1]).json()
    assert first["experiment"] is None and first["model_version"] == active
    assert c.post(f"/api/v1/admin/experiments/{name}/start", headers=h).json()["serving"] is True

    svc = c.app.state.experiments
    rule = next(r.rule for r in svc._running if r.info.name == name)
    engine = c.app.state.engine
    seen: dict[str, list[int]] = {}
    for username, mh in members:
        with transaction(engine, write=False) as s:
            uid = s.scalar(select(User.id).where(User.username == username))
        assert uid is not None
        for _ in range(3):  # repeat visits
            body = c.get("/api/v1/me/recommendations", headers=mh).json()
        variant = rule.assign(uid)
        assert body["experiment"] == {"name": name, "variant": variant}
        assert body["model_version"] == (active if variant == "control" else other)
        seen[username] = [x["movie"]["id"] for x in body["data"]]
        assert seen[username]
    svc.exposures.flush()
    with transaction(engine, write=False) as s:
        exp_id = s.scalar(select(ExperimentExposure.experiment_id).limit(1).order_by(ExperimentExposure.id.desc()))
        n = s.scalar(select(func.count()).select_from(ExperimentExposure)
                     .where(ExperimentExposure.experiment_id == exp_id))
        impressions = s.scalar(select(func.count()).select_from(Event)
                               .where(Event.kind == "impression", Event.experiment == name))
    assert n == len(members)  # exactly one exposure per member
    assert impressions == sum(len(v) for v in seen.values())  # the same list again is not a new impression

    # clicks: a recommended film counts, a film never shown does not; bad input is refused
    clicker, ch = members[0]
    assert c.post("/api/v1/me/events", json={"kind": "click", "movie_id": seen[clicker][0], "position": 0},
                  headers=ch).status_code == 204
    others_film = next(m for m in range(1, 1000) if all(m not in v for v in seen.values()))
    assert c.post("/api/v1/me/events", json={"kind": "click", "movie_id": others_film}, headers=members[1][1]
                  ).status_code == 204
    assert c.post("/api/v1/me/events", json={"kind": "click", "movie_id": 1}).status_code == 401
    for bad in ({"kind": "rate", "movie_id": 1}, {"kind": "click", "movie_id": 0}, {"kind": "click"},
                {"kind": "click", "movie_id": 1, "position": -1}, {"kind": "click", "movie_id": 1, "user_id": 2}):
        assert c.post("/api/v1/me/events", json=bad, headers=ch).status_code == 422, bad
    assert c.post("/api/v1/me/events", json={"kind": "click", "movie_id": 10**9}, headers=ch).status_code == 404
    # rating a recommended film is an outcome too
    assert c.put(f"/api/v1/movies/{seen[members[2][0]][1]}/rating", json={"rating": 4.5},
                 headers=members[2][1]).status_code in (200, 201)

    rep = c.get(f"/api/v1/admin/experiments/{name}/report", headers=h).json()
    assert sum(v["users"] for v in rep["variants"]) == len(members)
    assert sum(v["impressions"] for v in rep["variants"]) == impressions
    assert sum(v["clicks"] for v in rep["variants"]) == 1
    assert {v["name"] for v in rep["variants"]} == {"control", "treatment"}
    assert all("ctr" in v for v in rep["variants"])
    assert rep["srm_p_value"] is not None and rep["srm_flagged"] is False
    assert sum(round((v["rating_rate"] or 0) * v["users"]) for v in rep["variants"]) == 1
    assert rep["comparisons"][0]["variant"] == "treatment" and rep["series"] and rep["tests"]
    # the click carries the member's experiment and variant
    with transaction(engine, write=False) as s:
        ev = s.scalar(select(Event).where(Event.kind == "click").order_by(Event.id.desc()).limit(1))
        assert ev is not None and ev.experiment == name and ev.position is None

    # stopped: back to the active model, and no more exposures
    assert c.post(f"/api/v1/admin/experiments/{name}/stop", headers=h).json()["serving"] is False
    after = c.get("/api/v1/me/recommendations", headers=members[3][1]).json()
    assert after["experiment"] is None and after["model_version"] == active


def test_outcomes_outside_the_window_or_before_the_showing_do_not_count(ab: tuple[TestClient, str, str]) -> None:
    c, active, other = ab
    h = _admin(c)
    name = new_name("win")
    body = _body(name, active, other, window_days=1)
    assert c.post("/api/v1/admin/experiments", json=body, headers=h).status_code == 201
    c.post(f"/api/v1/admin/experiments/{name}/start", headers=h)
    username, mh = member(c)
    films = [x["movie"]["id"] for x in c.get("/api/v1/me/recommendations", headers=mh).json()["data"]]
    c.app.state.experiments.exposures.flush()
    engine = c.app.state.engine
    with transaction(engine) as s:
        uid = s.scalar(select(User.id).where(User.username == username))
        x = s.scalar(select(ExperimentExposure).where(ExperimentExposure.user_id == uid))
        assert uid is not None and x is not None
        event_repo.record(s, uid, "click", movie_id=films[0], when=x.created_at - timedelta(minutes=1))  # before
        event_repo.record(s, uid, "share", movie_id=films[1], value=1.0, when=x.created_at + timedelta(days=2))
    rep = c.get(f"/api/v1/admin/experiments/{name}/report", headers=h).json()
    assert sum(v["clicks"] for v in rep["variants"]) == 0
    assert all(not v["share_rate"] for v in rep["variants"])
    c.post(f"/api/v1/admin/experiments/{name}/stop", headers=h)


def test_a_variant_can_be_the_same_model_with_mmr_re_ranking(ab: tuple[TestClient, str, str]) -> None:
    import numpy as np

    from cinerec.algorithms.rerank import audience_similarity

    c, active, _other = ab
    h = _admin(c)
    name = new_name("mmr")
    body = {"name": name, "variants": [{"name": "plain", "model_version": active},
                                       {"name": "varied", "model_version": active, "diversity": 0.3}]}
    bad = {**body, "variants": [body["variants"][0], {**body["variants"][1], "diversity": 1.5}]}  # type: ignore[index]
    assert c.post("/api/v1/admin/experiments", json=bad, headers=h).status_code == 422
    r = c.post("/api/v1/admin/experiments", json=body, headers=h)
    assert r.status_code == 201 and [v.get("diversity") for v in r.json()["variants"]] == [None, 0.3]
    c.post(f"/api/v1/admin/experiments/{name}/start", headers=h)
    svc = c.app.state.service
    live = svc.live
    by_variant: dict[str, list[tuple[list[int], list[int]]]] = {"plain": [], "varied": []}
    engine = c.app.state.engine
    for _ in range(12):
        username, mh = member(c)
        for movie in (50, 100, 181, 258):  # a short history, so the model ranks from it
            c.put(f"/api/v1/movies/{movie}/rating", json={"rating": 4.5}, headers=mh)
        got = c.get("/api/v1/me/recommendations?k=10", headers=mh).json()
        with transaction(engine, write=False) as s:
            uid = s.scalar(select(User.id).where(User.username == username))
        plain = svc.recommend(uid, 10, explain=False, history=[(50, 4.5), (100, 4.5), (181, 4.5), (258, 4.5)])
        by_variant[got["experiment"]["variant"]].append(([x["movie"]["id"] for x in got["data"]],
                                                         [x.movie_id for x in plain.items]))
    assert by_variant["plain"] and by_variant["varied"]
    assert all(shown == plain for shown, plain in by_variant["plain"])  # the control is the model's own order
    seen = live.model.seen_

    def spread(ids: list[int]) -> float:
        sim = audience_similarity(seen, live.items.indices(np.array(ids)))
        return float(sim[np.triu_indices(len(ids), 1)].mean())

    for shown, plain in by_variant["varied"]:
        assert shown != plain and shown[0] == plain[0]  # MMR keeps the best film first, then varies
        assert spread(shown) < spread(plain)  # audiences overlap less
    c.post(f"/api/v1/admin/experiments/{name}/stop", headers=h)
