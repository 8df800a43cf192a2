"""getLicenseAsync against an instance created by V2 newInstance (§4.4.1: "an instance created by
newInstance"). These need the orders app (newInstance, updateInstanceStatus and
orders.selectors.instance_summary), built on another branch: they fail until it is merged."""

import uuid

import pytest

from licenses.models import License
from marketplace_isv.simulator.client import new_order_id
from orders.selectors import instance_summary
from tests.licenses.conftest import check, in_days, stamp

pytestmark = pytest.mark.django_db

FINGERPRINT = "MAC-01|DISK-02|BOARD-03|CPU-04"


@pytest.fixture
def jobs(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def new_instance(koogallery, fake_openapi, jobs) -> str:
    order_id = new_order_id()
    fake_openapi.add_order(order_id, sku_code="sku-licensed", linear_value=3, days=365)
    with jobs():
        reply = koogallery.v2(
            "newInstance", {"orderId": order_id, "orderLineId": f"{order_id}-000001", "businessId": str(uuid.uuid4())}
        )
    data = reply.assert_envelope()
    assert data["resultCode"] in ("000000", "000004"), data
    return data["instanceId"]


def ask(koogallery, instance_id, **fields):
    payload = {
        "instanceId": instance_id,
        "eventId": f"evt-{uuid.uuid4().hex}",
        "effectiveTime": stamp(in_days(0)),
        "expireTime": stamp(in_days(300)),
        "deviceFingerprint": FINGERPRINT,
        **fields,
    }
    return koogallery.v2("getLicenseAsync", {k: v for k, v in payload.items() if v is not None})


def test_a_licence_is_issued_for_a_new_instance_and_uploaded(koogallery, fake_openapi, jobs, shipped_verifier):
    instance_id = new_instance(koogallery, fake_openapi, jobs)
    with jobs():
        reply = ask(koogallery, instance_id, eventId="evt-orders")
    assert reply.assert_envelope()["resultCode"] == "000004"
    [upload] = fake_openapi.uploads()
    claims = shipped_verifier.require(upload["characters"], fingerprint=FINGERPRINT)
    assert (upload["event_id"], claims["iid"], claims["sku"]) == ("evt-orders", instance_id, "sku-licensed")
    assert License.objects.get(kind="online", event_id="evt-orders").instance_id == instance_id


def test_a_periodic_new_instance_needs_an_expiry(koogallery, fake_openapi, jobs):
    instance_id = new_instance(koogallery, fake_openapi, jobs)
    assert ask(koogallery, instance_id, expireTime=None).assert_envelope()["resultCode"] == "000902"


def test_the_online_licence_follows_the_instance_freeze(koogallery, fake_openapi, jobs, api):
    instance_id = new_instance(koogallery, fake_openapi, jobs)
    with jobs():
        ask(koogallery, instance_id, eventId="evt-follow-orders").assert_envelope()
    token = License.objects.get(kind="online", event_id="evt-follow-orders").token
    assert check(api, token, FINGERPRINT).json()["status"] == "active"
    koogallery.v2("updateInstanceStatus", {"instanceId": instance_id, "status": "FREEZE"}).assert_envelope()
    assert check(api, token, FINGERPRINT).json()["status"] == "frozen"


def test_a_purchase_whose_order_is_not_fetched_yet_is_asked_again_later(koogallery, fake_openapi, jobs):
    """Its order details (quantity, charging mode, validity) come from Query Order in the
    background: no licence is signed without them. 000005 makes KooGallery ask again (§5.2)."""
    order_id = new_order_id()
    fake_openapi.add_order(order_id, sku_code="sku-licensed", linear_value=3, days=365)
    line = {"orderId": order_id, "orderLineId": f"{order_id}-000001", "businessId": str(uuid.uuid4())}
    instance_id = koogallery.v2("newInstance", line, test=False).assert_envelope()["instanceId"]  # jobs not run
    assert instance_summary(instance_id).status == "provisioning"
    reply = ask(koogallery, instance_id, eventId="evt-early", testFlag="0")
    assert reply.assert_envelope()["resultCode"] == "000005"
    assert "order is still being fetched" in reply.json["resultMsg"]
    assert not License.objects.filter(kind="online").exists()


def test_test_traffic_gets_its_licence_while_the_instance_is_provisioned(koogallery, fake_openapi):
    """Dial tests replay their cases in order: a licence asked for right after a debug newInstance
    is issued (test traffic carries on without Query Order)."""
    order_id = new_order_id()
    line = {"orderId": order_id, "orderLineId": f"{order_id}-000001", "businessId": str(uuid.uuid4())}
    instance_id = koogallery.v2("newInstance", line).assert_envelope()["instanceId"]  # debug; jobs not run
    assert instance_summary(instance_id).status == "provisioning"
    assert ask(koogallery, instance_id, eventId="evt-dial").assert_envelope()["resultCode"] == "000004"
