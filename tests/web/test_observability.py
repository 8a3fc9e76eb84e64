"""Operations: Prometheus metrics at /metrics, request ids in headers, error bodies and log records,
and the liveness and readiness probes."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from cinerec.config import Settings
from cinerec.service import metrics
from cinerec.service.cache import LRUCache
from cinerec.store.migrate import upgrade
from cinerec.web import create_app
from cinerec.web.middleware import accept_request_id
from tests.web.conftest import member

ROOT = Path(__file__).resolve().parents[2]
HEX16 = re.compile(r"[0-9a-f]{16}")


def samples(client: TestClient, name: str, headers: dict[str, str] | None = None) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples called ``name`` on ``/metrics``, keyed by their sorted labels."""
    r = client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def value(found: dict[tuple[tuple[str, str], ...], float], **labels: str) -> float:
    """The sample with exactly ``labels`` (0 when absent)."""
    return found.get(tuple(sorted(labels.items())), 0.0)


# --- metrics ---------------------------------------------------------------------------------------------


def test_latency_histogram_is_labelled_by_route_template_not_raw_path(site: TestClient) -> None:
    name = "cinerec_http_request_duration_seconds_count"
    route = "/api/v1/movies/{movie_id}"
    before = samples(site, name)
    assert site.get("/api/v1/movies/1").status_code == 200
    assert site.get("/api/v1/movies/2").status_code == 200
    assert site.get("/api/v1/movies/999999999").status_code == 404
    assert site.head("/api/v1/movies/3").status_code == 200
    assert site.get("/no/such/page-7f3a9").status_code == 404
    assert site.request("FROBNICATE7", "/api/v1/movies/1").status_code == 405
    after = samples(site, name)
    assert value(after, route=route, method="GET", status="2xx") - value(before, route=route, method="GET", status="2xx") == 2
    assert value(after, route=route, method="GET", status="4xx") - value(before, route=route, method="GET", status="4xx") == 1
    assert value(after, route=route, method="HEAD", status="2xx") - value(before, route=route, method="HEAD", status="2xx") == 1
    assert value(after, route="unmatched", method="GET", status="4xx") > value(before, route="unmatched", method="GET", status="4xx")
    assert value(after, route=route, method="OTHER", status="4xx") - value(before, route=route, method="OTHER", status="4xx") == 1
    text = site.get("/metrics").text
    # label values only: a sample value such as the process's CPU seconds (28.119999999999997) may hold the digits
    routes = set(re.findall(r'route="([^"]*)"', text))
    assert routes and not any(r == "/api/v1/movies/1" or "999999999" in r or "page-7f3a9" in r for r in routes), routes
    assert "FROBNICATE7" not in text
    # every route label is a template or "unmatched": ids never become series
    labels = {dict(k)["route"] for k in after}
    assert "/movies/{movie_id}" not in labels or site.get("/movies/1").status_code == 200  # the page route has its own
    assert not [label for label in labels if re.search(r"/\d+(/|$)", label)], labels
    assert "_bucket" in text and 'le="0.005"' in text


def test_strategy_counter_and_list_cache_move_after_recommendations(site: TestClient) -> None:
    _, h = member(site)
    active = site.get("/api/v1/models/active").json()
    algo = active["algo"]
    rec = "cinerec_recommendations_total"
    cache = "cinerec_cache_requests_total"
    before, cache_before = samples(site, rec), samples(site, cache)
    first = site.get("/api/v1/me/recommendations?k=5", headers=h).json()
    assert first["strategy"] == "onboarding"
    assert site.put("/api/v1/movies/50/rating", json={"rating": 4.5}, headers=h).status_code == 200
    second = site.get("/api/v1/me/recommendations?k=5", headers=h).json()
    assert second["strategy"] == f"{algo}:history"
    again = site.get("/api/v1/me/recommendations?k=5", headers=h).json()
    assert again == second
    after, cache_after = samples(site, rec), samples(site, cache)
    assert value(after, strategy="onboarding", algo=algo) - value(before, strategy="onboarding", algo=algo) == 1
    # the repeat is answered from the member's cached response: the service made two lists
    assert value(after, strategy="history", algo=algo) - value(before, strategy="history", algo=algo) == 1

    def moved(name: str, result: str) -> float:
        return value(cache_after, cache=name, result=result) - value(cache_before, cache=name, result=result)

    assert moved("member_recommendations", "hit") == 1 and moved("member_recommendations", "miss") == 2
    assert moved("recommendations", "miss") >= 2
    # the version serving these lists is the one the gauge marks (the gauge is per process: a service of another
    # test in this worker process may have marked its own version since, so this one re-marks its own first)
    site.app.state.service.refresh(force=True)
    gauge = samples(site, "cinerec_model_active")
    assert value(gauge, version=active["version"], algo=algo) == 1
    assert all(v == 0 for k, v in gauge.items() if dict(k)["version"] != active["version"])


def test_film_page_cache_counts_hits(site: TestClient) -> None:
    name = "cinerec_cache_requests_total"
    before = samples(site, name)
    for _ in range(2):
        assert site.get("/movies/7", headers={"accept": "text/html"}).status_code == 200
    after = samples(site, name)
    looked = sum(value(after, cache="film_facts", result=r) - value(before, cache="film_facts", result=r) for r in ("hit", "miss"))
    assert looked >= 2 and value(after, cache="film_facts", result="hit") > value(before, cache="film_facts", result="hit")


def test_retrain_metrics_count_runs_and_failures(site: TestClient) -> None:
    before_ok = samples(site, "cinerec_retrain_runs_total")
    before_n = samples(site, "cinerec_retrain_duration_seconds_count")
    with metrics.timed_retrain() as run:
        run["outcome"] = "rejected"
    with pytest.raises(RuntimeError), metrics.timed_retrain():
        raise RuntimeError("training failed")
    after = samples(site, "cinerec_retrain_runs_total")
    assert value(after, outcome="rejected") - value(before_ok, outcome="rejected") == 1
    assert value(after, outcome="failed") - value(before_ok, outcome="failed") == 1
    assert value(samples(site, "cinerec_retrain_duration_seconds_count")) - value(before_n) == 2


def test_metrics_are_not_in_the_openapi_schema_and_probes_are(site: TestClient) -> None:
    paths = site.get("/api/openapi.json").json()["paths"]
    assert "/metrics" not in paths
    assert "/api/v1/health" in paths and "/api/v1/ready" in paths


def test_strategy_labels_are_bounded() -> None:
    assert metrics.strategy_kind("item-knn", "item-knn") == "model"
    assert metrics.strategy_kind("item-knn:history", "item-knn") == "history"
    assert metrics.strategy_kind("onboarding", "item-knn") == "onboarding"
    assert [metrics.status_class(s) for s in (200, 204, 307, 404, 503)] == ["2xx", "2xx", "3xx", "4xx", "5xx"]


def test_named_cache_counts_only_its_own_lookups() -> None:
    cache: LRUCache[int] = LRUCache(4, name="test_obs_cache")
    plain: LRUCache[int] = LRUCache(4)
    cache.get_or_compute("a", lambda: 1)
    cache.get_or_compute("a", lambda: 2)
    plain.get_or_compute("a", lambda: 1)
    from prometheus_client import REGISTRY

    assert REGISTRY.get_sample_value("cinerec_cache_requests_total", {"cache": "test_obs_cache", "result": "hit"}) == 1
    assert REGISTRY.get_sample_value("cinerec_cache_requests_total", {"cache": "test_obs_cache", "result": "miss"}) == 1
    assert cache.hits == plain.misses == 1


@pytest.fixture(scope="module")
def empty_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A migrated, empty database and a registry without any model."""
    s = Settings(home=tmp_path_factory.mktemp("obs-empty"), metrics_token="s3cret-metrics-token-0123")
    upgrade(s.resolved_database_url)
    return s


def test_metrics_token_guards_the_endpoint(empty_settings: Settings) -> None:
    with TestClient(create_app(empty_settings)) as c:
        r = c.get("/metrics")
        assert r.status_code == 401 and r.json()["error"]["details"]["request_id"] == r.headers["x-request-id"]
        assert c.get("/metrics", headers={"Authorization": "Bearer wrong-token-wrong-token"}).status_code == 401
        ok = c.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token-0123"})
        assert ok.status_code == 200 and "cinerec_http_request_duration_seconds" in ok.text


MULTIPROC_SCRIPT = """
import sys
from cinerec.service import metrics
if sys.argv[1] == "record":
    metrics.record_recommendation("onboarding", "item-knn")
    metrics.HTTP_REQUEST_DURATION.labels("/api/v1/health", "GET", "2xx").observe(0.002)
else:
    print(metrics.exposition()[0].decode())
"""


def test_multiprocess_mode_sums_every_process(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set, a scrape of one process reports what all processes recorded."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", MULTIPROC_SCRIPT, "record"], env=env, check=True, cwd=ROOT, timeout=120)
    out = subprocess.run([sys.executable, "-c", MULTIPROC_SCRIPT, "show"], env=env, check=True, cwd=ROOT,
                         capture_output=True, text=True, timeout=120).stdout
    found = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in text_string_to_metric_families(out) for s in f.samples}
    assert found[("cinerec_recommendations_total", (("algo", "item-knn"), ("strategy", "onboarding")))] == 2
    key = ("cinerec_http_request_duration_seconds_count", (("method", "GET"), ("route", "/api/v1/health"), ("status", "2xx")))
    assert found[key] == 2


# --- request ids -----------------------------------------------------------------------------------------


def test_safe_incoming_request_id_is_kept_and_echoed(site: TestClient) -> None:
    r = site.get("/api/v1/health", headers={"X-Request-ID": "lb-1234_abcd.EF"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "lb-1234_abcd.EF"
    r = site.get("/api/v1/health")
    assert HEX16.fullmatch(r.headers["x-request-id"])
    assert site.get("/api/v1/health").headers["x-request-id"] != r.headers["x-request-id"]


@pytest.mark.parametrize("unsafe", ["x" * 65, "<script>alert(1)</script>", "a b", "id;drop", ""])
def test_unsafe_incoming_request_id_is_replaced(site: TestClient, unsafe: str) -> None:
    r = site.get("/api/v1/movies/999999999", headers={"X-Request-ID": unsafe})
    rid = r.headers["x-request-id"]
    assert HEX16.fullmatch(rid) and rid != unsafe
    assert r.json()["error"]["details"]["request_id"] == rid
    assert accept_request_id(unsafe) != unsafe


def test_every_error_body_carries_the_request_id(site: TestClient) -> None:
    _, h = member(site)
    errors = {
        "not found": site.get("/api/v1/movies/999999999", headers={"X-Request-ID": "t-404"}),
        "no route": site.get("/api/v1/no-such-route", headers={"X-Request-ID": "t-404b"}),
        "validation": site.get("/api/v1/me/recommendations?k=0", headers={**h, "X-Request-ID": "t-422"}),
        "auth": site.get("/api/v1/me/recommendations", headers={"X-Request-ID": "t-401"}),
        "method": site.delete("/api/v1/movies/1", headers={"X-Request-ID": "t-405"}),
        "body limit": site.post("/api/v1/auth/token", content=b"x" * (1024 * 1024 + 1),
                                headers={"X-Request-ID": "t-413", "content-type": "application/json"}),
    }
    for what, r in errors.items():
        assert r.status_code >= 400, what
        body = r.json()["error"]
        assert body["details"]["request_id"] == r.headers["x-request-id"], (what, r.text)
        assert r.headers["x-request-id"].startswith("t-"), what
    assert errors["validation"].json()["error"]["details"]["fields"]  # the existing details stay


def test_log_records_carry_the_request_id(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A line logged while handling a request names it; one logged outside any request says '-'."""
    gone = tmp_path / "gone"
    gone.mkdir()
    app = create_app(Settings(home=gone))
    gone.rmdir()
    with TestClient(app) as c, caplog.at_level(logging.WARNING, logger="cinerec"):
        r = c.get("/api/v1/ready", headers={"X-Request-ID": "trace-me-42"})
        logging.getLogger("cinerec.test").warning("outside a request")
    assert r.status_code == 503
    during = [rec for rec in caplog.records if "readiness" in rec.getMessage()]
    assert during and all(rec.request_id == "trace-me-42" for rec in during)  # type: ignore[attr-defined]
    outside = [rec for rec in caplog.records if rec.getMessage() == "outside a request"]
    assert outside[0].request_id == "-"  # type: ignore[attr-defined]


def test_serve_log_format_names_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    """``cinerec serve``'s log configuration prints the request id on every line."""
    from cinerec.web.observability import log_config

    config = log_config()
    formatter = logging.Formatter(config["formatters"]["cinerec"]["fmt"], defaults=config["formatters"]["cinerec"]["defaults"])
    record = logging.LogRecord("cinerec.web", logging.INFO, __file__, 1, "hello", None, None)
    assert formatter.format(record).endswith("cinerec.web [-] hello")
    record.request_id = "abc123"
    assert "[abc123] hello" in formatter.format(record)
    assert set(config["loggers"]) >= {"cinerec", "uvicorn.error"}


# --- health and readiness --------------------------------------------------------------------------------


def test_health_and_ready_on_a_working_site(site: TestClient) -> None:
    r = site.get("/api/v1/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    r = site.get("/api/v1/ready")
    assert r.status_code == 200, r.text
    body = r.json()
    active = site.get("/api/v1/models/active").json()["version"]
    assert body == {"status": "ready", "checks": {"database": "ok", "model": "ok"}, "model_version": active}


def test_database_removed_health_ok_ready_503(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    app = create_app(Settings(home=gone))
    gone.rmdir()  # the database file cannot be created or opened any more
    with TestClient(app) as c:
        health = c.get("/api/v1/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"  # liveness never asks the database
        r = c.get("/api/v1/ready")
    assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
    err = r.json()["error"]
    assert err["code"] == "not_ready" and err["details"]["checks"]["database"].startswith("unavailable")
    assert err["details"]["request_id"] == r.headers["x-request-id"]
    assert "/tmp" not in r.text and "sqlite" not in r.text.lower()


def test_ready_503_without_an_active_model(empty_settings: Settings) -> None:
    with TestClient(create_app(empty_settings)) as c:
        r = c.get("/api/v1/ready")
    assert r.status_code == 503 and r.headers["retry-after"]
    checks = r.json()["error"]["details"]["checks"]
    assert checks["database"] == "ok" and "no model is active" in checks["model"]
    assert json.loads(r.text)["error"]["message"].startswith("not ready")


@pytest.fixture
def _no_multiproc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    yield


def test_single_process_exposition_is_this_process(_no_multiproc: None) -> None:
    metrics.record_recommendation("test-kind", "test-algo")
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    assert b'cinerec_recommendations_total{algo="test-algo",strategy="test-kind"}' in body
