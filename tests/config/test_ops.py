"""Liveness, readiness and metrics for the orchestrator and Prometheus."""

import pytest

from marketplace_isv import routes
from tests.support import processes

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_io(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_is_ready_with_database_and_broker(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readyz_answers_503_when_the_broker_is_unreachable(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{processes.free_port()}/0"
    settings.EMBEDDED = False
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] != "ok"


@pytest.mark.parametrize("path", ["/healthz/", "/readyz/", "/metrics/", "/healthz", "/metrics"])
def test_probes_never_redirect_even_behind_an_https_proxy(client, settings, path):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get(path)
    assert response.status_code in (200, 503)


@pytest.mark.parametrize("path", ["/healthz", "/readyz/", "/metrics"])
def test_probes_answer_an_orchestrator_that_sends_the_pod_address_as_host(client, path):
    response = client.get(path, HTTP_HOST="10.244.1.17:8000", HTTP_X_FORWARDED_HOST="10.244.1.17")
    assert response.status_code == 200


def test_other_paths_keep_the_allowed_hosts_check(client):
    assert client.get("/admin/login/", HTTP_HOST="10.244.1.17:8000").status_code == 400
    assert client.get("/admin/login/").status_code == 200


def test_koogallery_paths_never_redirect_to_https(koogallery, settings, monkeypatch):
    settings.SECURE_SSL_REDIRECT = True
    monkeypatch.setitem(routes.PRODUCE_V2, "echo", "tests.marketplace_isv.handlers.echo")
    assert koogallery.v2("echo", {}).status == 200


def test_metrics_count_calls_by_activity_and_result(client, koogallery, monkeypatch):
    monkeypatch.setitem(routes.PRODUCE_V2, "echo", "tests.marketplace_isv.handlers.echo")
    koogallery.v2("echo", {})
    koogallery.v2("echo", {}, key="wrong")
    text = client.get("/metrics").content.decode()
    assert 'koogallery_deliveries_total{activity="echo",result_code="000000",scheme="v2"}' in text
    assert 'koogallery_deliveries_total{activity="echo",result_code="000001",scheme="v2"}' in text
    assert "koogallery_delivery_seconds_bucket" in text
