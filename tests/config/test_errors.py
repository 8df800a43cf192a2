"""Error answers by path: signed envelopes under /koogallery/, JSON under the JSON APIs, Django's
pages elsewhere (config/errors.py)."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_an_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404 and response.json() == {"detail": "not found"}


def test_an_unknown_agents_path_answers_in_the_gateways_own_shape(client):
    response = client.get("/agents/nothing/here")
    assert response.status_code == 404 and response.json()["error"]["message"] == "not found"


def test_a_failure_inside_an_api_view_is_a_json_500_without_internals(monkeypatch, settings):
    from orders import api

    settings.ORDERS_USAGE_API_TOKEN = "token"

    def broken(text):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(api.strict_json, "loads", broken)
    response = Client(raise_request_exception=False).post(
        "/api/usage/", "{}", content_type="application/json", HTTP_AUTHORIZATION="Bearer token"
    )
    assert response.status_code == 500 and response.json() == {"detail": "internal error"}


def test_other_pages_keep_djangos_html(client):
    response = client.get("/nothing-here/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")
