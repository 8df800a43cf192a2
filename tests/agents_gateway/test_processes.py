"""The reference backend as its own process — gunicorn serving only /agents/ (the way
docs/agents_gateway.md runs it), configured through the environment — driven over real HTTP by
the gateway simulator, its CLI and the journal client."""

import io
import subprocess
import sys

import pytest
import requests
from django.core.management import CommandError, call_command

from agents_gateway.journal_client import JournalError, report_usage
from agents_gateway.models import UsageRecord
from agents_gateway.simulator import AgentsGateway
from tests.agents_gateway.conftest import JOURNAL_TOKEN, KEY, OLD_KEY, OLD_SECRET, SECRET
from tests.support import processes

pytestmark = [pytest.mark.services]


@pytest.fixture
def agents_url(service_env):
    env = {
        **service_env,
        "AGENTS_GATEWAY_SERVE_ONLY": "1",
        "AGENTS_GATEWAY_MODE": "jwt",
        "AGENTS_GATEWAY_KEYS": f"{KEY}:{SECRET},{OLD_KEY}:{OLD_SECRET}",
        "AGENTS_GATEWAY_JOURNAL_TOKEN": JOURNAL_TOKEN,
        "GUNICORN_THREADS": "4",
        "GUNICORN_TIMEOUT": "310",
    }
    server = processes.gunicorn(env, workers=1).start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def test_the_simulator_drives_the_separate_backend_over_http(agents_url):
    gateway = AgentsGateway(agents_url, api_key=KEY, secret=SECRET, customer_id="0a1b2c", customer_name="华为买家")
    sync = gateway.chat("over real http", request_id="http-sync")
    stream = gateway.chat("streamed over real http", stream=True, request_id="http-stream")
    assert sync.assert_contract() == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
    assert stream.assert_contract() == {"prompt_tokens": 4, "completion_tokens": 4, "total_tokens": 8}
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.text == "streamed over real http"
    rows = {r.request_id: r for r in UsageRecord.objects.all()}
    assert set(rows) == {"http-sync", "http-stream"}
    assert rows["http-stream"].stream and rows["http-stream"].total_tokens == 8
    assert rows["http-sync"].customer_name == "华为买家"  # raw UTF-8 header bytes, recovered


def test_the_separate_process_refuses_a_bad_token_and_serves_no_koogallery_paths(agents_url):
    refused = AgentsGateway(agents_url, api_key=KEY, secret="wrong").chat("hi")
    assert refused.status == 401
    assert requests.get(f"{agents_url}/koogallery/produce", timeout=10).status_code == 404
    assert requests.get(f"{agents_url}/healthz", timeout=10).status_code == 200


def test_the_simulate_command_checks_both_calls_against_the_backend(agents_url):
    out = io.StringIO()
    call_command("agents_gateway_simulate", "--url", agents_url, "--customer-id", "cli-customer", stdout=out)
    text = out.getvalue()
    assert text.count("✓ usage present and well-formed") == 2
    assert "text/event-stream" in text
    assert UsageRecord.objects.filter(customer_id="cli-customer").count() == 2


def test_the_simulate_command_fails_when_the_backend_refuses(agents_url):
    with pytest.raises(CommandError):
        call_command(
            "agents_gateway_simulate", "--url", agents_url, "--key", OLD_KEY, "--secret", "wrong", stdout=io.StringIO()
        )


def test_the_journal_client_reports_a_call_once(agents_url):
    forwarded = {"X-Request-Id": "seller-ai-1", "X-Customer-Id": "c9", "X-Customer-Name": "Buyer Nine"}
    usage = {"prompt_tokens": 31, "completion_tokens": 217, "total_tokens": 248}
    url = f"{agents_url}/agents/usage"
    first = report_usage(url, JOURNAL_TOKEN, headers=forwarded, agent="translator", usage=usage)
    again = report_usage(url, JOURNAL_TOKEN, headers=forwarded, agent="translator", usage=usage)
    assert (first["created"], again["created"]) == (True, False)
    record = UsageRecord.objects.get(request_id="seller-ai-1")
    assert (record.customer_id, record.customer_name, record.total_tokens, record.source) == (
        "c9",
        "Buyer Nine",
        248,
        "api",
    )
    with pytest.raises(JournalError) as refused:
        report_usage(url, "wrong-token", headers=forwarded, agent="translator", usage=usage)
    assert refused.value.status == 401 and not refused.value.retryable


def test_a_process_with_a_mode_but_no_keys_refuses_to_start():
    env = processes.service_env(AGENTS_GATEWAY_MODE="jwt", AGENTS_GATEWAY_KEYS="")
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=processes.ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "agents_gateway: JwtAuth needs at least one APP Key" in done.stderr
