"""V2 refreshInstance, updateInstanceStatus, releaseInstance, upgradeInstance (§4.1.3–§4.1.6),
with repeats, out-of-order arrivals, never-seen and released instances (§5.1, §5.4, §5.5)."""

from datetime import UTC, datetime

import pytest

from marketplace_isv.fields import key_fit
from marketplace_isv.openapi import QUERY_ORDER_PATH
from marketplace_isv.simulator.client import new_order_id
from orders.models import Alert, DemoWorkspace, Instance, InstanceOrder, Job, OrderNotification, Transition
from tests.orders import provisioners
from tests.orders.conftest import created_v2, new_v2

pytestmark = pytest.mark.django_db


def refresh(koogallery, instance, *, scene="RENEWAL", order_id=None, expire="20301231235959000", **options):
    order_id = order_id or new_order_id()
    fields = {
        "instanceId": instance.instance_id if isinstance(instance, Instance) else instance,
        "scene": scene,
        "orderId": order_id,
        "orderLineId": f"{order_id}-000001",
        "expireTime": expire,
    }
    return koogallery.v2("refreshInstance", fields, **options).assert_envelope()


def status(koogallery, instance, value, **options):
    instance_id = instance.instance_id if isinstance(instance, Instance) else instance
    return koogallery.v2(
        "updateInstanceStatus", {"instanceId": instance_id, "status": value}, **options
    ).assert_envelope()


def release(koogallery, instance, **fields):
    instance_id = instance.instance_id if isinstance(instance, Instance) else instance
    return koogallery.v2("releaseInstance", {"instanceId": instance_id, **fields}).assert_envelope()


def upgrade(koogallery, instance, order_id=None, **options):
    order_id = order_id or new_order_id()
    instance_id = instance.instance_id if isinstance(instance, Instance) else instance
    fields = {"instanceId": instance_id, "orderId": order_id, "orderLineId": f"{order_id}-000001"}
    return koogallery.v2("upgradeInstance", fields, **options).assert_envelope()


def workspace(instance) -> DemoWorkspace:
    return DemoWorkspace.objects.get(instance_id=instance.instance_id)


@pytest.fixture
def recording(settings):
    settings.ISV_PROVISIONER = "tests.orders.provisioners.Recording"
    provisioners.CALLS.clear()
    return provisioners.CALLS


# --- refreshInstance -----------------------------------------------------------------------------


def test_a_renewal_sets_the_expiry_to_the_value_received(koogallery):
    instance = created_v2(koogallery)
    order_id = new_order_id()
    assert refresh(koogallery, instance, order_id=order_id, expire="20301231235959000")["resultCode"] == "000000"
    instance.refresh_from_db()
    assert instance.expires_at == datetime(2030, 12, 31, 23, 59, 59, tzinfo=UTC)
    order = InstanceOrder.objects.get(instance=instance, kind="renewal")
    assert (order.order_id, order.scene) == (order_id, "RENEWAL")
    assert workspace(instance).expires_at == instance.expires_at
    assert Transition.objects.filter(instance=instance, event="renew").count() == 1


def test_a_repeated_renewal_answers_000000_and_applies_once(koogallery, recording):
    instance = created_v2(koogallery, test=False)
    order_id = new_order_id()
    refresh(koogallery, instance, order_id=order_id)
    again = refresh(koogallery, instance, order_id=order_id)
    assert again["resultCode"] == "000000"
    assert InstanceOrder.objects.filter(instance=instance, kind="renewal").count() == 1
    assert Job.objects.filter(kind="renew").count() == 1
    assert recording.count(("renew", instance.instance_id)) == 1


def test_a_refunded_renewal_period_moves_the_expiry_earlier(koogallery):
    instance = created_v2(koogallery)
    refresh(koogallery, instance, expire="20311231000000")
    refresh(koogallery, instance, scene="UNSUBSCRIBE_RENEWAL_PERIOD", expire="20301231000000")
    instance.refresh_from_db()
    assert instance.expires_at.year == 2030
    assert InstanceOrder.objects.filter(instance=instance, kind="unsubscribe_renewal").exists()


def test_trial_to_formal_fetches_the_conversion_order_and_ends_the_trial(koogallery, fake_openapi):
    purchase = new_order_id()
    fake_openapi.add_order(purchase, order_type="TRIAL", period_type="day", period_number=7)
    instance = created_v2(koogallery, order_id=purchase, line_id=f"{purchase}-000001")
    instance.refresh_from_db()
    assert instance.is_trial
    conversion = new_order_id()
    fake_openapi.add_order(conversion, order_type="TRIAL_TO_FORMAL", period_type="month")
    assert refresh(koogallery, instance, scene="TRIAL_TO_FORMAL", order_id=conversion)["resultCode"] == "000000"
    instance.refresh_from_db()
    assert not instance.is_trial and instance.period_type == "month"
    assert conversion in [c.query["orderId"] for c in fake_openapi.calls(QUERY_ORDER_PATH)]
    order = InstanceOrder.objects.get(instance=instance, kind="trial_to_formal")
    assert order.query_order["orderInfo"]["orderType"] == "TRIAL_TO_FORMAL"


def test_a_renewal_with_a_change_fetches_the_new_spec_and_upgrades(koogallery, fake_openapi, recording):
    instance = created_v2(koogallery, test=False)
    change = new_order_id()
    fake_openapi.add_order(change, order_type="RENEW", sku_code="sku-premium", linear_value=20)
    refresh(koogallery, instance, scene="RENEWAL_CHANGE", order_id=change)
    instance.refresh_from_db()
    assert (instance.sku_code, instance.quantity) == ("sku-premium", 20)
    assert recording[-2:] == [("upgrade", instance.instance_id), ("renew", instance.instance_id)]
    assert workspace(instance).seats == 20


def test_an_unknown_scene_is_still_an_expiry_update_u22(koogallery):
    instance = created_v2(koogallery)
    assert refresh(koogallery, instance, scene="CANCEL_RENEW", expire="20290101000000")["resultCode"] == "000000"
    instance.refresh_from_db()
    assert instance.expires_at.year == 2029
    assert InstanceOrder.objects.get(instance=instance, kind="other").scene == "CANCEL_RENEW"


def test_another_unknown_scene_of_the_same_order_is_applied_too(koogallery):
    # §5.1: a refresh is keyed by (instanceId, orderId, scene); U22: an unknown scene is applied.
    instance = created_v2(koogallery)
    order_id = new_order_id()
    refresh(koogallery, instance, scene="CANCEL_RENEW", order_id=order_id, expire="20290101000000")
    assert refresh(koogallery, instance, scene="SOME_NEW_SCENE", order_id=order_id, expire="20280101000000") == {
        "resultCode": "000000",
        "resultMsg": "success.",
    }
    instance.refresh_from_db()
    assert instance.expires_at.year == 2028
    assert sorted(InstanceOrder.objects.filter(instance=instance, kind="other").values_list("scene", flat=True)) == [
        "CANCEL_RENEW",
        "SOME_NEW_SCENE",
    ]
    assert Job.objects.filter(instance=instance, kind="renew").count() == 2


def test_a_refresh_repeated_with_another_order_line_is_a_repeat(koogallery, recording):
    # §5.1: the key is (instanceId, orderId, scene); the order line is not part of it.
    instance = created_v2(koogallery, test=False)
    order_id = new_order_id()
    fields = {"instanceId": instance.instance_id, "scene": "RENEWAL", "orderId": order_id}
    first = {**fields, "orderLineId": f"{order_id}-000001", "expireTime": "20301231235959"}
    again = {**fields, "orderLineId": f"{order_id}-000002", "expireTime": "20311231235959"}
    assert koogallery.v2("refreshInstance", first, test=False).assert_envelope()["resultCode"] == "000000"
    assert koogallery.v2("refreshInstance", again, test=False).assert_envelope()["resultCode"] == "000000"
    instance.refresh_from_db()
    assert instance.expires_at == datetime(2030, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert InstanceOrder.objects.filter(instance=instance, kind="renewal").count() == 1
    assert recording.count(("renew", instance.instance_id)) == 1


@pytest.mark.parametrize("expire", ["2030-12-31", "20301332000000", ""])
def test_a_missing_or_malformed_expiry_answers_000002(koogallery, expire):
    instance = created_v2(koogallery)
    assert refresh(koogallery, instance, expire=expire)["resultCode"] == "000002"
    assert not InstanceOrder.objects.filter(kind="renewal").exists()


def test_a_refresh_for_a_never_seen_instance_answers_000003_and_alerts_operators(koogallery):
    data = refresh(koogallery, "never-seen", test=False)
    assert data["resultCode"] == "000003"
    alert = Alert.objects.get()
    assert (alert.kind, alert.instance_ref, alert.count) == ("unknown_instance", "never-seen", 1)
    refresh(koogallery, "never-seen", test=False)
    alert.refresh_from_db()
    assert alert.count == 2 and Alert.objects.count() == 1


def test_a_test_refresh_for_a_never_seen_instance_answers_000003_without_alert(koogallery):
    assert refresh(koogallery, "never-seen", test=True)["resultCode"] == "000003"
    assert not Alert.objects.exists()


def test_renew_after_release_of_a_real_instance_answers_000003_and_alerts(koogallery):
    instance = created_v2(koogallery, test=False)
    release(koogallery, instance)
    data = refresh(koogallery, instance, test=False)
    assert data["resultCode"] == "000003"
    alert = Alert.objects.get()
    assert (alert.kind, alert.instance) == ("released_instance", instance)
    instance.refresh_from_db()
    assert instance.status == "released"


def test_renew_after_release_of_a_test_instance_answers_000000_and_changes_nothing(koogallery):
    instance = created_v2(koogallery, test=True)
    release(koogallery, instance)
    assert refresh(koogallery, instance, expire="20401231000000")["resultCode"] == "000000"
    instance.refresh_from_db()
    assert instance.status == "released" and instance.expires_at.year != 2040
    assert not Alert.objects.exists()


def test_a_v2_renewal_of_a_frozen_instance_waits_for_unfreeze(koogallery):
    instance = created_v2(koogallery)
    status(koogallery, instance, "FREEZE")
    refresh(koogallery, instance, expire="20401231000000")
    instance.refresh_from_db()
    assert instance.status == "frozen"
    status(koogallery, instance, "UNFREEZE")
    instance.refresh_from_db()
    assert instance.status == "active"


# --- updateInstanceStatus ------------------------------------------------------------------------


def test_freeze_blocks_use_and_keeps_the_data(koogallery):
    instance = created_v2(koogallery)
    assert status(koogallery, instance, "FREEZE")["resultCode"] == "000000"
    instance.refresh_from_db()
    assert (instance.status, instance.frozen_reason, instance.provisioning_state) == ("frozen", "marketplace", "ready")
    ws = workspace(instance)
    assert ws.status == "frozen" and ws.admin_password == instance.app_password
    # queryInstance still answers a frozen instance with its appInfo
    data = koogallery.v2("queryInstance", {"instanceId": instance.instance_id}).assert_envelope()
    assert data["info"][0]["appInfo"]["password"] == instance.app_password


def test_a_repeated_freeze_or_unfreeze_is_a_success_that_changes_nothing(koogallery, recording):
    instance = created_v2(koogallery, test=False)
    status(koogallery, instance, "FREEZE")
    assert status(koogallery, instance, "FREEZE")["resultCode"] == "000000"
    status(koogallery, instance, "UNFREEZE")
    assert status(koogallery, instance, "UNFREEZE")["resultCode"] == "000000"
    assert [e for e in Transition.objects.filter(instance=instance).values_list("event", flat=True)] == [
        "create",
        "provisioned",
        "freeze",
        "freeze_done",
        "unfreeze",
        "unfreeze_done",
    ]
    assert recording.count(("freeze", instance.instance_id)) == 1
    assert recording.count(("unfreeze", instance.instance_id)) == 1
    assert workspace(instance).status == "active"


@pytest.mark.parametrize("value", ["PAUSE", ""])
def test_an_unknown_status_answers_000002(koogallery, value):
    instance = created_v2(koogallery)
    assert status(koogallery, instance, value)["resultCode"] == "000002"


def test_a_status_change_for_a_never_seen_instance_answers_000003(koogallery):
    assert status(koogallery, "never-seen", "FREEZE")["resultCode"] == "000003"


def test_a_status_change_of_a_released_instance(koogallery):
    real = created_v2(koogallery, test=False)
    test = created_v2(koogallery, test=True)
    release(koogallery, real)
    release(koogallery, test)
    assert status(koogallery, real, "FREEZE", test=False)["resultCode"] == "000003"
    assert status(koogallery, test, "UNFREEZE")["resultCode"] == "000000"
    assert list(Alert.objects.values_list("kind", "instance_ref")) == [("released_instance", real.instance_id)]


def test_a_freeze_while_provisioning_is_applied_after_the_provisioning(koogallery, run_on_commit):
    koogallery.run_jobs = False
    instance = created_v2(koogallery)
    assert status(koogallery, instance, "FREEZE")["resultCode"] == "000000"
    from orders.jobs import jobs_sweep

    with run_on_commit():
        Job.objects.update(next_run_at="2000-01-01T00:00:00Z")
        jobs_sweep()
    instance.refresh_from_db()
    assert (instance.status, instance.provisioning_state) == ("frozen", "ready")
    assert list(Job.objects.values_list("kind", "state")) == [("provision", "done"), ("freeze", "done")]
    assert workspace(instance).status == "frozen"


# --- releaseInstance -----------------------------------------------------------------------------


def test_release_deprovisions_and_a_repeat_answers_000000(koogallery):
    instance = created_v2(koogallery)
    unsubscribe = new_order_id()
    data = release(koogallery, instance, orderId=unsubscribe, orderLineId=f"{unsubscribe}-000001")
    assert data["resultCode"] == "000000"
    instance.refresh_from_db()
    assert (instance.status, instance.summary_status) == ("released", "released")
    assert instance.released_at is not None
    assert workspace(instance).status == "released"
    assert InstanceOrder.objects.get(instance=instance, kind="unsubscribe").order_id == unsubscribe
    assert release(koogallery, instance)["resultCode"] == "000000"
    assert Job.objects.filter(kind="release").count() == 1


def test_release_of_a_frozen_instance(koogallery):
    instance = created_v2(koogallery)
    status(koogallery, instance, "FREEZE")
    assert release(koogallery, instance)["resultCode"] == "000000"
    instance.refresh_from_db()
    assert instance.status == "released"


def test_release_of_a_never_seen_instance_answers_000003(koogallery):
    assert release(koogallery, "never-seen")["resultCode"] == "000003"


def test_release_while_provisioning_cancels_the_provisioning(koogallery, recording):
    koogallery.run_jobs = False
    instance = created_v2(koogallery, test=False)
    koogallery.run_jobs = True
    assert release(koogallery, instance)["resultCode"] == "000000"
    instance.refresh_from_db()
    assert instance.status == "released"
    assert list(Job.objects.values_list("kind", "state")) == [("provision", "cancelled")]
    assert recording == []
    assert not DemoWorkspace.objects.exists()
    # KooGallery repeats the purchase: the released instance's id and 000000, not 000004 forever.
    again = new_v2(koogallery, order_id=instance.order_id, line_id=instance.order_line_id, test=False)
    data = again.assert_envelope()
    assert (data["resultCode"], data["instanceId"]) == ("000000", instance.instance_id)
    assert Job.objects.count() == 1  # nothing provisioned for a released instance


# --- upgradeInstance -----------------------------------------------------------------------------


def test_an_upgrade_fetches_the_new_spec_and_applies_it_once(koogallery, fake_openapi, recording):
    instance = created_v2(koogallery, test=False)
    order_id = new_order_id()
    fake_openapi.add_order(order_id, order_type="CHANGE", sku_code="sku-premium", linear_value=50)
    assert upgrade(koogallery, instance, order_id)["resultCode"] == "000000"
    assert upgrade(koogallery, instance, order_id)["resultCode"] == "000000"
    instance.refresh_from_db()
    assert (instance.sku_code, instance.quantity) == ("sku-premium", 50)
    assert recording.count(("upgrade", instance.instance_id)) == 1
    assert InstanceOrder.objects.filter(instance=instance, kind="upgrade").count() == 1
    assert workspace(instance).seats == 50
    assert [c.query["orderId"] for c in fake_openapi.calls(QUERY_ORDER_PATH)][-1] == order_id


def test_an_upgrade_of_a_never_seen_or_released_instance(koogallery):
    assert upgrade(koogallery, "never-seen")["resultCode"] == "000003"
    real, test = created_v2(koogallery, test=False), created_v2(koogallery, test=True)
    release(koogallery, real)
    release(koogallery, test)
    assert upgrade(koogallery, real, test=False)["resultCode"] == "000003"
    assert upgrade(koogallery, test)["resultCode"] == "000000"
    assert not InstanceOrder.objects.filter(kind="upgrade").exists()


@pytest.mark.parametrize("missing", ["orderId", "orderLineId", "instanceId"])
def test_an_upgrade_missing_a_field_answers_000002(koogallery, missing):
    fields = {"instanceId": "i-1", "orderId": "CS1", "orderLineId": "CS1-000001"}
    del fields[missing]
    assert koogallery.v2("upgradeInstance", fields).assert_envelope()["resultCode"] == "000002"


@pytest.mark.parametrize("activity", ["refreshInstance", "upgradeInstance", "releaseInstance", "orderNotify"])
def test_ids_longer_than_their_columns_are_cut_not_an_internal_error(koogallery, fake_openapi, activity):
    # §4.0: a field longer than Huawei's documented maximum is not refused (ids are S64; columns 255).
    instance = created_v2(koogallery, test=False)
    order_id = "CS" + "A" * 298
    fields = {"orderId": order_id, "orderLineId": order_id + "-000001"}
    if activity != "orderNotify":
        fields["instanceId"] = instance.instance_id
    if activity == "refreshInstance":
        fields.update(scene="RENEWAL", expireTime="20301124023618", productId="P" * 300)
    for _ in range(2):  # the repeat finds the row the first call wrote
        data = koogallery.v2(activity, fields, test=False).assert_envelope()
        assert data["resultCode"] == "000000", data
    if activity == "orderNotify":
        notification = OrderNotification.objects.get()
        assert (notification.order_id, notification.count) == (key_fit(order_id, 255), 2)
    else:
        [order] = InstanceOrder.objects.filter(instance=instance).exclude(kind="purchase")
        assert order.order_id == key_fit(order_id, 255) and len(order.order_line_id) == 255


def test_a_late_repeat_of_an_older_renewal_does_not_roll_the_expiry_back(koogallery, recording):
    instance = created_v2(koogallery, test=False)
    first, second = new_order_id(), new_order_id()
    refresh(koogallery, instance, order_id=first, expire="20301231235959000", test=False)
    refresh(koogallery, instance, order_id=second, expire="20311231235959000", test=False)
    assert (
        refresh(koogallery, instance, order_id=first, expire="20301231235959000", test=False)["resultCode"] == "000000"
    )
    instance.refresh_from_db()
    assert instance.expires_at == datetime(2031, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert Job.objects.filter(instance=instance, kind="renew").count() == 2


def test_the_migration_keeps_refreshes_an_earlier_version_repeated_under_other_lines(koogallery):
    """Rows written before the constraint (one refresh under two order lines) stay, the repeat
    renamed by scene, so that migration 0010 can add the constraint."""
    import importlib

    from django.apps import apps
    from django.db import connection

    instance = created_v2(koogallery)
    with connection.cursor() as cursor:  # as the table was before 0010 (rolled back with the test)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the purchase's deferred checks, done now
        cursor.execute("DROP INDEX instance_order_refresh_once")  # a partial unique index
    order_id = new_order_id()
    rows = [
        InstanceOrder.objects.create(instance=instance, kind="renewal", order_id=order_id, order_line_id=line,
                                     scene="RENEWAL")
        for line in (f"{order_id}-1", f"{order_id}-2")
    ]  # fmt: skip
    other = InstanceOrder.objects.create(instance=instance, kind="renewal", order_id=order_id, scene="RENEWAL_CHANGE")
    migration = importlib.import_module("orders.migrations.0010_refresh_once_per_scene")
    migration.rename_repeated_refreshes(apps, None)
    scenes = dict(InstanceOrder.objects.filter(order_id=order_id).values_list("pk", "scene"))
    assert scenes == {rows[0].pk: "RENEWAL", rows[1].pk: f"RENEWAL (repeat #{rows[1].pk})", other.pk: "RENEWAL_CHANGE"}
