"""The protocol layer across real processes: gunicorn workers share the nonce store, and the
Celery worker runs the protocol's own periodic task through Redis."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from config.celery import send_now
from marketplace_isv import routes
from marketplace_isv.models import Delivery, SeenNonce
from marketplace_isv.simulator.client import KooGallery, compact_sorted, epoch_ms, new_nonce
from marketplace_isv.tasks import prune_nonces
from tests.conftest import ACCESS_KEY, KIT_KEY
from tests.support import processes

pytestmark = [pytest.mark.services]


@pytest.fixture
def two_servers(service_env):
    """Two independent gunicorn servers (one worker process each) on one database."""
    servers = [processes.gunicorn(service_env, workers=1).start() for _ in range(2)]
    yield [f"http://127.0.0.1:{s.port}" for s in servers]
    for server in servers:
        server.stop()


def test_a_nonce_accepted_by_one_process_is_refused_by_another(two_servers):
    first, second = (KooGallery(url, access_key=ACCESS_KEY, kit_key=KIT_KEY) for url in two_servers)
    nonce, timestamp = new_nonce(), epoch_ms()
    # An unrouted activity still passes authentication and claims the nonce (answer 000002).
    accepted = first.v2("notRoutedYet", {"x": 1}, nonce=nonce, timestamp=timestamp)
    replayed = second.v2("notRoutedYet", {"x": 1}, nonce=nonce, timestamp=timestamp)
    assert accepted.assert_envelope()["resultCode"] == "000002"
    assert replayed.assert_envelope()["resultCode"] == "000001"
    # Redis holds the nonce; both calls are journaled by the servers' batch writers.
    processes.wait_for(lambda: Delivery.objects.filter(error="nonce already used").count() == 1)
    assert not SeenNonce.objects.filter(key__startswith="v2:").exists()


def test_kit_nonce_is_refused_across_processes(two_servers):
    first, second = (KooGallery(url, access_key=ACCESS_KEY, kit_key=KIT_KEY) for url in two_servers)
    nonce, timestamp = new_nonce(), epoch_ms()
    body = compact_sorted({"tenantId": "t", "testFlag": 1, "timeStamp": "20240101000000000"})
    accepted = first.kit_v2("noSuchSync", {}, nonce=nonce, timestamp=timestamp, raw_body=body)
    replayed = second.kit_v2("noSuchSync", {}, nonce=nonce, timestamp=timestamp, raw_body=body)
    assert accepted.assert_envelope(KIT_KEY)["resultCode"] == "000002"
    assert replayed.assert_envelope(KIT_KEY)["resultCode"] == "000001"


def test_gunicorn_answers_every_path_with_signed_json(live_service):
    url = f"http://127.0.0.1:{live_service.port}"
    reply = KooGallery(url, access_key=ACCESS_KEY).v2(None, {"orderId": "CS1"})
    assert reply.assert_envelope()["resultCode"] == "000002"
    assert "notRoutedYet" not in routes.PRODUCE_V2


def test_the_worker_runs_a_task_sent_through_redis(broker_jobs):
    stale = SeenNonce.objects.create(key="v2:old", seen_at=timezone.now() - timedelta(hours=1))
    fresh = SeenNonce.objects.create(key="v2:new", seen_at=timezone.now())
    assert send_now(prune_nonces)
    deadline = time.monotonic() + 20
    while SeenNonce.objects.filter(pk=stale.pk).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not SeenNonce.objects.filter(pk=stale.pk).exists()
    assert SeenNonce.objects.filter(pk=fresh.pk).exists()


@pytest.mark.parametrize(
    "chunks", [b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n"], ids=["bad chunk size", "chunk without its CRLF"]
)
def test_a_malformed_chunked_body_answers_000002_signed_not_an_internal_error(live_service, chunks):
    """The body cannot be read as HTTP frames it: the caller's fault (000002), not ours (000005)."""
    import socket

    from marketplace_isv.simulator.signing import body_sign_matches

    request = (
        b"POST /koogallery/produce HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks
    )
    with socket.create_connection(("127.0.0.1", live_service.port), timeout=10) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b'"resultCode":"000002"' in body and b"unreadable" in body
    sign = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n") if line.lower().startswith(b"body-sign"))
    signature = sign.decode().split('signature="', 1)[1].rstrip('"')  # sign_type="HMAC-SHA256", signature="…"
    assert body_sign_matches(ACCESS_KEY, body, signature)


def test_a_seller_api_reads_an_oversized_body_before_refusing_it(live_service):
    """The answer comes after the body is read: the caller gets the 413, not a reset."""
    import socket

    size = 9 * 1024 * 1024  # over KOOGALLERY_MAX_BODY_BYTES (8 MiB), the Django upload limit too
    head = (
        "POST /api/licenses/check HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", live_service.port), timeout=30) as conn:
        conn.sendall(head)
        chunk = b" " * 65536
        for _ in range(size // len(chunk)):
            conn.sendall(chunk)  # a reset here (BrokenPipe/ConnectionReset) fails the test
        answer = b""
        while data := conn.recv(65536):
            answer += data
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"too large" in answer
