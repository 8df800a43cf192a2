"""Dial tests (拨测, §5.4): KooGallery replays the seller's saved debug calls (testFlag=1), in the
same order, twice a day, forever — every one must keep succeeding."""

import pytest

from orders.models import DemoWorkspace, Instance, Job
from tests.conftest import ACCESS_KEY

pytestmark = pytest.mark.django_db

ORDER, LINE = "CS2211181819B4LVS", "CS2211181819B4LVS-000001"
PRODUCT = {"productId": "00301-666666-0--1", "skuCode": "sku-premium", "productName": "Premium", "linearValue": 5}


def v2_session(koogallery, business_id: str) -> list[tuple[str, str]]:
    """The seller's V2 debug cases, replayed. Returns (activity, resultCode) pairs."""
    answers = []

    def send(activity, fields):
        data = koogallery.v2(activity, fields).assert_envelope(ACCESS_KEY)
        answers.append((activity, data["resultCode"]))
        return data

    created = send("newInstance", {"orderId": ORDER, "orderLineId": LINE, "businessId": business_id})
    iid = created["instanceId"]
    send("queryInstance", {"instanceId": iid})
    refresh = {"orderId": "CSRENEW1", "orderLineId": "CSRENEW1-000001", "expireTime": "20301231000000"}
    send("refreshInstance", {"instanceId": iid, "scene": "RENEWAL", **refresh})
    send("updateInstanceStatus", {"instanceId": iid, "status": "FREEZE"})
    send("updateInstanceStatus", {"instanceId": iid, "status": "UNFREEZE"})
    send("upgradeInstance", {"instanceId": iid, "orderId": "CSUPG1", "orderLineId": "CSUPG1-000001"})
    send("changeInstanceCheck", {"instanceId": iid, "productInfo": PRODUCT})
    send("orderNotify", {"orderId": ORDER, "orderLineId": LINE})
    send("releaseInstance", {"instanceId": iid})
    # a case saved after the release: it must pass too
    send("refreshInstance", {"instanceId": iid, "scene": "RENEWAL", **refresh})
    return answers


def test_the_v2_debug_cases_pass_on_every_replay(koogallery):
    first = v2_session(koogallery, "87b94795-0603-4e24-8ae5-69420d60e3c8")
    for replay in range(3):
        again = v2_session(koogallery, f"replay-business-id-{replay}")
        # newInstance revives the released test instance: accepted (000004), the rest succeed
        assert again == first, again
    assert first[0] == ("newInstance", "000004") and all(code == "000000" for _, code in first[1:])
    instance = Instance.objects.get()
    assert instance.instance_id == "87b94795-0603-4e24-8ae5-69420d60e3c8" and instance.is_test
    assert instance.status == "released"  # the last case of the session
    assert DemoWorkspace.objects.get().status == "released"
    assert not Job.objects.filter(state="failed").exists()


def test_a_replayed_v2_new_instance_revives_the_released_test_instance(koogallery):
    first = koogallery.v2("newInstance", {"orderId": ORDER, "orderLineId": LINE, "businessId": "b-1"}).assert_envelope()
    koogallery.v2("releaseInstance", {"instanceId": first["instanceId"]})
    koogallery.run_jobs = False
    again = koogallery.v2("newInstance", {"orderId": ORDER, "orderLineId": LINE, "businessId": "b-2"}).assert_envelope()
    assert (again["resultCode"], again["instanceId"]) == ("000004", "b-1")
    instance = Instance.objects.get()
    assert (instance.status, instance.provisioning_state) == ("active", "pending")
    # KooGallery's poll gets the last appInfo at once (§5.4)
    query = koogallery.v2("queryInstance", {"instanceId": "b-1"}).assert_envelope()
    assert query["resultCode"] == "000000" and query["info"][0]["appInfo"]["password"] == instance.app_password


def test_the_v1_debug_cases_pass_on_every_replay(koogallery):
    def session(business_id):
        answers = []

        def send(activity, params):
            answers.append(koogallery.v1(activity, params).assert_envelope(ACCESS_KEY)["resultCode"])

        base = {"customerId": "c1", "skuCode": "s1", "productId": "p1", "orderId": "CSV1DIAL", "chargingMode": "1"}
        send("newInstance", {**base, "businessId": business_id})
        iid = Instance.objects.get().instance_id
        send("queryInstance", {"instanceId": iid})
        send("refreshInstance", {"instanceId": iid, "orderId": "CSV1RENEW", "expireTime": "20301231000000"})
        send("expireInstance", {"instanceId": iid, "orderId": "CSV1DIAL"})
        send("instanceStatus", {"instanceId": iid, "instanceStatus": "NORMAL"})
        send("upgrade", {"instanceId": iid, "orderId": "CSV1UPG", "skuCode": "s2", "productId": "p2"})
        send("releaseInstance", {"instanceId": iid, "orderId": "CSV1DIAL"})
        return answers

    for replay in range(3):
        assert set(session(f"v1-business-{replay}")) == {"000000"}
