"""The usage journal: the library call and the endpoint, idempotent per X-Request-Id."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from agents_gateway import services
from agents_gateway.models import UsageRecord
from agents_gateway.usage import Usage, UsageError
from tests.agents_gateway.conftest import JOURNAL_TOKEN

pytestmark = pytest.mark.django_db

USAGE = {"prompt_tokens": 31, "completion_tokens": 217, "total_tokens": 248}


def post(client, body, token=JOURNAL_TOKEN, raw=None):
    return client.post(
        "/agents/usage",
        data=raw if raw is not None else json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )


def call(**overrides):
    return {
        "request_id": "5f0c9a52-0b0e-4c53-9d0a-8a1b0c1d2e3f",
        "customer_id": "cust-001",
        "customer_name": "Buyer One",
        "agent": "translator",
        "usage": USAGE,
        **overrides,
    }


# --- library call ---------------------------------------------------------------------------------


def test_the_library_call_records_a_call_with_its_usage():
    record, created = services.usage_record(request_id="r1", agent="a", usage=USAGE, customer_id="c1")
    assert created
    assert (record.prompt_tokens, record.completion_tokens, record.total_tokens) == (31, 217, 248)
    assert record.usage == USAGE and record.source == "library" and record.status == "ok"


def test_a_repeated_request_id_changes_nothing_and_succeeds():
    first, created = services.usage_record(request_id="r1", agent="a", usage=USAGE)
    again, created_again = services.usage_record(
        request_id="r1", agent="b", status="error", usage=None, customer_id="someone-else"
    )
    assert created and not created_again
    assert again.pk == first.pk
    again.refresh_from_db()
    assert (again.agent, again.status, again.total_tokens, again.customer_id) == ("a", "ok", 248, "")
    assert UsageRecord.objects.count() == 1


def test_the_newer_usage_fields_are_kept():
    usage = {"input_tokens": 12, "output_tokens": 30, "image_count": 2, "video_duration": 12.5}
    record, _ = services.usage_record(request_id="r2", agent="video", usage=usage)
    assert (record.input_tokens, record.output_tokens, record.image_count) == (12, 30, 2)
    assert record.video_duration == Decimal("12.5")
    assert record.prompt_tokens is None


def test_a_usage_object_works_as_well_as_a_mapping():
    record, _ = services.usage_record(request_id="r3", agent="a", usage=Usage.tokens(2, 3))
    assert record.usage == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": -1, "completion_tokens": 1, "total_tokens": 0},
        {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 3},
        {"prompt_tokens": "10", "completion_tokens": 1, "total_tokens": 11},
        {"prompt_tokens": True, "completion_tokens": 1, "total_tokens": 2},
        {"total_tokens": 5},
        {"video_duration": -2},
        {},
        [1, 2],
    ],
)
def test_a_usage_the_gateway_could_not_bill_from_is_refused(usage):
    with pytest.raises(UsageError):
        services.usage_record(request_id="bad", agent="a", usage=usage)
    assert UsageRecord.objects.count() == 0


def test_an_ok_call_without_usage_is_refused_but_a_failed_call_needs_none():
    with pytest.raises(UsageError):
        services.usage_record(request_id="r4", agent="a", status="ok", usage=None)
    record, _ = services.usage_record(request_id="r4", agent="a", status="error", usage=None)
    assert record.total_tokens is None


# --- endpoint -------------------------------------------------------------------------------------


def test_the_endpoint_records_a_call_then_acknowledges_a_repeat_without_change(client):
    first = post(client, call(received_at="2025-05-01T10:00:00+08:00"))
    repeat = post(client, call(usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}))
    assert first.status_code == 201 and first.json()["created"] is True
    assert repeat.status_code == 200 and repeat.json()["created"] is False
    record = UsageRecord.objects.get()
    assert record.total_tokens == 248 and record.source == "api"
    assert record.received_at == datetime(2025, 5, 1, 2, 0, tzinfo=UTC)


def test_the_endpoint_takes_epoch_milliseconds_for_received_at(client):
    assert post(client, call(received_at=1_746_064_800_000)).status_code == 201
    assert UsageRecord.objects.get().received_at == datetime(2025, 5, 1, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (call(request_id=""), "request_id is required"),
        (call(agent=""), "agent is required"),
        (call(status="great"), "status must be one of"),
        (call(usage={"total_tokens": -1}), "usage.total_tokens is not a non-negative integer"),
        (call(usage=None), "usage is required when status is ok"),
        (call(http_status=99), "http_status must be an HTTP status code"),
        (call(received_at="yesterday"), "received_at must be ISO 8601 or epoch milliseconds"),
        (call(customer_id=7), "customer_id must be a string"),
    ],
)
def test_the_endpoint_answers_400_with_the_reason(client, body, message):
    response = post(client, body)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    assert UsageRecord.objects.count() == 0


def test_a_long_request_id_reported_twice_is_one_row(client):
    long_id = "r" * 400
    assert post(client, call(request_id=long_id)).status_code == 201
    repeat = post(client, call(request_id=long_id))
    assert repeat.status_code == 200 and repeat.json()["created"] is False
    assert len(UsageRecord.objects.get().request_id) == 255


BIG = 2**63  # one beyond PostgreSQL's bigint


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (call(request_id="r\x00"), "request_id contains a NUL character"),
        (call(agent="a\x00"), "agent contains a NUL character"),
        (call(customer_name="Buyer\x00One"), "customer_name contains a NUL character"),
        (call(usage={**USAGE, "note": "x\x00"}), "usage contains a NUL character"),
        (call(usage={**USAGE, "no\x00te": 1}), "usage contains a NUL character"),
        (call(request_id="r\ud800"), "lone surrogate escape"),
        (call(agent="a\ud800"), "lone surrogate escape"),
        (call(usage={**USAGE, "note": "\ud800"}), "lone surrogate escape"),
        (call(usage={"prompt_tokens": BIG, "completion_tokens": 0, "total_tokens": BIG}), "usage.prompt_tokens"),
        (call(usage={"input_tokens": 1, "output_tokens": BIG}), "usage.output_tokens"),
        (call(usage={"image_count": BIG}), "usage.image_count"),
        (call(usage={"video_duration": 1e20}), "usage.video_duration"),
        (call(usage={"video_duration": 10**400}), "usage.video_duration"),
        (call(usage={"video_duration": 9_999_999_999_999.9999}), "usage.video_duration"),
        (call(usage={"video_duration": float("inf")}), "Infinity is not a JSON number"),
        (call(usage={**USAGE, "score": float("nan")}), "NaN is not a JSON number"),
        (call(latency_ms=10**400), "latency_ms"),
        (call(latency_ms=-1.5), "latency_ms must not be negative"),
        (call(received_at="2025-02-30T00:00:00"), "received_at"),
        (call(received_at="2025-01-01T25:00:00"), "received_at"),
        (call(received_at="2025-01-01T00:00:00+99:00"), "received_at"),
        (call(received_at="9999-12-31T23:59:59-01:00"), "received_at"),
        (call(received_at=10**400), "received_at"),
    ],
)
def test_the_endpoint_answers_400_with_the_reason_to_values_no_column_can_hold(client, body, message):
    response = post(client, body)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    assert UsageRecord.objects.count() == 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[" * 100_000, "nesting too deep"),
        (b'{"request_id": "r", "agent": "a", "usage": {"video_duration": 1e400}}', "usage.video_duration"),
        (b'{"request_id": "r", "agent": "a", "usage": {"video_duration": Infinity}}', "Infinity"),
        (b'{"request_id": "r", "agent": "a", "latency_ms": 1e400, "status": "error"}', "latency_ms"),
        (b'{"request_id": "r", "agent": "a", "latency_ms": ' + b"9" * 5000 + b"}", "too many digits"),
    ],
)
def test_the_endpoint_answers_400_with_the_reason_to_json_no_column_can_hold(client, raw, message):
    response = post(client, None, raw=raw)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    assert UsageRecord.objects.count() == 0


def test_a_usage_nested_deeper_than_a_usage_object_is_refused_whatever_the_body_reading_allowed(client):
    # 40 levels pass the body's reading (at most 64) but not the usage object's own limit; 900 do
    # not even pass the body's reading.
    for depth, message in ((40, "usage nests deeper than 32 levels"), (900, "nesting too deep")):
        raw = json.dumps(call(usage={**USAGE, "details": json.loads("[" * depth + "]" * depth)}))
        response = post(client, None, raw=raw.encode())
        assert response.status_code == 400
        assert message in response.json()["error"]["message"]
    details = {"prompt_tokens_details": {"cached_tokens": 3}}
    assert post(client, call(usage={**USAGE, **details})).status_code == 201


def test_the_largest_values_the_columns_hold_are_journaled(client):
    usage = {"prompt_tokens": BIG - 1, "completion_tokens": 0, "total_tokens": BIG - 1, "video_duration": 9.5e12}
    body = call(usage=usage, latency_ms=1e300, received_at="0001-01-01T00:00:00Z")
    assert post(client, body).status_code == 201
    record = UsageRecord.objects.get()
    assert (record.total_tokens, record.video_duration) == (BIG - 1, Decimal("9500000000000"))


@pytest.mark.parametrize(
    "usage",
    [
        Usage(image_count=BIG),
        Usage(video_duration=Decimal("Infinity")),
        Usage(video_duration=Decimal("NaN")),
        {"video_duration": float("inf")},
        {"prompt_tokens": BIG, "completion_tokens": 0, "total_tokens": BIG},
    ],
)
def test_the_library_call_refuses_usage_no_column_can_hold(usage):
    with pytest.raises(UsageError):
        services.usage_record(request_id="big", agent="a", usage=usage)
    assert UsageRecord.objects.count() == 0


def test_the_endpoint_answers_400_to_a_body_that_is_not_json(client):
    assert post(client, None, raw=b"{nope").status_code == 400


def test_the_endpoint_needs_the_journal_token(client):
    assert post(client, call(), token="wrong-token").status_code == 401
    assert post(client, call(), token=None).status_code == 401
    assert UsageRecord.objects.count() == 0


def test_the_endpoint_is_404_until_a_journal_token_is_configured(client, settings):
    settings.AGENTS_GATEWAY_JOURNAL_TOKEN = ""
    assert post(client, call(), token="").status_code == 404
