"""V2 newInstance (§4.1.1): one instance per order line, answered at once, provisioned after."""

import pytest

from marketplace_isv.openapi import QUERY_ORDER_PATH
from marketplace_isv.simulator.client import new_order_id
from orders.models import Alert, DemoWorkspace, Instance, InstanceOrder, Job, Transition
from tests.orders import provisioners
from tests.orders.conftest import created_v2, new_v2, order_line

pytestmark = pytest.mark.django_db


def query(koogallery, instance_id, **options):
    return koogallery.v2("queryInstance", {"instanceId": instance_id}, **options).assert_envelope()


def test_first_call_answers_000004_with_the_business_id_as_instance_id(koogallery):
    koogallery.run_jobs = False
    data = new_v2(koogallery, business_id="87b94795-0603-4e24-8ae5-69420d60e3c8").assert_envelope()
    assert data == {
        "resultCode": "000004",
        "resultMsg": "request in progress",
        "instanceId": "87b94795-0603-4e24-8ae5-69420d60e3c8",
    }
    instance = Instance.objects.get()
    assert (instance.status, instance.provisioning_state, instance.provisioned_at) == ("active", "pending", None)
    assert Job.objects.get().kind == "provision"


def test_the_order_is_recorded_with_a_creation_row_in_the_log(koogallery):
    order_id, line_id = order_line()
    instance = created_v2(koogallery, order_id=order_id, line_id=line_id)
    order = InstanceOrder.objects.get(instance=instance)
    assert (order.kind, order.order_id, order.order_line_id) == ("purchase", order_id, line_id)
    first = Transition.objects.filter(instance=instance).first()
    assert (first.event, first.from_status, first.to_status, first.actor) == ("create", "", "active", "marketplace")
    assert first.delivery_id is not None


def test_after_the_answer_query_order_is_fetched_and_the_instance_provisioned(koogallery, fake_openapi):
    order_id, line_id = order_line()
    fake_openapi.add_order(order_id, charging_mode="PERIOD", period_type="month", sku_code="sku-gold", linear_value=5)
    instance = created_v2(koogallery, order_id=order_id, line_id=line_id)
    instance.refresh_from_db()
    calls = fake_openapi.calls(QUERY_ORDER_PATH)
    assert [(c.query["orderId"], c.query["orderLineId"]) for c in calls] == [(order_id, line_id)]
    assert calls[0].headers["authorization"].startswith("SDK-HMAC-SHA256 Access=")
    assert (instance.sku_code, instance.charging_mode, instance.period_type, instance.quantity) == (
        "sku-gold",
        "PERIOD",
        "month",
        5,
    )
    assert instance.customer_id == "68cbc86abc2018ab880d92f36422fa0e"
    assert instance.query_order["orderInfo"]["orderId"] == order_id
    assert instance.expires_at is not None
    assert (instance.provisioning_state, instance.summary_status) == ("ready", "active")
    workspace = DemoWorkspace.objects.get(instance_id=instance.instance_id)
    assert (workspace.admin_user, workspace.admin_password) == (instance.app_user_name, instance.app_password)
    assert Transition.objects.filter(instance=instance, event="provisioned", actor="system").count() == 1


def test_a_repeat_after_provisioning_answers_000000_with_the_same_instance_id(koogallery):
    order_id, line_id = order_line()
    first = new_v2(koogallery, order_id=order_id, line_id=line_id).assert_envelope()
    again = new_v2(koogallery, order_id=order_id, line_id=line_id).assert_envelope()
    assert first["resultCode"] == "000004"
    assert (again["resultCode"], again["instanceId"]) == ("000000", first["instanceId"])
    assert Instance.objects.count() == 1
    assert Job.objects.count() == 1


def test_a_repeat_while_provisioning_answers_000004_with_the_same_instance_id(koogallery):
    koogallery.run_jobs = False
    order_id, line_id = order_line()
    first = new_v2(koogallery, order_id=order_id, line_id=line_id).assert_envelope()
    again = new_v2(koogallery, order_id=order_id, line_id=line_id).assert_envelope()
    assert (again["resultCode"], again["instanceId"]) == ("000004", first["instanceId"])
    assert Job.objects.count() == 1


def test_another_line_of_the_same_order_is_another_instance(koogallery):
    order_id, line_id = order_line()
    one = new_v2(koogallery, order_id=order_id, line_id=line_id).assert_envelope()
    two = new_v2(koogallery, order_id=order_id, line_id=f"{order_id}-000002").assert_envelope()
    assert one["instanceId"] != two["instanceId"]


@pytest.mark.parametrize("business_id", ["a,b", "x" * 65, "with space"])
def test_a_business_id_unusable_as_an_instance_id_gives_a_uuid(koogallery, business_id):
    data = new_v2(koogallery, business_id=business_id).assert_envelope()
    assert len(data["instanceId"]) == 36 and data["instanceId"].count("-") == 4


def test_a_business_id_already_used_as_an_instance_id_gives_a_uuid(koogallery):
    first = new_v2(koogallery, business_id="shared-business-id").assert_envelope()
    second = new_v2(koogallery, business_id="shared-business-id").assert_envelope()
    assert first["instanceId"] == "shared-business-id"
    assert second["instanceId"] != "shared-business-id"
    assert Instance.objects.count() == 2


@pytest.mark.parametrize("missing", ["orderId", "orderLineId", "businessId"])
def test_a_missing_mandatory_field_answers_000002_and_creates_nothing(koogallery, missing):
    fields = {"orderId": "CS1", "orderLineId": "CS1-000001", "businessId": "b-1"}
    del fields[missing]
    data = koogallery.v2("newInstance", fields).assert_envelope()
    assert data["resultCode"] == "000002"
    assert missing in data["resultMsg"]
    assert not Instance.objects.exists()


def test_test_traffic_is_marked_and_never_reaches_the_configured_provisioner(koogallery, settings):
    settings.ISV_PROVISIONER = "tests.orders.provisioners.Recording"
    provisioners.CALLS.clear()
    instance = created_v2(koogallery, test=True)
    instance.refresh_from_db()
    assert instance.is_test and Job.objects.get().is_test
    assert instance.provisioning_state == "ready"
    assert provisioners.CALLS == []
    assert DemoWorkspace.objects.get(instance_id=instance.instance_id).is_test


def test_real_traffic_goes_to_the_configured_provisioner(koogallery, settings):
    settings.ISV_PROVISIONER = "tests.orders.provisioners.Recording"
    provisioners.CALLS.clear()
    instance = created_v2(koogallery, test=False)
    assert provisioners.CALLS == [("provision", instance.instance_id)]
    assert not instance.is_test


def test_a_provisioner_may_supply_its_own_app_info(koogallery, settings):
    settings.ISV_PROVISIONER = "tests.orders.provisioners.OwnCredentials"
    instance = created_v2(koogallery, test=False)
    app = query(koogallery, instance.instance_id)["info"][0]["appInfo"]
    assert app["adminUrl"] == "https://isv.example.com/admin"
    assert (app["userName"], app["password"]) == ("owner", "Own-Pa55word!")


def test_query_order_failures_are_retried_until_it_answers(koogallery, fake_openapi):
    fake_openapi.fail_next(QUERY_ORDER_PATH, status=500, code="MKT.0999", times=2)
    instance = created_v2(koogallery, test=False)
    job = Job.objects.get()
    assert (job.state, job.attempts) == ("done", 3)
    assert "MKT.0999" in job.last_error
    instance.refresh_from_db()
    assert instance.query_order is not None and instance.provisioning_state == "ready"


@pytest.mark.parametrize(
    "status,code,what",
    [
        (401, "MKT.0154", "a configuration error"),
        (401, "MKT.0150", "a configuration error"),
        (400, "MKT.0101", "refused"),
    ],
)
def test_query_order_answers_that_retrying_cannot_change_fail_the_job_at_once(
    koogallery, fake_openapi, run_on_commit, status, code, what
):
    """§7.1: retry 5xx and MKT.0250; a 401 is a configuration error (and a 400 a refused parameter):
    one call, the job failed with an alert saying what to fix — then an operator's retry succeeds."""
    fake_openapi.fail_next(QUERY_ORDER_PATH, status=status, code=code, times=1)
    instance = created_v2(koogallery, test=False)
    job = Job.objects.get()
    assert (job.state, job.attempts) == ("failed", 1)
    assert code in job.last_error and what in job.last_error
    assert len(fake_openapi.calls(QUERY_ORDER_PATH)) == 1
    instance.refresh_from_db()
    assert instance.provisioning_state == "failed" and instance.query_order is None
    alert = Alert.objects.get(kind="job_failed")
    assert alert.instance == instance and code in alert.message
    from orders.services import instance_retry_provisioning

    with run_on_commit():
        assert instance_retry_provisioning(instance_id=instance.instance_id, actor="operator:ops").queued == 1
    instance.refresh_from_db()
    assert instance.provisioning_state == "ready" and instance.query_order is not None
    assert len(fake_openapi.calls(QUERY_ORDER_PATH)) == 2
    # The retry succeeded: the alert raised for the failure is answered, saying by what.
    alert.refresh_from_db()
    assert alert.resolved_at is not None and alert.resolved_by.startswith("system (job #")


def test_test_traffic_is_provisioned_even_when_query_order_cannot_answer(koogallery, fake_openapi):
    fake_openapi.fail_next(QUERY_ORDER_PATH, status=400, code="MKT.0101", times=1)
    instance = created_v2(koogallery, test=True)
    instance.refresh_from_db()
    assert instance.provisioning_state == "ready"
    assert instance.query_order is None and "MKT.0101" in instance.query_order_error
    assert query(koogallery, instance.instance_id)["resultCode"] == "000000"


def test_a_job_out_of_retries_is_failed_and_query_instance_answers_000005(koogallery, settings):
    settings.ISV_PROVISIONER = "tests.orders.provisioners.Down"
    settings.ORDERS_JOB_MAX_ATTEMPTS = 3
    instance = created_v2(koogallery, test=False)
    job = Job.objects.get()
    assert (job.state, job.attempts, job.result_code) == ("failed", 3, "000005")
    assert "backend unreachable" in job.last_error
    instance.refresh_from_db()
    assert (instance.provisioning_state, instance.summary_status) == ("failed", "failed")
    data = query(koogallery, instance.instance_id)
    assert data["resultCode"] == "000005" and "info" not in data
    alert = Alert.objects.get(kind="job_failed")
    assert alert.instance == instance


def test_a_permanent_refusal_answers_its_code_without_retrying(koogallery, settings):
    settings.ISV_PROVISIONER = "tests.orders.provisioners.SoldOut"
    instance = created_v2(koogallery, test=False)
    job = Job.objects.get()
    assert (job.state, job.attempts, job.result_code) == ("failed", 1, "000106")
    assert query(koogallery, instance.instance_id)["resultCode"] == "000106"


def test_a_repeated_new_instance_after_a_failure_provisions_again(koogallery, settings):
    settings.ISV_PROVISIONER = "tests.orders.provisioners.SoldOut"
    order_id, line_id = order_line()
    first = new_v2(koogallery, order_id=order_id, line_id=line_id, test=False).assert_envelope()
    settings.ISV_PROVISIONER = "demo"  # the seller fixed the cause and pressed 重新启动 (§5.2)
    again = new_v2(koogallery, order_id=order_id, line_id=line_id, test=False).assert_envelope()
    assert (again["resultCode"], again["instanceId"]) == ("000004", first["instanceId"])
    instance = Instance.objects.get()
    assert (instance.provisioning_state, instance.summary_status) == ("ready", "active")
    assert list(Job.objects.order_by("pk").values_list("kind", "state")) == [
        ("provision", "cancelled"),  # the failed attempt, superseded
        ("provision", "done"),
    ]
    assert query(koogallery, instance.instance_id)["resultCode"] == "000000"


def test_credentials_over_79_bytes_are_refused_as_a_provisioner_error(koogallery, settings):
    settings.ISV_PROVISIONER = "tests.orders.provisioners.TooLongUserName"
    created_v2(koogallery, test=False)
    job = Job.objects.get()
    assert job.state == "failed" and "79 UTF-8 bytes" in job.last_error


def test_a_repeated_purchase_with_ids_longer_than_their_columns_finds_its_instance(koogallery):
    # §4.0: over-long ids are fitted (fields.key_fit), not refused, and a repeat must still find the instance.
    order_id = "CS" + "Z" * 298
    fields = {"orderId": order_id, "orderLineId": order_id + "-000001", "businessId": "b" * 300}
    first = koogallery.v2("newInstance", fields, test=False).assert_envelope()
    again = koogallery.v2("newInstance", fields, test=False).assert_envelope()
    assert first["resultCode"] in ("000000", "000004") and again["resultCode"] in ("000000", "000004")
    assert first["instanceId"] == again["instanceId"]
    from marketplace_isv.fields import key_fit

    assert Instance.objects.get().order_line_id == key_fit(fields["orderLineId"], 255)


def test_an_extra_member_too_large_for_a_float_is_stored_as_received(koogallery):
    # §4.0: extra members are ignored and stored; 1e400 is valid JSON that no float holds.
    order_id = new_order_id()
    body = (
        b'{"activity":"newInstance","businessId":"huge-%s","orderId":"%s","orderLineId":"%s-1","testFlag":"1",'
        b'"x":1e400,"y":{"z":[-1E+999]}}'
    ) % (order_id.encode(), order_id.encode(), order_id.encode())
    first = koogallery.v2(None, raw_body=body).assert_envelope()
    again = koogallery.v2(None, raw_body=body).assert_envelope()
    assert first["resultCode"] in ("000000", "000004") and again["instanceId"] == first["instanceId"]
    assert Instance.objects.get().request_params["x"] == "1e400"


@pytest.mark.parametrize(
    "order", [dict(period_type="x" * 17), dict(period_number=3_000_000_000), dict(period_number="٣")],
    ids=["over-long periodType", "periodNumber beyond a Java int", "non-ASCII digit"],
)  # fmt: skip
def test_a_query_order_answer_beyond_the_columns_still_provisions(koogallery, fake_openapi, order):
    order_id = new_order_id()
    fake_openapi.add_order(order_id, **order)
    instance = created_v2(koogallery, test=False, order_id=order_id, line_id=f"{order_id}-000001")
    instance.refresh_from_db()
    assert instance.provisioning_state == "ready"
    assert len(instance.period_type) <= 16 and instance.period_number in (None, 1)


def test_long_order_ids_sharing_their_beginning_are_two_instances_and_a_repeat_finds_its_own(koogallery):
    """§4.0, §5.1: ids over the 255-character column keep a digest of the whole (fields.key_fit)."""
    from marketplace_isv.fields import key_fit

    stem = "CS" + "L" * 298
    first = created_v2(koogallery, order_id=stem + "1", line_id=stem + "1-000001")
    second = created_v2(koogallery, order_id=stem + "2", line_id=stem + "2-000001")
    again = created_v2(koogallery, order_id=stem + "1", line_id=stem + "1-000001")
    assert first.pk != second.pk and again.pk == first.pk
    assert (first.order_id, first.order_line_id) == (key_fit(stem + "1", 255), key_fit(stem + "1-000001", 255))


@pytest.mark.parametrize("name", ["orderId", "testFlag"])
def test_true_or_false_in_a_text_field_answers_000002_and_writes_nothing(koogallery, name):
    """§4.0 accepts a documented field as a string or a number; a JSON boolean is neither (§2.8)."""
    order_id, line_id = order_line()
    fields = {"orderId": order_id, "orderLineId": line_id, "businessId": "b-bool", name: True}
    data = koogallery.v2("newInstance", fields, test=None).assert_envelope()
    assert (data["resultCode"], data["resultMsg"]) == ("000002", "a text field holds true or false")
    assert not Instance.objects.exists()


def test_query_order_asks_for_a_long_order_by_the_id_koogallery_sent(koogallery, fake_openapi):
    """The stored key is fitted to its column (fields.key_fit); the open API knows only the id as sent."""
    order_id = "CS" + "Q" * 298
    line_id = order_id + "-000001"
    fake_openapi.add_order(order_id)
    created_v2(koogallery, test=False, order_id=order_id, line_id=line_id)
    calls = fake_openapi.calls(QUERY_ORDER_PATH)
    assert [(c.query["orderId"], c.query["orderLineId"]) for c in calls] == [(order_id, line_id)]


@pytest.mark.parametrize("business_id", [".", ".."])
def test_a_business_id_that_is_no_usable_path_segment_is_not_the_instance_id(koogallery, business_id):
    """A browser resolves /app/.. away: such a businessId gets a UUID instance id (§4.1.1)."""
    data = new_v2(koogallery, business_id=business_id).assert_envelope()
    assert data["instanceId"] not in (".", "..") and len(data["instanceId"]) == 36
