"""Idempotency and the device quota under concurrent calls, across gunicorn worker processes on one
PostgreSQL database: the unique constraints and the per-instance lock, not luck, keep them exact."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from licenses.models import License
from marketplace_isv.simulator.client import KooGallery, new_order_id
from tests.conftest import ACCESS_KEY, KIT_KEY
from tests.licenses.conftest import in_days, stamp
from tests.support import processes

pytestmark = [pytest.mark.services]

WORKERS = 6
CALLS = 12


@pytest.fixture
def server(service_env, signing_key_file):
    env = {**service_env, "ISV_LICENSE_SIGNING_KEY_FILE": str(signing_key_file), "ISV_LICENSE_AUTOGENERATE_KEY": "0"}
    process = processes.gunicorn(env, workers=WORKERS).start()
    koogallery = KooGallery(f"http://127.0.0.1:{process.port}", access_key=ACCESS_KEY, kit_key=KIT_KEY)
    # Warm every worker up (imports, database connection, signing key), so the calls of a test
    # really overlap instead of queueing behind a cold start.
    at_once([lambda: ask(koogallery, "warm-up", f"evt-{uuid.uuid4()}", "d")] * (WORKERS * 3))
    yield koogallery
    process.stop()


def at_once(calls):
    """Run the calls from CALLS threads released together."""
    gate = threading.Barrier(len(calls))

    def run(call):
        gate.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def get_license(server, order_id, test=True):
    fields = {"orderId": order_id, "productId": "p-1", "businessId": str(uuid.uuid4()), "customerId": "c-1"}
    return server.v1("getLicense", {**fields, "amount": "1", "expireTime": stamp(in_days(365))}, test=test)


def ask(server, instance_id, event_id, fingerprint, test=True):
    return server.v2(
        "getLicenseAsync",
        {
            "instanceId": instance_id,
            "eventId": event_id,
            "effectiveTime": stamp(in_days(0)),
            "expireTime": stamp(in_days(300)),
            "deviceFingerprint": fingerprint,
        },
        test=test,
    )


def test_concurrent_get_license_calls_for_one_order_make_one_licence(server):
    order_id = new_order_id()
    replies = at_once([lambda: get_license(server, order_id)] * CALLS)
    answers = {(r.assert_envelope()["resultCode"], r.json["instanceId"], r.json["license"]) for r in replies}
    assert len(answers) == 1 and next(iter(answers))[0] == "000000"
    assert License.objects.filter(order_id=order_id).count() == 1


def test_concurrent_requests_for_one_event_and_device_make_one_licence(server):
    instance_id = get_license(server, new_order_id()).assert_envelope()["instanceId"]
    replies = at_once([lambda: ask(server, instance_id, "evt-race", "device-1")] * CALLS)
    assert {r.assert_envelope()["resultCode"] for r in replies} == {"000004"}
    assert License.objects.filter(kind="online", event_id="evt-race").count() == 1


def test_concurrent_devices_cannot_share_the_last_seat(server):
    instance_id = get_license(server, new_order_id(), test=False).assert_envelope()["instanceId"]
    calls = [lambda i=i: ask(server, instance_id, f"evt-seat-{i}", f"device-{i}", test=False) for i in range(CALLS)]
    codes = sorted(r.assert_envelope()["resultCode"] for r in at_once(calls))
    assert codes == ["000004"] + ["000900"] * (CALLS - 1)
    assert License.objects.filter(kind="online", instance_id=instance_id).count() == 1
