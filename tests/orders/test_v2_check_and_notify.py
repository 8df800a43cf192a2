"""V2 changeInstanceCheck (§4.1.7, U23) and orderNotify (§4.1.8)."""

import json

import pytest

from marketplace_isv.openapi import QUERY_ORDER_PATH
from marketplace_isv.simulator.client import new_order_id
from orders.models import Alert, Job, OrderNotification, Transition
from tests.orders import provisioners
from tests.orders.conftest import created_v2

pytestmark = pytest.mark.django_db


def check(koogallery, instance_id, product_info, **options):
    fields = {"instanceId": instance_id, "productInfo": product_info}
    return koogallery.v2("changeInstanceCheck", fields, **options).assert_envelope()


PREMIUM = {
    "productId": "00301-666666-0--1",
    "skuCode": "sku-premium",
    "productName": "Demo SaaS Premium",
    "linearValue": 10,
}
TINY = {"productId": "00301-666666-0--2", "skuCode": "sku-tiny", "productName": "Demo SaaS Tiny", "linearValue": 1}


@pytest.fixture
def recording(settings):
    settings.ISV_PROVISIONER = "tests.orders.provisioners.Recording"
    provisioners.CALLS.clear()
    return provisioners.CALLS


def test_the_provisioner_accepts_a_change(koogallery, recording):
    instance = created_v2(koogallery, test=False)
    assert check(koogallery, instance.instance_id, PREMIUM, test=False)["resultCode"] == "000000"
    assert ("check_change", instance.instance_id) in recording
    note = Transition.objects.get(instance=instance, event="change_check")
    assert note.reason.startswith("accepted 00301-666666-0--1/sku-premium")


def test_a_rejected_change_answers_000002_with_the_reason(koogallery, recording):
    instance = created_v2(koogallery, test=False)
    data = check(koogallery, instance.instance_id, TINY, test=False)
    assert (data["resultCode"], data["resultMsg"]) == ("000002", "current usage does not fit sku-tiny")
    assert Transition.objects.get(instance=instance, event="change_check").reason.startswith("rejected")


def test_debug_calls_are_always_accepted(koogallery, recording):
    instance = created_v2(koogallery, test=False)
    assert check(koogallery, instance.instance_id, TINY, test=True)["resultCode"] == "000000"
    assert check(koogallery, "never-seen", TINY, test=True)["resultCode"] == "000000"
    assert ("check_change", instance.instance_id) not in recording


def test_product_info_may_arrive_as_a_string_of_json(koogallery, recording):
    instance = created_v2(koogallery, test=False)
    assert check(koogallery, instance.instance_id, json.dumps(PREMIUM), test=False)["resultCode"] == "000000"


def test_the_demo_provisioner_refuses_a_quantity_below_one(koogallery):
    instance = created_v2(koogallery, test=False)
    data = check(koogallery, instance.instance_id, {**PREMIUM, "linearValue": 0}, test=False)
    assert data["resultCode"] == "000002" and "at least 1" in data["resultMsg"]


def test_an_unreachable_provisioner_answers_000005(koogallery, settings):
    instance = created_v2(koogallery, test=False)
    settings.ISV_PROVISIONER = "tests.orders.provisioners.Down"
    assert check(koogallery, instance.instance_id, PREMIUM, test=False)["resultCode"] == "000005"


def test_a_never_seen_instance_is_refused_with_000002_and_an_alert(koogallery):
    data = check(koogallery, "never-seen", PREMIUM, test=False)
    assert (data["resultCode"], data["resultMsg"]) == ("000002", "instance does not exist: no change can be checked")
    assert Alert.objects.get(kind=Alert.Kind.UNKNOWN_INSTANCE).instance_ref == "never-seen"


def test_a_released_real_instance_is_refused_with_000002_and_an_alert(koogallery, recording):
    instance = created_v2(koogallery, test=False)
    koogallery.v2("releaseInstance", {"instanceId": instance.instance_id}, test=False).assert_envelope()
    data = check(koogallery, instance.instance_id, PREMIUM, test=False)
    assert (data["resultCode"], data["resultMsg"]) == ("000002", "instance was released: no change can be checked")
    assert Alert.objects.filter(kind=Alert.Kind.RELEASED_INSTANCE, instance=instance).exists()
    assert ("check_change", instance.instance_id) not in recording


@pytest.mark.parametrize(
    "product_info",
    [
        None,
        "not json",
        [1, 2],
        {"skuCode": "s", "productName": "n"},
        {"productId": "p", "productName": "n"},
        {"productId": "p", "skuCode": "s"},  # productName is mandatory too (§4.1.7)
        {"productId": "p", "skuCode": "s", "productName": ""},
    ],
)
def test_a_malformed_product_info_answers_000002(koogallery, product_info):
    instance = created_v2(koogallery)
    fields = {"instanceId": instance.instance_id}
    if product_info is not None:
        fields["productInfo"] = product_info
    assert koogallery.v2("changeInstanceCheck", fields, test=False).assert_envelope()["resultCode"] == "000002"


# --- orderNotify ---------------------------------------------------------------------------------


def test_an_order_notification_is_recorded_and_its_order_fetched_in_the_background(koogallery, fake_openapi):
    order_id = new_order_id()
    fake_openapi.add_order(order_id, order_type="RENEW")
    fields = {"orderId": order_id, "orderLineId": f"{order_id}-000001"}
    assert koogallery.v2("orderNotify", fields, test=None).assert_envelope()["resultCode"] == "000000"
    notification = OrderNotification.objects.get()
    assert (notification.order_id, notification.is_test, notification.count) == (order_id, False, 1)
    assert notification.query_order["orderInfo"]["orderType"] == "RENEW"
    assert [c.query["orderId"] for c in fake_openapi.calls(QUERY_ORDER_PATH)] == [order_id]


def test_a_repeated_notification_answers_000000_and_fetches_nothing_more(koogallery, fake_openapi):
    order_id = new_order_id()
    fields = {"orderId": order_id, "orderLineId": f"{order_id}-000001"}
    koogallery.v2("orderNotify", fields)
    assert koogallery.v2("orderNotify", fields).assert_envelope()["resultCode"] == "000000"
    notification = OrderNotification.objects.get()
    assert notification.count == 2
    assert Job.objects.filter(kind="fetch_order").count() == 1
    assert len(fake_openapi.calls(QUERY_ORDER_PATH)) == 1


def test_a_notification_whose_fetch_failed_is_fetched_again_on_repeat(koogallery, fake_openapi, settings):
    settings.ORDERS_JOB_MAX_ATTEMPTS = 1
    order_id = new_order_id()
    fields = {"orderId": order_id, "orderLineId": f"{order_id}-000001"}
    fake_openapi.fail_next(QUERY_ORDER_PATH, times=1)
    koogallery.v2("orderNotify", fields, test=False)
    assert Job.objects.get().state == "failed"
    koogallery.v2("orderNotify", fields, test=False)
    notification = OrderNotification.objects.get()
    assert notification.query_order is not None


@pytest.mark.parametrize("missing", ["orderId", "orderLineId"])
def test_a_notification_missing_a_field_answers_000002(koogallery, missing):
    fields = {"orderId": "CS1", "orderLineId": "CS1-000001"}
    del fields[missing]
    assert koogallery.v2("orderNotify", fields).assert_envelope()["resultCode"] == "000002"
    assert not OrderNotification.objects.exists()


@pytest.mark.parametrize(
    "product_info",
    [
        '{"productId":"p\\u0000","skuCode":"s","productName":"n"}',
        '{"productId":"p\\ud800","skuCode":"s","productName":"n"}',
        "[" * 5000 + "]" * 5000,
    ],
    ids=["NUL", "lone surrogate", "too deep"],
)
def test_a_product_info_string_that_cannot_be_stored_answers_000002(koogallery, recording, product_info):
    instance = created_v2(koogallery, test=False)
    data = check(koogallery, instance.instance_id, product_info, test=False)
    assert data["resultCode"] == "000002", data
    assert not Transition.objects.filter(instance=instance, event="change_check").exists()


def test_a_released_test_instance_answers_000000_like_every_change_to_it(koogallery, recording):
    instance = created_v2(koogallery, test=True)
    koogallery.v2("releaseInstance", {"instanceId": instance.instance_id}, test=True).assert_envelope()
    assert check(koogallery, instance.instance_id, PREMIUM, test=False)["resultCode"] == "000000"
    assert not Alert.objects.filter(instance=instance).exists()


@pytest.mark.parametrize("fields", [{}, {"instanceId": "never-seen"}, {"productInfo": "not json"}])
def test_a_debug_call_is_accepted_whatever_it_carries(koogallery, recording, fields):
    data = koogallery.v2("changeInstanceCheck", fields, test=True).assert_envelope()
    assert data["resultCode"] == "000000"
    assert recording == []


def test_an_order_notify_for_a_long_order_is_fetched_by_the_id_koogallery_sent(koogallery, fake_openapi):
    order_id = "CS" + "N" * 298
    line_id = order_id + "-000001"
    koogallery.v2("orderNotify", {"orderId": order_id, "orderLineId": line_id}, test=False).assert_envelope()
    calls = fake_openapi.calls(QUERY_ORDER_PATH)
    assert [(c.query["orderId"], c.query["orderLineId"]) for c in calls] == [(order_id, line_id)]
