"""The client of KooGallery's open API, against the simulator's fake (which checks signatures
exactly as the real gateway would)."""

import pytest

from marketplace_isv import openapi
from marketplace_isv.simulator.fake_openapi import FakeOpenApi
from tests.support import processes


def test_query_order_returns_the_mock_order_and_is_apig_signed(fake_openapi):
    answer = openapi.query_order("MOCKPERIODYEARNEW", "MOCKPERIODYEARNEW-000001")
    assert answer["orderInfo"]["orderId"] == "MOCKPERIODYEARNEW"
    assert answer["orderInfo"]["orderLine"][0]["chargingMode"] == "PERIOD"
    call = fake_openapi.calls(openapi.QUERY_ORDER_PATH)[-1]
    assert call.headers["authorization"].startswith("SDK-HMAC-SHA256 Access=test-openapi-ak, SignedHeaders=")


def test_every_mock_order_of_the_reference_is_served(fake_openapi):
    for order_id in ["MOCKPERIODYEARNEW", "MOCKONETIMENEW", "MOCKONDEMAND", "MOCKONDEMANDPKG", "MOCKPERIODDAYTRIAL",
                     "MOCKMONTYTRIALTOFORMAL", "MOCKMONTYUNSUBSCRIBE", "MOCKMONTYRENEW", "MOCKMONTYCHANGE"]:  # fmt: skip
        assert openapi.query_order(order_id)["orderInfo"]["orderId"] == order_id


def test_a_wrong_secret_key_is_refused_and_not_retryable(fake_openapi, settings):
    settings.KOOGALLERY_OPENAPI_SK = "wrong"
    with pytest.raises(openapi.OpenApiError) as failure:
        openapi.query_order("MOCKPERIODYEARNEW")
    assert failure.value.status == 401 and failure.value.code == "MKT.0154" and not failure.value.retryable


def _signed_headers(call) -> set[str]:
    authorization = call.headers["authorization"]
    return set(authorization.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";"))


@pytest.mark.parametrize("interface", ["query order", "licence upload"])
def test_every_header_sent_to_the_gateway_is_signed(fake_openapi, interface):
    """§7.3: "sign every header you send, Host included" — nothing the HTTP library adds unsigned."""
    if interface == "query order":
        openapi.query_order("MOCKPERIODYEARNEW", "MOCKPERIODYEARNEW-000001")
        call = fake_openapi.calls(openapi.QUERY_ORDER_PATH)[-1]
    else:
        openapi.upload_characters("event-1", "LICENSE")
        call = fake_openapi.calls("/api/mkp-openapi-public/global/v1/market-event/")[-1]
    sent = set(call.headers) - {"authorization"}
    assert sent == _signed_headers(call)
    assert {"host", "x-sdk-date", "content-type", "user-agent"} <= sent
    assert ("content-length" in sent) == (interface == "licence upload")


def test_the_fake_gateway_refuses_a_header_sent_unsigned(fake_openapi, monkeypatch):
    """The simulator's gateway holds the service to §7.3: an unsigned header is a 401 MKT.0154."""
    original = openapi._session.request

    def with_an_unsigned_header(method, url, headers=None, **kwargs):
        return original(method, url, headers={**headers, "X-Extra": "1"}, **kwargs)

    monkeypatch.setattr(openapi._session, "request", with_an_unsigned_header)
    with pytest.raises(openapi.OpenApiError) as failure:
        openapi.query_order("MOCKPERIODYEARNEW")
    assert failure.value.status == 401 and "x-extra" in str(failure.value)


@pytest.mark.parametrize(
    "status,code,retryable,configuration",
    [
        (500, "MKT.0999", True, False),
        (500, "MKT.0100", True, False),
        (406, "MKT.0250", True, False),
        (429, "APIGW.0308", True, False),
        (200, "MKT.0199", True, False),  # an error code in a 200: not one §7.1 says to give up on
        (400, "MKT.0101", False, False),  # a refused parameter
        (400, "MKT.0199", False, False),
        (401, "MKT.0150", False, True),  # §7.1: 401 is a configuration error
        (401, "MKT.0151", False, True),
        (401, "MKT.0154", False, True),
        (404, "APIGW.0101", False, True),  # a wrong KOOGALLERY_OPENAPI_URL
    ],
)
def test_which_failures_are_worth_retrying(fake_openapi, status, code, retryable, configuration):
    fake_openapi.fail_next(openapi.QUERY_ORDER_PATH, status=status, code=code)
    with pytest.raises(openapi.OpenApiError) as failure:
        openapi.query_order("MOCKPERIODYEARNEW")
    assert (failure.value.retryable, failure.value.configuration) == (retryable, configuration)
    if not retryable:
        assert "not retried" in failure.value.advice()


def test_server_errors_and_rate_limits_are_retryable(fake_openapi):
    fake_openapi.fail_next(openapi.QUERY_ORDER_PATH, status=500, code="MKT.0999")
    with pytest.raises(openapi.OpenApiError) as failure:
        openapi.query_order("MOCKPERIODYEARNEW")
    assert failure.value.retryable
    fake_openapi.fail_next(openapi.QUERY_ORDER_PATH, status=406, code="MKT.0250")
    with pytest.raises(openapi.OpenApiError) as failure:
        openapi.query_order("MOCKPERIODYEARNEW")
    assert failure.value.retryable
    assert openapi.query_order("MOCKPERIODYEARNEW")["resultCode"] == "MKT.0000"


def test_unknown_orders_are_refused_in_strict_mode(fake_openapi):
    fake_openapi.strict = True
    with pytest.raises(openapi.OpenApiError) as failure:
        openapi.query_order("CS-NEVER-PLACED")
    assert failure.value.code == "MKT.0101"


def test_missing_credentials_are_a_configuration_error(settings):
    settings.KOOGALLERY_OPENAPI_AK = None
    with pytest.raises(openapi.OpenApiError) as failure:
        openapi.query_order("MOCKPERIODYEARNEW")
    assert failure.value.code == "CONFIG" and not failure.value.retryable


def test_the_fallback_host_is_used_when_the_mainland_host_is_unreachable(settings, monkeypatch):
    fallback = FakeOpenApi(ak="test-openapi-ak", sk="test-openapi-sk-0123456789").start()
    try:
        unreachable = f"http://127.0.0.1:{processes.free_port()}"
        monkeypatch.setattr(openapi, "MAINLAND", unreachable)  # stands for https://mkt.myhuaweicloud.com
        settings.KOOGALLERY_OPENAPI_URL = unreachable
        settings.KOOGALLERY_OPENAPI_FALLBACK_URL = fallback.url
        assert openapi.query_order("MOCKONDEMAND")["orderInfo"]["orderId"] == "MOCKONDEMAND"
        assert len(fallback.calls(openapi.QUERY_ORDER_PATH)) == 1
    finally:
        fallback.stop()


def test_an_unreachable_open_api_is_a_retryable_network_error(settings):
    settings.KOOGALLERY_OPENAPI_URL = f"http://127.0.0.1:{processes.free_port()}"
    with pytest.raises(openapi.OpenApiError) as failure:
        openapi.query_order("MOCKONDEMAND")
    assert failure.value.code == "NETWORK" and failure.value.retryable


def test_usage_push_is_signed_with_the_access_key(fake_openapi):
    records = [{"instance_id": "i-1", "metering_sn": "sn-1", "record_time": "20250101T010000Z",
                "begin_time": "20250101T000000Z", "end_time": "20250101T010000Z", "usage_value": "1.5"}]  # fmt: skip
    assert openapi.push_usage(records)["error_code"] == "MKT.0000"
    assert fake_openapi.usage_records() == records


def test_usage_push_with_another_key_is_refused(fake_openapi, settings):
    settings.KOOGALLERY_ACCESS_KEY = "not-the-key"
    with pytest.raises(openapi.OpenApiError) as failure:
        openapi.push_usage([])
    assert failure.value.status == 401


def test_usage_push_takes_at_most_100_records():
    with pytest.raises(ValueError):
        openapi.push_usage([{}] * 101)


def test_licence_upload_sends_the_characters_with_their_sha256(fake_openapi):
    assert openapi.upload_characters("event/1", "LICENSE-TEXT-许可")["error_code"] == "MKT.0000"
    (upload,) = fake_openapi.uploads()
    assert upload["event_id"] == "event/1"
    assert upload["characters"] == "LICENSE-TEXT-许可" and upload["type"] == "CHARACTERS"


def test_https_is_certificate_verified(settings):
    # A TLS server with a self-signed certificate: the client must refuse it, not skip checks.
    import ssl
    import subprocess
    import tempfile
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from pathlib import Path

    directory = Path(tempfile.mkdtemp())
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", directory / "k.pem", "-out",
         directory / "c.pem", "-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "c.pem", directory / "k.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.handle_request, daemon=True).start()
    settings.KOOGALLERY_OPENAPI_URL = f"https://127.0.0.1:{server.server_address[1]}"
    with pytest.raises(openapi.OpenApiError) as failure:
        openapi.query_order("MOCKONDEMAND")
    assert failure.value.code == "NETWORK"
    server.server_close()


def test_no_fallback_for_other_sites_or_when_disabled(settings, monkeypatch):
    settings.KOOGALLERY_OPENAPI_URL = "https://mkt-intl.myhuaweicloud.com"
    settings.KOOGALLERY_OPENAPI_FALLBACK_URL = "https://mkt.myhuaweicloud.cn"
    assert openapi._bases() == ["https://mkt-intl.myhuaweicloud.com"]
    settings.KOOGALLERY_OPENAPI_URL = "https://mkt.myhuaweicloud.com"
    assert openapi._bases() == ["https://mkt.myhuaweicloud.com", "https://mkt.myhuaweicloud.cn"]
    settings.KOOGALLERY_OPENAPI_FALLBACK_URL = ""
    assert openapi._bases() == ["https://mkt.myhuaweicloud.com"]


def test_a_read_timeout_is_not_retried_on_the_fallback_host():
    import requests

    assert not openapi._unreachable(requests.ReadTimeout())
    assert not openapi._unreachable(requests.exceptions.SSLError())
    assert openapi._unreachable(requests.ConnectTimeout())


class _DroppingHost:
    """A host that reads a whole request, then closes the connection without answering: it was
    reachable, and may have processed the call."""

    def __init__(self):
        import socket
        import threading

        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next((int(v) for k, _, v in (h.partition(b":") for h in head.split(b"\r\n"))
                               if k.strip().lower() == b"content-length"), 0)  # fmt: skip
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + body)

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("call", ["query order", "usage push"])
def test_a_connection_dropped_after_the_request_is_not_sent_again_to_the_fallback_host(settings, monkeypatch, call):
    """§7: the fallback host only when the mainland host is unreachable at the network level. A host
    that took the request and dropped the connection was reachable and may have processed it: a
    usage push sent again elsewhere would come back as a duplicate on the records' first push."""
    primary = _DroppingHost()
    fallback = FakeOpenApi(ak="test-openapi-ak", sk="test-openapi-sk-0123456789").start()
    try:
        monkeypatch.setattr(openapi, "MAINLAND", primary.url)  # stands for https://mkt.myhuaweicloud.com
        settings.KOOGALLERY_OPENAPI_URL = primary.url
        settings.KOOGALLERY_OPENAPI_FALLBACK_URL = fallback.url
        with pytest.raises(openapi.OpenApiError) as failure:
            if call == "query order":
                openapi.query_order("MOCKONDEMAND")
            else:
                openapi.push_usage([{"instance_id": "i-1", "metering_sn": "sn-1", "usage_value": "1",
                                     "record_time": "20250101T010000Z", "begin_time": "20250101T000000Z",
                                     "end_time": "20250101T010000Z"}])  # fmt: skip
        assert failure.value.code == "NETWORK" and failure.value.retryable  # retried later, with backoff
        assert len(primary.requests) == 1
        assert fallback.calls() == []
    finally:
        primary.close()
        fallback.stop()


def test_the_query_string_is_sent_exactly_as_signed(fake_openapi):
    fake_openapi.add_order("CS A~B*C")
    answer = openapi.query_order("CS A~B*C")
    assert answer["orderInfo"]["orderId"] == "CS A~B*C"  # the fake checked the APIG signature
    call = fake_openapi.calls(openapi.QUERY_ORDER_PATH)[-1]
    assert call.query["orderId"] == "CS A~B*C"


def test_canonical_uri_decodes_before_splitting():
    from marketplace_isv import apig

    assert apig.canonical_uri("/a%2Fb") == "/a/b/"
    assert apig.canonical_uri("/x y/~z") == "/x%20y/~z/"
