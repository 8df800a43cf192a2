"""The built-in HTTP provisioner against a small ISV backend served by the test: signed JSON
requests, appInfo from the backend, retries on 5xx, permanent refusals on 4xx."""

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orders.models import Instance, Job
from orders.provisioners.http import sign, verify
from tests.orders.conftest import created_v2

pytestmark = pytest.mark.django_db

SECRET = "isv-backend-shared-secret"


class Backend:
    """The ISV's backend: verifies every request and answers what the test queued."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: dict[str, list[tuple[int, dict]]] = {}
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                valid = verify(SECRET, self.headers["X-ISV-Timestamp"], body, self.headers["X-ISV-Signature"])
                payload = json.loads(body)
                backend.requests.append(
                    {"headers": dict(self.headers), "payload": payload, "valid": valid, "body": body}
                )
                queued = backend.answers.get(payload["action"]) or [(200, {})]
                status, answer = queued.pop(0) if len(queued) > 1 else queued[0]
                if not valid:
                    status, answer = 401, {"message": "bad signature"}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/koogallery-hook"

    def actions(self):
        return [r["payload"]["action"] for r in self.requests]


@pytest.fixture
def backend(settings):
    server = Backend()
    settings.ISV_PROVISIONER = "http"
    settings.ISV_PROVISIONER_URL = server.url
    settings.ISV_PROVISIONER_SECRET = SECRET
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_provisioning_posts_a_signed_request_and_keeps_the_backends_app_info(koogallery, backend):
    backend.answers["provision"] = [
        (
            200,
            {"appInfo": {"frontEndUrl": "https://app.isv.example.com/t/1", "userName": "root", "password": "S3cret!x"}},
        )
    ]
    instance = created_v2(koogallery, test=False)
    request = backend.requests[0]
    assert request["valid"]
    assert request["headers"]["X-ISV-Action"] == "provision"
    assert request["headers"]["Idempotency-Key"] == hashlib.sha256(request["body"]).hexdigest()
    sent = request["payload"]["instance"]
    assert (sent["instance_id"], sent["order_id"], sent["customer_id"]) == (
        instance.instance_id,
        instance.order_id,
        "68cbc86abc2018ab880d92f36422fa0e",
    )
    assert sent["admin_user_name"].startswith("admin_") and sent["order_details"]["resultCode"] == "MKT.0000"
    data = koogallery.v2("queryInstance", {"instanceId": instance.instance_id}, test=False).assert_envelope()
    app = data["info"][0]["appInfo"]
    assert (app["frontEndUrl"], app["userName"], app["password"]) == (
        "https://app.isv.example.com/t/1",
        "root",
        "S3cret!x",
    )


def test_every_lifecycle_operation_reaches_the_backend(koogallery, backend, fake_openapi):
    instance = created_v2(koogallery, test=False)
    iid = instance.instance_id
    koogallery.v2("updateInstanceStatus", {"instanceId": iid, "status": "FREEZE"}, test=False)
    koogallery.v2("updateInstanceStatus", {"instanceId": iid, "status": "UNFREEZE"}, test=False)
    koogallery.v2(
        "refreshInstance",
        {
            "instanceId": iid,
            "scene": "RENEWAL",
            "orderId": "CSR1",
            "orderLineId": "CSR1-000001",
            "expireTime": "20301231000000",
        },
        test=False,
    )
    koogallery.v2("upgradeInstance", {"instanceId": iid, "orderId": "CSU1", "orderLineId": "CSU1-000001"}, test=False)
    backend.answers["check_change"] = [(200, {"accepted": False, "reason": "too many users for that plan"})]
    check = koogallery.v2(
        "changeInstanceCheck",
        {"instanceId": iid, "productInfo": {"productId": "p2", "skuCode": "s2", "productName": "n"}},
        test=False,
    ).assert_envelope()
    koogallery.v2("releaseInstance", {"instanceId": iid}, test=False)
    assert backend.actions() == ["provision", "freeze", "unfreeze", "renew", "upgrade", "check_change", "release"]
    assert all(r["valid"] for r in backend.requests)
    assert (check["resultCode"], check["resultMsg"]) == ("000002", "too many users for that plan")
    assert backend.requests[3]["payload"]["instance"]["expires_at"].startswith("2030-12-31")
    assert backend.requests[5]["payload"]["change"]["sku_code"] == "s2"


def test_a_5xx_is_retried(koogallery, backend):
    backend.answers["provision"] = [(503, {"message": "busy"}), (200, {})]
    created_v2(koogallery, test=False)
    job = Job.objects.get()
    assert (job.state, job.attempts) == ("done", 2)
    assert backend.actions() == ["provision", "provision"]


def test_a_4xx_is_a_permanent_refusal_with_the_backends_code(koogallery, backend):
    backend.answers["provision"] = [(409, {"resultCode": "000107", "message": "email domain taken"})]
    instance = created_v2(koogallery, test=False)
    job = Job.objects.get()
    assert (job.state, job.attempts, job.result_code) == ("failed", 1, "000107")
    assert "email domain taken" in job.last_error
    data = koogallery.v2("queryInstance", {"instanceId": instance.instance_id}, test=False).assert_envelope()
    assert data["resultCode"] == "000107"


@pytest.mark.parametrize("code", ["000004", "000000", "000003", "000001", "000900", "sold out", ""])
def test_a_refusal_code_that_is_no_purchase_failure_is_answered_000005(koogallery, backend, code):
    # §5.3, U20: a provisioning that failed for good is 000005 or a fitting 0001xx. A 000004 would
    # have KooGallery poll for ever instead of failing (and refunding) the order.
    backend.answers["provision"] = [(409, {"resultCode": code, "message": "refused"})]
    instance = created_v2(koogallery, test=False)
    assert Job.objects.get().result_code == "000005"
    data = koogallery.v2("queryInstance", {"instanceId": instance.instance_id}, test=False).assert_envelope()
    assert data["resultCode"] == "000005" and "info" not in data


def test_test_traffic_never_reaches_the_backend(koogallery, backend):
    instance = created_v2(koogallery, test=True)
    assert backend.requests == []
    instance.refresh_from_db()
    assert instance.provisioning_state == "ready"


def test_a_missing_secret_is_retried_until_an_operator_configures_it(koogallery, backend, settings):
    settings.ISV_PROVISIONER_SECRET = None
    settings.ORDERS_JOB_MAX_ATTEMPTS = 2
    created_v2(koogallery, test=False)
    job = Job.objects.get()
    assert job.state == "failed" and "ISV_PROVISIONER_SECRET" in job.last_error
    assert backend.requests == []
    assert Instance.objects.get().provisioning_state == "failed"


def test_the_signature_covers_the_timestamp_and_the_exact_body():
    ts = str(int(time.time() * 1000))
    body = b'{"action":"provision"}'
    signature = sign(SECRET, ts, body)
    assert signature.startswith("sha256=") and len(signature) == 71
    assert verify(SECRET, ts, body, signature)
    assert not verify(SECRET, ts, body + b" ", signature)
    assert not verify("other-secret", ts, body, signature)
    old = str(int(ts) - 600_000)
    assert not verify(SECRET, old, body, sign(SECRET, old, body))
