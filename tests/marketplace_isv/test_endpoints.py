"""The protocol layer end to end through the simulator: every scheme accepts a valid call and
answers every bad one with the right signed code, journaled, never an HTTP error."""

import json

import pytest

from marketplace_isv import routes
from marketplace_isv.models import Delivery, SeenNonce
from marketplace_isv.simulator.client import epoch_ms, new_nonce
from tests.conftest import ACCESS_KEY, KIT_KEY, OLD_KEY

pytestmark = pytest.mark.django_db

WRONG_KEY = "not-the-seller-key"


@pytest.fixture(autouse=True)
def test_routes(monkeypatch):
    for table in (routes.PRODUCE_V1, routes.PRODUCE_V2):
        monkeypatch.setitem(table, "echo", "tests.marketplace_isv.handlers.echo")
        monkeypatch.setitem(table, "explode", "tests.marketplace_isv.handlers.explode")
        monkeypatch.setitem(table, "writeThenRefuse", "tests.marketplace_isv.handlers.write_then_refuse")
    for table in (routes.KIT_V1, routes.KIT_V2):
        monkeypatch.setitem(table, "tenantSync", "tests.marketplace_isv.handlers.echo")


def journal() -> Delivery:
    return Delivery.objects.order_by("-received_at").first()


def send(koogallery, scheme, **options):
    """One call in `scheme` through the simulator; options are passed to the simulator."""
    if scheme == "v1":
        return koogallery.v1(options.pop("activity", "echo"), {"echo": "hi", **options.pop("fields", {})}, **options)
    if scheme == "v2":
        return koogallery.v2(options.pop("activity", "echo"), {"echo": "hi", **options.pop("fields", {})}, **options)
    if scheme == "kit_v1":
        return koogallery.kit_v1(
            options.pop("name", "tenantSync"), {"echo": "hi", **options.pop("fields", {})}, **options
        )
    return koogallery.kit_v2(options.pop("name", "tenantSync"), {"echo": "hi", **options.pop("fields", {})}, **options)


SCHEMES = ["v1", "v2", "kit_v1", "kit_v2"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_valid_call_is_accepted_signed_and_journaled(koogallery, scheme):
    reply = send(koogallery, scheme)
    data = reply.assert_envelope(KIT_KEY if scheme.startswith("kit") else ACCESS_KEY)
    assert data["resultCode"] == "000000"
    assert data["echo"] == "hi"
    assert data["scheme"] == scheme
    row = journal()
    assert (row.scheme, row.verified, row.result_code) == (scheme, True, "000000")
    assert row.key_name == ("kit" if scheme.startswith("kit") else "access")
    assert row.response_body == reply.body.decode()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_wrong_key_is_refused_with_000001(koogallery, scheme):
    reply = send(koogallery, scheme, key=WRONG_KEY)
    # A refused call is signed with the family's primary key (§2.6).
    data = reply.assert_envelope(KIT_KEY if scheme.startswith("kit") else ACCESS_KEY)
    assert data["resultCode"] == "000001"
    row = journal()
    assert (row.verified, row.result_code, row.key_name) == (False, "000001", "")
    assert "does not match" in row.error


@pytest.mark.parametrize("scheme", ["v2", "kit_v2"])
def test_tampered_body_is_refused(koogallery, scheme):
    signed = b'{"activity":"echo","echo":"hi","testFlag":"1"}'
    tampered = b'{"activity":"echo","echo":"hacked","testFlag":"1"}'
    reply = send(koogallery, scheme, raw_body=tampered, signed_body=signed)
    assert reply.assert_envelope()["resultCode"] == "000001"
    assert journal().raw_body == tampered.decode()


def test_tampered_v1_parameter_is_refused(koogallery):
    query = koogallery.v1_query("echo", {"echo": "hi"})
    reply = koogallery._send("GET", "/koogallery/produce", query.replace("echo=hi", "echo=bye"), None, {}, ACCESS_KEY)
    assert reply.assert_envelope()["resultCode"] == "000001"


def test_tampered_kit_v1_member_is_refused(koogallery):
    good = send(koogallery, "kit_v1")
    assert good.code == "000000"
    body = json.loads(good.request_body)
    body["echo"] = "bye"
    reply = koogallery.kit_v1("tenantSync", body, raw_body=json.dumps(body).encode(), key=WRONG_KEY)
    assert reply.assert_envelope()["resultCode"] == "000001"


@pytest.mark.parametrize(
    "scheme,options",
    [
        ("v1", {"omit_token": True}),
        ("v2", {"omit": ("signature",)}),
        ("v2", {"omit": ("nonce",)}),
        ("v2", {"omit": ("timestamp",)}),
        ("kit_v1", {"omit_token": True}),
        ("kit_v2", {"omit": ("x-sign",)}),
        ("kit_v2", {"omit": ("x-nonce",)}),
        ("kit_v2", {"omit": ("x-timestamp",)}),
    ],
)
def test_missing_authentication_answers_000001(koogallery, scheme, options):
    reply = send(koogallery, scheme, **options)
    assert reply.assert_envelope()["resultCode"] == "000001"
    assert journal().result_code == "000001"


@pytest.mark.parametrize("scheme", ["v2", "kit_v2"])
@pytest.mark.parametrize("skew_ms", [-61_000, 61_000, -3_600_000])
def test_stale_or_future_timestamp_answers_000001(koogallery, scheme, skew_ms):
    reply = send(koogallery, scheme, timestamp=str(int(epoch_ms()) + skew_ms))
    assert reply.assert_envelope()["resultCode"] == "000001"
    assert "window" in journal().error


@pytest.mark.parametrize("scheme", ["v2", "kit_v2"])
def test_timestamp_in_seconds_is_accepted_u2(koogallery, scheme):
    reply = send(koogallery, scheme, timestamp=str(int(epoch_ms()) // 1000))
    assert reply.code == "000000"


@pytest.mark.parametrize("scheme", ["v2", "kit_v2"])
def test_non_numeric_timestamp_answers_000001(koogallery, scheme):
    assert send(koogallery, scheme, timestamp="12x4").code == "000001"


@pytest.mark.parametrize("scheme", ["v2", "kit_v2"])
def test_reused_nonce_answers_000001(koogallery, scheme):
    nonce = new_nonce()
    first = send(koogallery, scheme, nonce=nonce)
    again = send(koogallery, scheme, nonce=nonce)
    assert first.code == "000000"
    assert again.assert_envelope()["resultCode"] == "000001"
    assert journal().error == "nonce already used"


def test_nonce_of_a_refused_signature_is_not_stored(koogallery):
    nonce = new_nonce()
    assert send(koogallery, "v2", nonce=nonce, key=WRONG_KEY).code == "000001"
    assert not nonce_seen("v2", nonce)
    assert send(koogallery, "v2", nonce=nonce).code == "000000"
    assert nonce_seen("v2", nonce)


def nonce_seen(scheme, nonce):
    import redis
    from django.conf import settings

    from marketplace_isv import nonces

    key = nonces.key(scheme, nonce)
    in_redis = redis.Redis.from_url(settings.REDIS_URL).exists(f"isv:nonce:{key}")
    return bool(in_redis) or SeenNonce.objects.filter(key=key).exists()


@pytest.mark.parametrize("scheme", ["v2", "kit_v2"])
@pytest.mark.parametrize("body", [b"{not json", b"[1,2,3]", b"\xff\xfe garbage", b""])
def test_malformed_json_answers_000002(koogallery, scheme, body):
    reply = send(koogallery, scheme, raw_body=body)
    assert reply.assert_envelope()["resultCode"] == "000002"
    assert journal().result_code == "000002"


@pytest.mark.parametrize("body", [b"{broken", b"", b"[]", b'"text"'])
def test_kit_v1_body_that_is_not_an_object_cannot_be_authenticated(koogallery, body):
    # Kit V1 signs the body's members with the body's timeStamp (§2.2): without a JSON object
    # there is nothing to verify, so this is an authentication failure (§2.8), signed with the Kit key.
    reply = koogallery.kit_v1("tenantSync", {"x": 1}, raw_body=body)
    assert reply.assert_envelope(KIT_KEY)["resultCode"] == "000001"


@pytest.mark.parametrize("scheme", ["v1", "v2"])
def test_missing_activity_answers_000002(koogallery, scheme):
    if scheme == "v1":
        reply = koogallery.v1(None, {"echo": "hi"})
    else:
        reply = koogallery.v2(None, {"echo": "hi"})
    data = reply.assert_envelope()
    assert data["resultCode"] == "000002"
    assert "activity is required" in journal().error


@pytest.mark.parametrize("scheme", SCHEMES)
def test_unknown_activity_or_kit_name_answers_000002(koogallery, scheme):
    if scheme.startswith("kit"):
        reply = send(koogallery, scheme, name="noSuchSync")
    else:
        reply = send(koogallery, scheme, activity="noSuchActivity")
    assert reply.assert_envelope()["resultCode"] == "000002"
    assert journal().activity in ("noSuchSync", "noSuchActivity")


@pytest.mark.parametrize("scheme", ["v2", "kit_v1", "kit_v2"])
def test_body_over_the_limit_answers_000002_and_is_journaled_without_its_body(koogallery, settings, scheme):
    settings.KOOGALLERY_MAX_BODY_BYTES = 4096
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    reply = send(koogallery, scheme, fields={"filler": "x" * 5000})
    data = reply.assert_envelope()
    assert data["resultCode"] == "000002"
    assert "limit" in data["resultMsg"]
    row = journal()
    assert row.body_omitted and row.raw_body == "" and row.body_bytes > 4096


def test_a_v1_query_string_over_the_limit_answers_000002_and_is_journaled_without_it(koogallery, settings):
    """A V1 call's parameters are its query string: the request size limit holds for it too (§4.0)."""
    settings.KOOGALLERY_MAX_BODY_BYTES = 4096
    reply = send(koogallery, "v1", fields={"filler": "x" * 5000})
    data = reply.assert_envelope()  # signed with the basic key: nothing was verified
    assert data["resultCode"] == "000002" and "limit" in data["resultMsg"]
    row = journal()
    assert row.raw_query == "" and not row.verified and "not stored" in row.error
    assert send(koogallery, "v1", fields={"filler": "x" * 3000}).assert_envelope()["resultCode"] == "000000"


def test_default_limit_admits_a_two_megabyte_all_org_sync(koogallery):
    orgs = [{"orgCode": f"org-{i:06d}", "orgName": f"Department {i}", "parentCode": ""} for i in range(36000)]
    reply = koogallery.kit_v2("tenantSync", {"orgInfoList": orgs})
    assert len(reply.request_body) > 2 * 1024 * 1024
    assert reply.code == "000000"


@pytest.mark.parametrize("scheme", ["v1", "v2"])
def test_unexpected_error_answers_000005_without_leaking(koogallery, scheme):
    reply = send(koogallery, scheme, activity="explode")
    data = reply.assert_envelope()
    assert data["resultCode"] == "000005"
    assert "secret internals" not in reply.body.decode()
    assert "RuntimeError" in journal().error


def test_a_refusal_rolls_back_the_handlers_writes(koogallery):
    reply = koogallery.v2("writeThenRefuse", {"probe": "rolled-back"})
    assert reply.assert_envelope()["resultCode"] == "000002"
    assert not SeenNonce.objects.filter(key="probe:rolled-back").exists()
    assert journal().result_code == "000002"


def test_previous_key_is_accepted_and_signs_the_answer(koogallery, settings):
    settings.KOOGALLERY_PREVIOUS_ACCESS_KEYS = [OLD_KEY]
    reply = send(koogallery, "v2", key=OLD_KEY)
    assert reply.assert_envelope(OLD_KEY)["resultCode"] == "000000"
    assert not reply.body_sign_valid(ACCESS_KEY)
    assert journal().key_name == "previous#1"


def test_kit_calls_fall_back_to_the_basic_key_for_v1_sellers(koogallery):
    reply = send(koogallery, "kit_v1", key=ACCESS_KEY)
    assert reply.assert_envelope(ACCESS_KEY)["resultCode"] == "000000"
    assert journal().key_name == "access"


def test_basic_calls_do_not_accept_the_kit_key(koogallery):
    assert send(koogallery, "v2", key=KIT_KEY).code == "000001"


def test_v1_accepts_both_wire_forms_of_the_token(koogallery):
    query = koogallery.v1_query("echo", {"echo": "a+b/c"})
    assert "%2B" in query
    raw_plus = query.replace("%2B", "+").replace("%2F", "/").replace("%3D", "=")
    reply = koogallery._send("GET", "/koogallery/produce", raw_plus, None, {}, ACCESS_KEY)
    # With a raw `+` both in a value and in the token, only the form-decoding variant matches
    # for the value — which the service may not use — so check the token with a plain value too.
    plain = koogallery.v1_query("echo", {"echo": "plain"})
    plain_raw = plain.replace("%2B", "+").replace("%2F", "/").replace("%3D", "=")
    assert koogallery._send("GET", "/koogallery/produce", plain_raw, None, {}, ACCESS_KEY).code == "000000"
    assert reply.code in ("000000", "000001")


def test_v1_form_encoded_spaces_verify_through_the_fallback_variant(koogallery):
    query = koogallery.v1_query("echo", {"echo": "two words"}).replace("%20", "+")
    reply = koogallery._send("GET", "/koogallery/produce", query, None, {}, ACCESS_KEY)
    assert reply.json == {**reply.json, "resultCode": "000000", "echo": "two words"}
    assert journal().auth_variant == "form-decoded"


def test_v1_token_signed_without_empty_parameters_verifies(koogallery):
    from marketplace_isv.crypto import hmac_b64
    from marketplace_isv.schemes import v1_message

    fields = [
        ("activity", "echo"),
        ("echo", "hi"),
        ("userName", ""),
        ("testFlag", "1"),
        ("timeStamp", "20240101000000000"),
    ]
    token = hmac_b64(ACCESS_KEY + "20240101000000000", v1_message(fields, keep_empty=False))
    query = (
        "&".join(f"{k}={v}" for k, v in fields)
        + "&authToken="
        + token.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    )
    reply = koogallery._send("GET", "/koogallery/produce", query, None, {}, ACCESS_KEY)
    assert reply.code == "000000"
    assert journal().auth_variant == "empty-skipped"


@pytest.mark.parametrize("name", ["testFlag", "echo"])
def test_an_empty_duplicate_put_before_a_signed_v1_parameter_does_not_verify(koogallery, name):
    """The first occurrence of a repeated parameter is what the handlers read, so it is what
    must have been signed, in every variant: an empty `name=` slipped in front of a signed
    `name=value` (turning a debug call into real traffic, a value into nothing) is refused."""
    query = koogallery.v1_query("echo", {"echo": "hi"})
    assert koogallery._send("GET", "/koogallery/produce", query, None, {}, ACCESS_KEY).code == "000000"
    reply = koogallery._send("GET", "/koogallery/produce", f"{name}=&{query}", None, {}, ACCESS_KEY)
    assert reply.assert_envelope()["resultCode"] == "000001"


def test_kit_v1_quoted_token_header_is_accepted_u9(koogallery):
    assert send(koogallery, "kit_v1", quoted=True).code == "000000"


def test_v2_lower_case_signature_is_accepted_u4(koogallery):
    assert send(koogallery, "v2", upper=False).code == "000000"


def test_v2_body_re_serialised_by_a_proxy_verifies_through_the_sorted_fallback(koogallery):
    signed = b'{"activity":"echo","echo":"hi","testFlag":"1"}'
    pretty = b'{ "testFlag": "1", "echo": "hi", "activity": "echo" }'
    reply = koogallery.v2("echo", raw_body=pretty, signed_body=signed)
    assert reply.code == "000000"
    assert journal().auth_variant == "sorted"


@pytest.mark.parametrize("path", ["/koogallery/produce/", "/koogallery/produce/produceAPI/v2/tenantSync/"])
def test_trailing_slash_is_served_without_redirect(client, koogallery, path):
    if "produceAPI" in path:
        reply = koogallery.kit_v2("tenantSync/", {"echo": "hi"})
    else:
        reply = koogallery.v2("echo", {"echo": "hi"}, path=path)
    assert reply.status == 200 and reply.code == "000000"


@pytest.mark.parametrize(
    "method,path,key",
    [
        ("GET", "/koogallery/elsewhere", ACCESS_KEY),
        ("POST", "/koogallery/produce/produceAPI/v3/tenantSync", KIT_KEY),
        ("PUT", "/koogallery/produce", ACCESS_KEY),
        ("GET", "/koogallery/produce/produceAPI/v2/tenantSync", KIT_KEY),
        ("POST", "/koogallery/produce/produceAPI/v2", KIT_KEY),
        ("POST", "/koogallery/produce/produceAPI/v2/", KIT_KEY),
        ("POST", "/koogallery/produce/produceAPI", KIT_KEY),  # the Kit family, with or without "/"
        ("POST", "/koogallery/produce/produceAPI/", KIT_KEY),
        ("POST", "/koogallery/produce/produceAPIx", ACCESS_KEY),
    ],
)
def test_anything_else_under_koogallery_answers_signed_000002(client, method, path, key):
    from marketplace_isv.simulator.client import Reply

    response = client.generic(method, path)
    reply = Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content, key)
    assert reply.assert_envelope()["resultCode"] == "000002"
    assert journal().result_code == "000002"


@pytest.mark.parametrize("path", ["/koogallery/produce/produceAPI/v2", "/koogallery/produce/produceAPI/v2/"])
def test_a_bare_v2_segment_is_an_unknown_path_not_a_kit_v1_call_named_v2(client, path):
    # Read as Kit V1 named "v2", this unsigned call answered 000001 "authToken header missing" (§1.3).
    from marketplace_isv.simulator.client import Reply

    response = client.post(path, data=b'{"testFlag":1}', content_type="application/json")
    reply = Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content, KIT_KEY)
    assert reply.assert_envelope()["resultCode"] == "000002"
    assert "no KooGallery interface" in reply.json["resultMsg"]
    row = journal()
    assert (row.scheme, row.activity, row.result_code) == ("none", "", "000002")


def test_disallowed_host_still_gets_a_signed_json_answer(client):
    from marketplace_isv.simulator.client import Reply

    response = client.post("/koogallery/produce", data=b"{}", content_type="application/json", HTTP_HOST="evil.example")
    reply = Reply(
        response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content, ACCESS_KEY
    )
    assert reply.assert_envelope()["resultCode"] == "000002"


def test_secrets_are_redacted_in_the_journal(koogallery):
    send(koogallery, "v1")
    v1 = journal()
    assert "authToken=[redacted]" in v1.raw_query
    send(koogallery, "v2")
    v2 = journal()
    assert "signature=[redacted]" in v2.raw_query and "nonce=" in v2.raw_query
    send(koogallery, "kit_v2")
    kit = journal()
    assert kit.raw_headers["x-sign"] == "[redacted]"
    send(koogallery, "kit_v1")
    assert journal().raw_headers["authtoken"] == "[redacted]"


def test_refused_calls_keep_their_business_ids_for_operators(koogallery):
    koogallery.v2("echo", {"orderId": "CS-LOOKUP-1", "instanceId": "inst-9"}, key=WRONG_KEY)
    row = journal()
    assert (row.verified, row.order_id, row.instance_id, row.test_flag) == (False, "CS-LOOKUP-1", "inst-9", True)


@pytest.mark.parametrize("flag,test", [(" 1 ", True), (1, True), ("0", False), ("10", False)])
def test_the_journal_marks_test_traffic_as_the_handlers_read_it(koogallery, flag, test):
    koogallery.v2("echo", {"orderId": "CS-FLAG", "testFlag": flag})
    assert journal().test_flag is test


def test_nul_characters_are_refused_with_000002(koogallery):
    reply = koogallery.v2("echo", {"echo": "a\u0000b"})
    assert reply.assert_envelope()["resultCode"] == "000002"


@pytest.mark.parametrize("scheme", ["v2", "kit_v2"])
def test_nonce_of_a_failed_call_is_consumed_too(koogallery, scheme):
    nonce = new_nonce()
    if scheme == "v2":
        first = koogallery.v2("noSuchActivity", {"x": 1}, nonce=nonce)
        again = koogallery.v2("noSuchActivity", {"x": 1}, nonce=nonce)
    else:
        first = koogallery.kit_v2("noSuchSync", {"x": 1}, nonce=nonce)
        again = koogallery.kit_v2("noSuchSync", {"x": 1}, nonce=nonce)
    assert first.code == "000002"
    assert again.assert_envelope()["resultCode"] == "000001"


def test_the_django_adapter_answers_like_the_wsgi_entry_point(koogallery, koogallery_via_django):
    fast = koogallery.v2("echo", {"echo": "same"})
    slow = koogallery_via_django.v2("echo", {"echo": "same"})
    assert fast.assert_envelope() == slow.assert_envelope()
    refused = koogallery_via_django.v2("echo", {"echo": "x"}, key=WRONG_KEY)
    assert refused.assert_envelope()["resultCode"] == "000001"


def test_the_django_adapter_refuses_an_oversized_body(koogallery_via_django, settings):
    settings.KOOGALLERY_MAX_BODY_BYTES = 1024
    reply = koogallery_via_django.v2("echo", {"filler": "x" * 2000})
    assert reply.assert_envelope()["resultCode"] == "000002"
    assert journal().body_omitted


def test_a_chunked_body_over_the_limit_is_refused(settings):
    import io

    from config.wsgi import application

    settings.KOOGALLERY_MAX_BODY_BYTES = 1024
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/koogallery/produce", "QUERY_STRING": "", "SERVER_NAME": "x",
        "SERVER_PORT": "80", "wsgi.input": io.BytesIO(b"{" + b" " * 5000 + b"}"), "wsgi.url_scheme": "http",
        "HTTP_TRANSFER_ENCODING": "chunked",
    }  # fmt: skip
    seen = {}
    body = b"".join(application(environ, lambda status, headers: seen.update(status=status)))
    assert seen["status"] == "200 OK"
    assert b'"resultCode":"000002"' in body
