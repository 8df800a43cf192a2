"""AgentsGatewayMiddleware: a seller's own Django views under protected path prefixes."""

import base64

import pytest

from agents_gateway.models import HeaderSample
from agents_gateway.services import header_sample_take
from agents_gateway.simulator import AgentsGateway
from tests.agents_gateway.conftest import KEY, SECRET

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.agents_gateway.urls")]


@pytest.fixture(autouse=True)
def middleware(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "agents_gateway.guard.AgentsGatewayMiddleware"]
    settings.AGENTS_GATEWAY_PROTECTED_PATHS = ["/my-agent/"]


def test_a_protected_path_answers_the_verified_gateway(client):
    reply = AgentsGateway(client, path="/my-agent/chat", api_key=KEY, secret=SECRET).chat("hi")
    assert reply.status == 200 and reply.json["api_key"] == KEY


def test_a_protected_path_refuses_a_bad_token_with_a_generic_401(client):
    reply = AgentsGateway(client, path="/my-agent/chat", api_key=KEY, secret="wrong").chat("hi")
    assert reply.status == 401 and reply.json["error"]["message"] == "unauthorized"


def test_other_paths_pass_through_untouched(client):
    response = client.get("/public")
    assert response.json() == {"public": True, "verified": False}


def test_a_protected_path_refuses_a_token_nested_too_deep_with_the_same_401(client):
    nested = base64.urlsafe_b64encode(b"[" * 1000).rstrip(b"=").decode()
    reply = AgentsGateway(client, path="/my-agent/chat", api_key=KEY, secret=SECRET).chat(
        "hi", token=f"{nested}.e30.c2ln"
    )
    assert reply.status == 401 and reply.json["error"]["message"] == "unauthorized"


def test_a_protected_path_with_an_encoded_nul_is_refused_not_broken_by_its_header_sample(client):
    reply = AgentsGateway(client, path="/my-agent/%00chat", api_key=KEY, secret="wrong").chat("hi")
    assert reply.status == 401 and reply.json["error"]["message"] == "unauthorized"
    assert HeaderSample.objects.get().path == "/my-agent/%00chat"


def test_a_header_name_with_a_nul_is_sampled_in_its_wire_spelling():
    sample = header_sample_take(
        method="POST",
        path="/my-agent/chat",
        header_names=["X-Odd\x00Name", "Authorization"],
        token_header="Authorization",
        token_form="bearer",
        outcome="verified",
        limit=5,
    )
    assert HeaderSample.objects.get(pk=sample.pk).header_names == ["Authorization", "X-Odd%00Name"]
