"""Hostile and malformed input: every case gets the right signed result code, the journal keeps
working, and nothing secret is kept (koogallery-protocol.md §2.8, §4.0)."""

import io
import json

import pytest

from config.wsgi import application
from marketplace_isv import fields, journal, journal_writer, routes
from marketplace_isv.envelope import ParamError
from marketplace_isv.models import Delivery
from marketplace_isv.simulator.client import Reply, new_nonce
from tests.conftest import ACCESS_KEY, KIT_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def test_routes(monkeypatch):
    for table in (routes.PRODUCE_V1, routes.PRODUCE_V2):
        monkeypatch.setitem(table, "echo", "tests.marketplace_isv.handlers.echo")
        monkeypatch.setitem(table, "withPassword", "tests.marketplace_isv.handlers_more.with_password")
    monkeypatch.setitem(routes.KIT_V2, "tenantSync", "tests.marketplace_isv.handlers.echo")


def call(environ_extra: dict, body: bytes = b"") -> Reply:
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/koogallery/produce", "QUERY_STRING": "", "SERVER_NAME": "x",
        "SERVER_PORT": "80", "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
        "CONTENT_LENGTH": str(len(body)), **environ_extra,
    }  # fmt: skip
    from tests.conftest import _in_test_transaction

    seen = {}
    content = b"".join(
        _in_test_transaction(application)(environ, lambda status, headers: seen.update(status=status, headers=headers))
    )
    return Reply(int(seen["status"].split()[0]), {k.lower(): v for k, v in seen["headers"]}, content, ACCESS_KEY)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"activity":"echo","x":"\\ud800"}',  # a lone surrogate
        b"[" * 100_000 + b"]" * 100_000,  # nesting too deep to parse
        b'{"activity":"echo","x":NaN}',
    ],
)
def test_unsigned_malformed_bodies_are_authentication_failures(koogallery, raw):
    reply = koogallery.v2("echo", raw_body=raw, signature="0" * 64)
    assert reply.assert_envelope()["resultCode"] == "000001"


@pytest.mark.parametrize(
    "raw",
    [b'{"activity":"echo","x":"\\ud800"}', b"[" * 100_000 + b"]" * 100_000, b'{"activity":"echo","x":Infinity}'],
)
def test_signed_malformed_bodies_are_parameter_errors(koogallery, raw):
    reply = koogallery.v2("echo", raw_body=raw)
    assert reply.assert_envelope()["resultCode"] == "000002"


def test_kit_bodies_with_lone_surrogates_are_refused_not_crashed(koogallery):
    raw = b'{"tenantId":"t","x":"\\udfff","testFlag":1,"timeStamp":"20240101000000000"}'
    assert koogallery.kit_v2("tenantSync", {}, raw_body=raw).assert_envelope(KIT_KEY)["resultCode"] == "000002"
    assert koogallery.kit_v1("tenantSync", {}, raw_body=raw).assert_envelope(KIT_KEY)["resultCode"] == "000001"


@pytest.mark.parametrize("timestamp", ["9" * 5000, "-1680508066618", "1e12", "１６８０５０８０６６６１８"])
def test_timestamps_that_are_not_plain_decimal_ms_are_refused(koogallery, timestamp):
    assert koogallery.v2("echo", {}, timestamp=timestamp).assert_envelope()["resultCode"] == "000001"


@pytest.mark.parametrize("value", ["Infinity", "NaN", "sNaN", "1e1000000", "1e400", "12abc", "--1"])
def test_numbers_are_plain_digits_or_refused(value):
    with pytest.raises(ParamError):
        fields.integer({"amount": value}, "amount")
    with pytest.raises(ParamError):
        fields.decimal({"orderAmount": value}, "orderAmount")


def test_numbers_in_the_documented_forms_are_read():
    assert fields.integer({"n": "12"}, "n") == 12
    assert fields.integer({"n": 12}, "n") == 12
    assert fields.integer({"n": "3.0"}, "n") == 3
    assert str(fields.decimal({"a": "-12.345"}, "a")) == "-12.345"
    assert fields.decimal({"a": 0}, "a") == 0


def test_integers_are_huaweis_int_a_java_int():
    assert fields.integer({"n": "2147483647"}, "n") == 2**31 - 1
    assert fields.integer({"n": "-2147483648"}, "n") == -(2**31)
    for value in ("2147483648", "-2147483649", "99999999999"):
        with pytest.raises(ParamError, match="out of range"):
            fields.integer({"n": value}, "n")


def test_a_v1_call_with_an_exponent_amount_is_answered_at_once(koogallery, monkeypatch):
    def amount(payload, caller):
        return fields.integer(payload, "amount") and None

    monkeypatch.setitem(routes.PRODUCE_V1, "amountProbe", "tests.marketplace_isv.test_hostile_input.probe_amount")
    reply = koogallery.v1("amountProbe", {"amount": "1e1000000"})
    assert reply.assert_envelope()["resultCode"] == "000002"


def probe_amount(payload, caller):
    from marketplace_isv.envelope import Result

    fields.integer(payload, "amount")
    return Result.ok()


def test_a_replay_is_refused_and_signed_with_the_familys_primary_key(koogallery):
    nonce = new_nonce()
    # A V1 seller's single key also verifies Kit calls (§1.4); its replay is still a refusal,
    # signed like every authentication failure with the Kit key (§2.8).
    assert koogallery.kit_v2("tenantSync", {"echo": "x"}, key=ACCESS_KEY, nonce=nonce).code == "000000"
    replay = koogallery.kit_v2("tenantSync", {"echo": "x"}, key=ACCESS_KEY, nonce=nonce)
    assert replay.assert_envelope(KIT_KEY)["resultCode"] == "000001"


@pytest.mark.parametrize("path", ["/koogallery", "/koogallery/", "/koogallery/produce/extra/deep"])
def test_bare_and_unknown_koogallery_paths_answer_signed_000002_without_redirect(path):
    reply = call({"PATH_INFO": path, "REQUEST_METHOD": "GET", "CONTENT_LENGTH": ""})
    assert reply.assert_envelope()["resultCode"] == "000002"


def test_an_oversized_body_is_read_before_the_answer_so_the_connection_survives(settings):
    settings.KOOGALLERY_MAX_BODY_BYTES = 1024
    stream = io.BytesIO(b"x" * 5000)
    reply = call({"wsgi.input": stream, "CONTENT_LENGTH": "5000"})
    assert reply.assert_envelope()["resultCode"] == "000002"
    assert stream.tell() == 5000  # drained, so the server does not reset the connection


def test_a_huge_declared_length_is_refused_and_journaled(settings):
    reply = call({"wsgi.input": io.BytesIO(b""), "CONTENT_LENGTH": "3000000000"})
    assert reply.assert_envelope()["resultCode"] == "000002"
    row = Delivery.objects.latest("received_at")
    assert row.body_omitted and row.body_bytes == 2**31 - 1


def test_raw_utf8_in_a_v1_query_string_is_read_as_utf8(koogallery):
    query = koogallery.v1_query("echo", {"echo": "中文"})
    raw = query.replace("%E4%B8%AD%E6%96%87", "中文").encode("utf-8").decode("latin-1")  # what a WSGI server hands over
    reply = call({"REQUEST_METHOD": "GET", "QUERY_STRING": raw, "CONTENT_LENGTH": ""})
    assert reply.json == {**reply.json, "resultCode": "000000", "echo": "中文"}


def test_an_unexpected_failure_outside_the_pipeline_still_answers_signed_000005(monkeypatch):
    from marketplace_isv import views

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "answer", broken)
    reply = call({}, b"{}")
    assert reply.assert_envelope()["resultCode"] == "000005"


def test_the_initial_password_is_answered_but_not_kept_in_the_journal(koogallery):
    reply = koogallery.v2("withPassword", {"instanceId": "i-1"})
    assert reply.json["info"][0]["appInfo"]["password"] == "S3cret!pw"
    row = Delivery.objects.get(instance_id="i-1")
    assert "S3cret!pw" not in row.response_body
    assert json.loads(row.response_body)["info"][0]["appInfo"]["password"] == "[redacted]"


def test_percent_encoded_secret_names_are_redacted_too(koogallery):
    query = koogallery.v1_query("echo", {}).replace("authToken=", "auth%54oken=")
    reply = call({"REQUEST_METHOD": "GET", "QUERY_STRING": query, "CONTENT_LENGTH": ""})
    assert reply.code == "000000"
    assert "auth%54oken=[redacted]" in Delivery.objects.latest("received_at").raw_query


def test_unverified_bodies_are_kept_only_in_part(koogallery, settings):
    koogallery.v2("echo", {"filler": "x" * 200_000}, key="wrong")
    row = Delivery.objects.latest("received_at")
    assert len(row.raw_body) == journal.UNVERIFIED_BODY_LIMIT and row.body_bytes > 200_000


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "hostile",
    [{"orderId": "CS\u0000X"}, {"orderId": "CS\ud800X"}, {"instanceId": "a" * 10_000}],
    ids=["nul", "surrogate", "long"],
)
def test_the_batch_journal_survives_hostile_identifiers(koogallery, settings, monkeypatch, hostile):
    settings.ISV_JOURNAL_ASYNC = True
    monkeypatch.setattr(journal_writer, "_writer", None)
    from marketplace_isv.simulator.client import compact_sorted

    if any("\ud800" in value for value in hostile.values()):
        raw = b'{"activity":"echo","orderId":"CS\\ud800X"}'  # unsigned; its id still reaches the journal
    else:
        raw = compact_sorted({"activity": "echo", **hostile})
    assert koogallery.v2("echo", raw_body=raw, key="wrong").code == "000001"
    assert koogallery.v2("echo", {"orderId": "CS-AFTER"}, key="wrong").code == "000001"
    assert journal_writer.writer().flush(timeout=10)
    journal_writer.writer().stop()
    assert Delivery.objects.filter(order_id="CS-AFTER").exists()
    assert Delivery.objects.count() == 2


@pytest.mark.parametrize("leaf", ['"\\ud83d\\ude00"', '"a\\u0000b"', '"x"'], ids=["surrogate pair", "NUL", "plain"])
@pytest.mark.parametrize("depth", [450, 900])
def test_moderate_nesting_is_refused_cleanly_signed_or_not(koogallery, leaf, depth):
    raw = ('{"activity":"echo","testFlag":"1","zz":' + "[" * depth + leaf + "]" * depth + "}").encode()
    assert koogallery.v2(None, raw_body=raw, signature="0" * 64).assert_envelope()["resultCode"] == "000001"
    assert koogallery.v2(None, raw_body=raw).assert_envelope()["resultCode"] == "000002"
    journaled = list(Delivery.objects.order_by("received_at").values_list("verified", "result_code"))
    assert journaled == [(False, "000001"), (True, "000002")]  # both recorded, whole
