"""The reference backend driven by the gateway simulator: it verifies the gateway, answers an
OpenAI-style body synchronously or as a stream, reports `usage` where the gateway bills from it,
and journals every answered call (koogallery-protocol.md §12)."""

import base64
import logging

import pytest

from agents_gateway.chat import error_body
from agents_gateway.models import HeaderSample, UsageRecord
from agents_gateway.simulator import AgentsGateway
from agents_gateway.verifier import now_ms, sign_token
from tests.agents_gateway.conftest import CONSTANT, KEY, OLD_KEY, OLD_SECRET, SECRET

pytestmark = pytest.mark.django_db

UNAUTHORIZED = {"error": {"message": "unauthorized", "type": "authentication_error", "code": None}}


def only_record() -> UsageRecord:
    assert UsageRecord.objects.count() == 1
    return UsageRecord.objects.get()


# --- answers --------------------------------------------------------------------------------------


def test_a_synchronous_call_is_answered_with_top_level_usage(gateway):
    reply = gateway.chat("how many words are here", request_id="req-sync-1")
    usage = reply.assert_contract()
    assert usage == {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}
    data = reply.json
    assert data["object"] == "chat.completion" and data["model"] == "echo"
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "how many words are here"}


def test_a_streaming_call_sends_usage_once_in_the_last_event_before_done(gateway):
    reply = gateway.chat("stream these four words", stream=True, request_id="req-stream-1")
    assert reply.content_type.startswith("text/event-stream")
    usage = reply.assert_contract()
    assert usage == {"prompt_tokens": 4, "completion_tokens": 4, "total_tokens": 8}
    events = reply.events
    assert events[-1] == "[DONE]"
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in event for event in events[:-2])
    assert reply.text == "stream these four words"
    assert len({event["id"] for event in events[:-1]}) == 1


def test_each_answered_call_is_journaled_with_the_gateway_headers(gateway):
    gateway.customer_id, gateway.customer_name = "0a1b2c3d4e", "华为测试买家"
    gateway.chat("one two", request_id="req-journal-sync")
    gateway.chat("three four five", stream=True, request_id="req-journal-stream")
    sync = UsageRecord.objects.get(request_id="req-journal-sync")
    stream = UsageRecord.objects.get(request_id="req-journal-stream")
    assert (sync.customer_id, sync.customer_name, sync.agent) == ("0a1b2c3d4e", "华为测试买家", "echo")
    assert (sync.status, sync.http_status, sync.stream, sync.source) == ("ok", 200, False, "backend")
    assert (sync.prompt_tokens, sync.completion_tokens, sync.total_tokens) == (2, 2, 4)
    assert sync.api_key == KEY and sync.model == "echo"
    assert (stream.status, stream.stream, stream.total_tokens) == ("ok", True, 6)
    assert stream.usage == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}


def test_the_agent_name_in_the_registered_path_is_journaled(client):
    translator = AgentsGateway(client, path="/agents/translator/v1/chat/completions", api_key=KEY, secret=SECRET)
    translator.chat("bonjour", request_id="req-agent")
    assert only_record().agent == "translator"


def test_a_repeated_request_id_is_answered_but_journaled_once(gateway):
    first = gateway.chat("first answer", request_id="req-repeat")
    second = gateway.chat("a different and longer second answer", request_id="req-repeat")
    first.assert_contract(), second.assert_contract()
    record = only_record()
    assert record.total_tokens == 4  # the first call's usage: the journal keeps the first report


def test_a_request_id_longer_than_the_journal_column_is_still_journaled_once(gateway):
    """The gateway bills the call from the answer whatever its X-Request-Id: a long id is fitted
    to the column (its beginning and a digest of the whole), not a call missing from the journal."""
    long_id = "gw-" + "0123456789" * 30
    gateway.chat("first", request_id=long_id).assert_contract()
    gateway.chat("second", request_id=long_id).assert_contract()
    gateway.chat("other", request_id=long_id[:-1] + "X").assert_contract()
    records = UsageRecord.objects.order_by("id")
    assert records.count() == 2
    first = records[0]
    assert len(first.request_id) == 255 and first.request_id.startswith(long_id[:100])
    assert (first.status, first.total_tokens) == ("ok", 2)


def test_each_agent_answers_in_the_mode_it_was_registered_with_whatever_the_body_asks(client, settings):
    """§12: one response mode per registered agent; the gateway reads the answer in that mode."""
    settings.AGENTS_GATEWAY_AGENT_MODES = ["translator:sync", "translator-stream:stream"]
    path = "/agents/{}/v1/chat/completions"
    sync = AgentsGateway(client, path=path.format("translator"), api_key=KEY, secret=SECRET)
    streaming = AgentsGateway(client, path=path.format("translator-stream"), api_key=KEY, secret=SECRET)
    asks_stream = b'{"messages":[{"role":"user","content":"one two"}],"stream":true}'
    asks_nothing = b'{"messages":[{"role":"user","content":"three words here"}]}'
    as_json = sync.chat(raw_body=asks_stream, stream=False, request_id="req-sync-agent")
    as_events = streaming.chat(raw_body=asks_nothing, stream=True, request_id="req-stream-agent")
    assert as_json.content_type.startswith("application/json")
    assert as_json.assert_contract() == {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}
    assert as_events.content_type.startswith("text/event-stream")
    assert as_events.assert_contract() == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
    rows = {r.request_id: r.stream for r in UsageRecord.objects.all()}
    assert rows == {"req-sync-agent": False, "req-stream-agent": True}
    # An agent not listed answers in the mode its body asks for.
    other = AgentsGateway(client, path=path.format("other"), api_key=KEY, secret=SECRET)
    other.chat(raw_body=asks_stream, stream=True).assert_contract()


def test_a_bad_agent_mode_setting_answers_503_not_a_guess(gateway, settings):
    settings.AGENTS_GATEWAY_AGENT_MODES = ["echo:fast"]
    reply = gateway.chat("hi", request_id="req-bad-mode")
    assert reply.status == 503
    assert (only_record().status, only_record().http_status) == ("error", 503)


def test_the_body_model_is_echoed_and_journaled(gateway):
    reply = gateway.chat("hi", model="my-agent-v2", request_id="req-model")
    assert reply.json["model"] == "my-agent-v2"
    assert only_record().model == "my-agent-v2"


def test_a_call_without_request_id_is_answered_and_journaled_under_a_local_id(gateway):
    reply = gateway.chat("no id", omit=("X-Request-Id",))
    reply.assert_contract()
    assert only_record().request_id.startswith("local-")


def test_text_parts_of_a_multimodal_message_are_read(gateway):
    content = [{"type": "text", "text": "look at"}, {"type": "image_url", "image_url": {"url": "x"}}]
    reply = gateway.chat(messages=[{"role": "user", "content": content}])
    assert reply.text == "look at"


# --- the pluggable model --------------------------------------------------------------------------


def test_the_model_function_is_chosen_by_a_setting_and_its_usage_wins(gateway, settings):
    settings.AGENTS_GATEWAY_MODEL = "tests.agents_gateway.model_functions.reports_its_own_usage"
    reply = gateway.chat("ignored", request_id="req-own")
    assert reply.text == "counted by the model"
    assert reply.assert_contract() == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10, "image_count": 1}
    assert only_record().image_count == 1


def test_a_model_that_reports_no_usage_gets_a_whitespace_count(gateway, settings):
    settings.AGENTS_GATEWAY_MODEL = "tests.agents_gateway.model_functions.reports_nothing"
    usage = gateway.chat("a b", stream=True).assert_contract()
    assert usage == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}


def test_a_failing_model_answers_502_without_details_and_is_journaled_as_error(gateway, settings):
    settings.AGENTS_GATEWAY_MODEL = "tests.agents_gateway.model_functions.fails_at_once"
    reply = gateway.chat("hello", request_id="req-fail")
    assert reply.status == 502
    assert b"secret-host" not in reply.body and reply.json["error"]["type"] == "server_error"
    record = only_record()
    assert (record.status, record.http_status, record.total_tokens) == ("error", 502, None)
    assert record.error == "model failed: RuntimeError"


def test_a_model_failing_mid_stream_ends_the_stream_with_an_error_and_no_usage(gateway, settings):
    settings.AGENTS_GATEWAY_MODEL = "tests.agents_gateway.model_functions.fails_mid_stream"
    reply = gateway.chat("hello", stream=True, request_id="req-fail-stream")
    assert reply.events[-1] == "[DONE]"
    assert reply.events[-2] == {"error": {"message": "the model failed", "type": "server_error", "code": None}}
    assert "usage" in " ".join(reply.problems())
    assert only_record().status == "error"


@pytest.mark.django_db(transaction=True)  # closing the response ends the "request" and its connection
def test_a_stream_the_client_leaves_before_usage_is_journaled_incomplete(client, gateway):
    token = gateway.auth_value()
    body = b'{"stream": true, "messages": [{"role": "user", "content": "a long answer"}]}'
    response = client.post(
        "/agents/echo/v1/chat/completions",
        data=body,
        content_type="application/json",
        headers={"Authorization": token, "X-Request-Id": "req-gone"},
    )
    assert next(iter(response.streaming_content)).startswith(b"data: ")
    response.close()  # the connection dropped: the WSGI server closes the response mid-stream
    record = only_record()
    assert (record.status, record.usage) == ("incomplete", None)


def test_a_model_setting_that_cannot_be_imported_answers_503_and_is_journaled(gateway, settings):
    settings.AGENTS_GATEWAY_MODEL = "tests.agents_gateway.model_functions.no_such_model"
    reply = gateway.chat("hello", request_id="req-no-model")
    assert reply.status == 503 and reply.json["error"]["message"] == "service unavailable"
    assert (only_record().status, only_record().http_status) == ("error", 503)


# --- bad bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "the body is not UTF-8 JSON"),
        (b"[1, 2]", "the body is not a JSON object"),
        (b'{"messages": []}', "messages must be a non-empty array"),
        (b'{"messages": [{"content": "x"}]}', "every message needs a role"),
        (b'{"messages": [{"role": "user", "content": "x"}], "stream": "yes"}', "stream must be true or false"),
    ],
)
def test_a_bad_body_is_answered_400_in_openai_shape_and_journaled(gateway, body, message):
    reply = gateway.chat(raw_body=body, request_id="req-bad")
    assert reply.status == 400
    assert reply.json == {"error": {"message": message, "type": "invalid_request_error", "code": None}}
    record = only_record()
    assert (record.status, record.http_status, record.usage) == ("client_error", 400, None)


NESTED = b"[" * 100_000
MESSAGES = b'"messages": [{"role": "user", "content": "hi"}]'


@pytest.mark.parametrize("stream", [b"false", b"true"])
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (NESTED, "the body is not UTF-8 JSON: nesting too deep"),
        (b'{"stream": %s, "messages": ' + NESTED, "the body is not UTF-8 JSON: nesting too deep"),
        (b'{"stream": %s, "model": "gpt\\u0000x", ' + MESSAGES + b"}", "the body contains a NUL character"),
        (b'{"stream": %s, "model": "gpt\\ud800", ' + MESSAGES + b"}", "lone surrogate escape"),
        (b'{"stream": %s, "messages": [{"role": "user", "content": "a \\ud800"}]}', "lone surrogate escape"),
        (b'{"stream": %s, "temperature": NaN, ' + MESSAGES + b"}", "NaN is not a JSON number"),
    ],
    ids=["nested", "nested_messages", "nul_model", "surrogate_model", "surrogate_content", "nan"],
)
def test_a_body_no_journal_could_hold_is_answered_400_up_front_and_journaled(gateway, body, message, stream):
    reply = gateway.chat(raw_body=body.replace(b"%s", stream), request_id="req-x")
    assert reply.status == 400 and reply.content_type.startswith("application/json")
    assert message in reply.json["error"]["message"] and reply.json["error"]["type"] == "invalid_request_error"
    record = only_record()
    assert (record.status, record.http_status, record.usage, record.model) == ("client_error", 400, None, "")


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul(gateway):
    body = b'{"model": "a\\\\u0000b", ' + MESSAGES + b"}"
    assert gateway.chat(raw_body=body, request_id="req-backslash").status == 200
    assert only_record().model == "a\\u0000b"


@pytest.mark.parametrize("stream", [False, True])
def test_a_journal_that_cannot_write_never_breaks_the_answer(gateway, monkeypatch, caplog, stream):
    def broken(**fields):
        raise ValueError("A string literal cannot contain NUL (0x00) characters.")

    monkeypatch.setattr("agents_gateway.services.usage_record", broken)
    with caplog.at_level(logging.ERROR, logger="agents_gateway"):
        reply = gateway.chat("still answered", stream=stream, request_id="req-no-journal")
    assert reply.assert_contract() == {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}
    assert "agents_gateway.journal_failed request_id=req-no-journal error=ValueError" in caplog.text


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("function", "failure"),
    [("answers_a_lone_surrogate", "UnicodeEncodeError"), ("reports_a_nan_duration", "ValueError")],
)
def test_a_model_answering_what_json_cannot_carry_fails_and_is_journaled_as_error_not_ok(
    gateway, settings, stream, function, failure
):
    settings.AGENTS_GATEWAY_MODEL = f"tests.agents_gateway.model_functions.{function}"
    reply = gateway.chat("hello", stream=stream, request_id="req-surrogate-answer")
    if stream:
        assert reply.events[-2:] == [error_body("the model failed", "server_error"), "[DONE]"]
    else:
        assert reply.status == 502 and reply.json == error_body("the model failed", "server_error")
    record = only_record()
    assert (record.status, record.total_tokens) == ("error", None)
    assert record.error == f"model failed: {failure}"


def test_a_get_is_answered_405(gateway):
    reply = gateway.chat(method="GET", request_id="req-get")
    assert reply.status == 405 and reply.headers["allow"] == "POST"


# --- authentication -------------------------------------------------------------------------------


def test_the_bare_token_form_is_accepted(gateway):
    gateway.bearer = False
    gateway.chat("bare").assert_contract()
    assert HeaderSample.objects.get().token_form == "bare"


def test_the_previous_key_of_a_rotation_is_accepted(client):
    AgentsGateway(client, api_key=OLD_KEY, secret=OLD_SECRET).chat("old key", request_id="req-old").assert_contract()
    assert only_record().api_key == OLD_KEY


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("wrong_secret", "wrong_secret"),
        ("expired", "expired"),
        ("expired_in_ms_valid_in_seconds", "expired"),
        ("unknown_key", "unknown_key"),
        ("wrong_header_form", "wrong_header_form"),
        ("malformed", "malformed"),
        ("missing_header", "missing_header"),
        ("nested_too_deep", "malformed"),
    ],
)
def test_every_refusal_is_a_generic_401_with_the_reason_only_in_logs(gateway, caplog, case, reason):
    now = now_ms()
    options = {
        "wrong_secret": {"token": sign_token(KEY, "wrong-secret")},
        "expired": {"token": sign_token(KEY, SECRET, timestamp_ms=now - 10 * 60 * 1000)},
        "expired_in_ms_valid_in_seconds": {
            "token": sign_token(KEY, SECRET, timestamp_ms=now, extra_claims={"exp": now // 1000 + 300})
        },
        "unknown_key": {"token": sign_token("ak-unknown", SECRET)},
        "wrong_header_form": {"auth": "Basic " + sign_token(KEY, SECRET)},
        "malformed": {"auth": "Bearer not-a-token"},
        "missing_header": {"omit": ("Authorization",)},
        "nested_too_deep": {"token": base64.urlsafe_b64encode(b"[" * 1000).decode().rstrip("=") + ".e30.c2ln"},
    }[case]
    with caplog.at_level(logging.WARNING, logger="agents_gateway"):
        reply = gateway.chat("let me in", request_id=f"req-{case}", **options)
    assert reply.status == 401
    assert reply.json == UNAUTHORIZED
    assert UsageRecord.objects.count() == 0  # refused calls never claim a request id
    assert f"agents_gateway.refused reason={reason}" in caplog.text
    assert SECRET not in caplog.text and "wrong-secret" not in caplog.text
    assert HeaderSample.objects.get().outcome == reason


def test_a_required_bearer_form_refuses_the_bare_token(gateway, settings):
    settings.AGENTS_GATEWAY_TOKEN_FORM = "bearer"
    gateway.bearer = False
    assert gateway.chat("bare").status == 401
    gateway.bearer = True
    assert gateway.chat("bearer").status == 200


def test_a_configured_header_name_carries_the_token(gateway, settings):
    settings.AGENTS_GATEWAY_HEADER = "X-Gateway-Token"
    assert gateway.chat("in Authorization").status == 401
    gateway.header = "X-Gateway-Token"
    gateway.chat("in X-Gateway-Token").assert_contract()


def test_the_constant_header_mode_accepts_the_configured_value_only(client, header_mode):
    own = AgentsGateway(client, constant=CONSTANT, header="X-Agent-Auth")
    own.chat("own auth", request_id="req-own-auth").assert_contract()
    assert only_record().api_key == ""
    assert own.chat("wrong", auth="not-the-constant").status == 401
    assert own.chat("absent", omit=("X-Agent-Auth",)).status == 401
    # A signed token is no substitute for the constant.
    assert AgentsGateway(client, api_key=KEY, secret=SECRET).chat("jwt").status == 401


def test_the_endpoints_are_404_while_the_app_is_off(gateway, settings):
    settings.AGENTS_GATEWAY_MODE = "off"
    reply = gateway.chat("anyone home")
    assert reply.status == 404
    assert UsageRecord.objects.count() == 0 and HeaderSample.objects.count() == 0


def test_a_misconfigured_mode_answers_503_not_an_open_door(gateway, settings):
    settings.AGENTS_GATEWAY_KEYS = ""
    assert gateway.chat("no keys").status == 503


# --- header-name samples --------------------------------------------------------------------------


def test_the_header_names_of_the_first_calls_are_kept_without_values(gateway, settings):
    settings.AGENTS_GATEWAY_HEADER_SAMPLES = 2
    gateway.chat("one")
    gateway.chat("two", token=sign_token(KEY, "bad"))
    gateway.chat("three")
    samples = list(HeaderSample.objects.order_by("slot"))
    assert [(s.slot, s.outcome) for s in samples] == [(1, "accepted"), (2, "wrong_secret")]
    names = samples[0].header_names
    assert {"Authorization", "X-Request-Id", "X-Customer-Id", "X-Customer-Name", "Content-Type"} <= set(names)
    assert samples[0].token_header == "Authorization" and samples[0].token_form == "bearer"
    stored = str([(s.header_names, s.path, s.api_key) for s in samples])
    assert "Bearer" not in stored and "sim-customer" not in stored


def test_deleting_the_samples_lets_new_calls_be_sampled(gateway, settings):
    settings.AGENTS_GATEWAY_HEADER_SAMPLES = 1
    gateway.chat("one")
    HeaderSample.objects.all().delete()
    gateway.chat("two")
    assert HeaderSample.objects.get().slot == 1
