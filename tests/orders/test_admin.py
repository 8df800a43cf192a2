"""The operators' console for instances, jobs and alerts (house style 10)."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

from marketplace_isv.simulator.client import new_order_id
from marketplace_isv.simulator.fake_openapi import QUERY_ORDER_PATH
from orders.models import Alert, Instance, Job, OrderNotification, Transition
from tests.orders.conftest import created_v2

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:orders_instance_changelist"


@pytest.fixture
def instances(koogallery, settings, fake_openapi):
    order_id = new_order_id()
    fake_openapi.add_order(order_id, charging_mode="ON_DEMAND", period_type=None, period_number=None)
    active = created_v2(koogallery, test=False, order_id=order_id, line_id=f"{order_id}-000001")
    frozen = created_v2(koogallery, test=True)
    koogallery.v2("updateInstanceStatus", {"instanceId": frozen.instance_id, "status": "FREEZE"})
    settings.ISV_PROVISIONER = "tests.orders.provisioners.SoldOut"
    failed = created_v2(koogallery, test=False)
    settings.ISV_PROVISIONER = "demo"
    return {"active": active, "frozen": frozen, "failed": failed}


def listed(response) -> set[str]:
    return {row.instance_id for row in response.context["cl"].result_list}


def test_the_changelist_shows_every_instance(admin_client, instances):
    response = admin_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert listed(response) == {i.instance_id for i in instances.values()}


@pytest.mark.parametrize(
    "query,expected",
    [
        ("status__exact=frozen", {"frozen"}),
        ("provisioning_state__exact=failed", {"failed"}),
        ("is_test__exact=1", {"frozen"}),
        ("charging_mode__exact=PERIOD", {"frozen", "failed"}),
        ("charging_mode__exact=ON_DEMAND", {"active"}),
        ("alert=open", {"failed"}),
        ("alert=none", {"active", "frozen"}),
    ],
)
def test_filters(admin_client, instances, query, expected):
    response = admin_client.get(reverse(CHANGELIST) + "?" + query)
    assert response.status_code == 200
    assert listed(response) == {instances[name].instance_id for name in expected}


def test_search_by_instance_order_renewal_order_and_customer(admin_client, instances, koogallery):
    active = instances["active"]
    renewal = new_order_id()
    koogallery.v2(
        "refreshInstance",
        {
            "instanceId": active.instance_id,
            "scene": "RENEWAL",
            "orderId": renewal,
            "orderLineId": f"{renewal}-000001",
            "expireTime": "20301231000000",
        },
        test=False,
    )
    for term in (active.instance_id, active.order_id, renewal):
        assert listed(admin_client.get(reverse(CHANGELIST), {"q": term})) == {active.instance_id}
    assert len(listed(admin_client.get(reverse(CHANGELIST), {"q": "68cbc86abc2018ab880d92f36422fa0e"}))) == 3


def test_the_detail_page_shows_orders_transitions_jobs_and_deliveries_but_no_password(admin_client, instances):
    instance = Instance.objects.get(pk=instances["frozen"].pk)
    response = admin_client.get(reverse("admin:orders_instance_change", args=[instance.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert instance.order_id in html  # the purchase order
    assert "freeze_done" in html and "provisioned" in html  # the transition log
    assert "provision" in html and "done" in html  # the jobs
    assert "updateInstanceStatus" in html and "newInstance" in html  # the deliveries
    assert reverse("admin:marketplace_isv_delivery_changelist") in html
    assert instance.app_password not in html
    assert "••••••••" in html


JOBS, NOTIFICATIONS = "admin:orders_job_changelist", "admin:orders_ordernotification_changelist"


def post_action(admin_client, changelist: str, name: str, pks, run_on_commit=None):
    """The admin action `name` on the rows `pks` of `changelist`, redirect followed (its messages);
    with `run_on_commit`, its on-commit work (job dispatch) runs as if committed."""
    data = {"action": name, "_selected_action": list(pks)}
    if run_on_commit is None:
        return admin_client.post(reverse(changelist), data, follow=True)
    with run_on_commit():
        return admin_client.post(reverse(changelist), data, follow=True)


def action(admin_client, name, instance, run_on_commit):
    return post_action(admin_client, CHANGELIST, name, [instance.pk], run_on_commit)


def test_operators_freeze_and_unfreeze_through_the_same_service(admin_client, instances, run_on_commit):
    instance = instances["active"]
    assert action(admin_client, "freeze_as_operator", instance, run_on_commit).status_code == 200
    instance.refresh_from_db()
    assert (instance.status, instance.frozen_reason) == ("frozen", "operator")
    row = Transition.objects.filter(instance=instance, event="freeze").get()
    assert row.actor == "operator:admin"
    assert Job.objects.filter(instance=instance, kind="freeze").get().state == "done"
    action(admin_client, "unfreeze_as_operator", instance, run_on_commit)
    instance.refresh_from_db()
    assert instance.status == "active"
    assert Transition.objects.filter(instance=instance, event="unfreeze").get().actor == "operator:admin"


def test_operators_retry_a_failed_provisioning(admin_client, instances, run_on_commit):
    instance = instances["failed"]
    response = action(admin_client, "retry_provisioning", instance, run_on_commit)
    assert "1 job(s) queued for provisioning again." in response.content.decode()
    instance.refresh_from_db()
    assert (instance.provisioning_state, instance.summary_status) == ("ready", "active")
    assert Transition.objects.filter(instance=instance, event="retry", actor="operator:admin").exists()


def test_the_job_list_filters_and_retries(admin_client, instances, run_on_commit):
    url = reverse(JOBS)
    response = admin_client.get(url, {"state__exact": "failed"})
    assert [job.instance.instance_id for job in response.context["cl"].result_list] == [instances["failed"].instance_id]
    assert admin_client.get(url, {"q": instances["active"].instance_id}).status_code == 200
    failed_job = Job.objects.get(state="failed")
    post_action(admin_client, JOBS, "retry_failed", [failed_job.pk], run_on_commit)
    failed_job.refresh_from_db()
    assert failed_job.state == "cancelled"  # superseded by a new provisioning job, which succeeded
    assert Job.objects.filter(instance=failed_job.instance, kind="provision").last().state == "done"
    detail = admin_client.get(reverse("admin:orders_job_change", args=[failed_job.pk]))
    assert detail.status_code == 200


def test_alerts_are_listed_and_resolved(admin_client, instances):
    url = reverse("admin:orders_alert_changelist")
    alert = Alert.objects.get()
    assert admin_client.get(url, {"open": "yes"}).context["cl"].result_list[0] == alert
    post_action(admin_client, "admin:orders_alert_changelist", "resolve", [alert.pk])
    alert.refresh_from_db()
    assert alert.resolved_by == "operator:admin" and alert.resolved_at is not None
    assert list(admin_client.get(url, {"open": "yes"}).context["cl"].result_list) == []


def test_notifications_and_demo_workspaces_are_listed(admin_client, koogallery, instances):
    koogallery.v2("orderNotify", {"orderId": "CSN1", "orderLineId": "CSN1-000001"})
    assert admin_client.get(reverse(NOTIFICATIONS)).status_code == 200
    response = admin_client.get(reverse("admin:orders_demoworkspace_changelist"))
    assert response.status_code == 200
    assert instances["active"].app_password not in response.content.decode()


def test_a_view_only_operator_gets_no_actions(client, instances):
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_instance"))
    client.force_login(user)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert "freeze_as_operator" not in response.content.decode()
    client.post(reverse(CHANGELIST), {"action": "freeze_as_operator", "_selected_action": [instances["active"].pk]})
    assert Instance.objects.get(pk=instances["active"].pk).status == "active"


def test_the_open_alert_filter_ignores_alerts_for_never_seen_instances(admin_client, koogallery):
    quiet = created_v2(koogallery, test=False)
    loud = created_v2(koogallery, test=False)
    Alert.objects.create(kind="unknown_instance", instance=None, instance_ref="never-seen", message="m")
    Alert.objects.create(kind="job_failed", instance=loud, instance_ref=loud.instance_id, message="a")
    Alert.objects.create(kind="released_instance", instance=loud, instance_ref=loud.instance_id, message="b")
    url = reverse("admin:orders_instance_changelist")
    none = admin_client.get(url, {"alert": "none"}).context["cl"].result_list
    opened = admin_client.get(url, {"alert": "open"}).context["cl"].result_list
    assert [i.pk for i in none] == [quiet.pk]
    assert [(i.pk, i.open_alert_count) for i in opened] == [(loud.pk, 2)]


@pytest.mark.parametrize("test_flag", [True, False])
@pytest.mark.parametrize("name", ["freeze_as_operator", "unfreeze_as_operator"])
def test_operators_cannot_freeze_or_unfreeze_a_released_instance_and_raise_no_alert(
    admin_client, koogallery, run_on_commit, name, test_flag
):
    instance = created_v2(koogallery, test=test_flag)
    koogallery.v2("releaseInstance", {"instanceId": instance.instance_id}, test=test_flag)
    response = action(admin_client, name, instance, run_on_commit)
    text = response.content.decode()
    label = {"freeze_as_operator": "frozen", "unfreeze_as_operator": "unfrozen"}[name]
    assert f"Not {label}: {instance.instance_id} (instance was released)." in text
    assert "instance(s) frozen" not in text and "instance(s) unfrozen" not in text
    instance.refresh_from_db()
    assert instance.status == "released"
    assert not Transition.objects.filter(instance=instance, event__in=("freeze", "unfreeze")).exists()
    assert not Alert.objects.exists()


def failed_notification(koogallery, fake_openapi, settings):
    settings.ORDERS_JOB_MAX_ATTEMPTS = 1
    order_id = new_order_id()
    fake_openapi.fail_next(QUERY_ORDER_PATH, times=1)
    koogallery.v2("orderNotify", {"orderId": order_id, "orderLineId": f"{order_id}-000001"}, test=False)
    job = Job.objects.get(kind="fetch_order")
    assert job.state == "failed" and OrderNotification.objects.get().query_order is None
    return job


def test_retrying_a_failed_order_fetch_from_the_job_list_fetches_it_again(
    admin_client, koogallery, fake_openapi, settings, run_on_commit
):
    job = failed_notification(koogallery, fake_openapi, settings)
    response = post_action(admin_client, JOBS, "retry_failed", [job.pk], run_on_commit)
    assert "1 job(s) queued again." in response.content.decode()
    job.refresh_from_db()
    assert job.state == "cancelled"
    again = Job.objects.exclude(pk=job.pk).get(kind="fetch_order")
    assert (again.state, again.actor, again.notification_id) == ("done", "operator:admin", job.notification_id)
    assert OrderNotification.objects.get().query_order is not None
    assert len(fake_openapi.calls(QUERY_ORDER_PATH)) == 2
    # Both done now: the job list names each selected job's instance or notification, by reason.
    ready = created_v2(koogallery, test=True)
    selected = [again.pk, Job.objects.get(instance=ready).pk]
    text = post_action(admin_client, JOBS, "retry_failed", selected, run_on_commit).content.decode()
    order_id = OrderNotification.objects.get().order_id
    assert (
        f"Nothing to retry — nothing failed: {ready.instance_id}; "
        f"the order is already fetched: orderNotify of {order_id}."
    ) in text


def test_a_long_list_of_what_was_not_retried_is_cut_short():
    from orders.admin import SAY_AT_MOST, _named

    names = [f"i-{n:02d}" for n in range(SAY_AT_MOST + 3)]
    assert _named(names) == ", ".join(names[:SAY_AT_MOST]) + " and 3 more"
    assert _named(names[:2]) == "i-00, i-01"


def test_fetching_an_order_again_from_the_notification_list(
    admin_client, koogallery, fake_openapi, settings, run_on_commit
):
    job = failed_notification(koogallery, fake_openapi, settings)
    response = post_action(admin_client, NOTIFICATIONS, "fetch_again", [job.notification_id], run_on_commit)
    assert "1 order fetch(es) queued again." in response.content.decode()
    assert OrderNotification.objects.get().query_order is not None
    # fetched now: a second click queues nothing
    response = post_action(admin_client, NOTIFICATIONS, "fetch_again", [job.notification_id], run_on_commit)
    order_id = OrderNotification.objects.get().order_id
    assert f"Nothing to retry — the order is already fetched: {order_id}." in response.content.decode()
    assert Job.objects.filter(kind="fetch_order").count() == 2


def test_an_instance_page_lists_its_own_calls_not_a_sibling_order_lines(admin_client, koogallery):
    """Two order lines of one order: each instance page shows the newInstance that created it
    (journaled under the instance id it answered) and not the other's calls."""
    order_id = new_order_id()
    first = created_v2(koogallery, order_id=order_id, line_id=f"{order_id}-000001")
    second = created_v2(koogallery, order_id=order_id, line_id=f"{order_id}-000002")
    from marketplace_isv.models import Delivery

    created = Delivery.objects.filter(activity="newInstance", order_id=order_id)
    assert {d.instance_id for d in created} == {first.instance_id, second.instance_id}
    koogallery.v2("releaseInstance", {"instanceId": second.instance_id, "orderId": order_id})
    page = admin_client.get(reverse("admin:orders_instance_change", args=[first.pk])).content.decode()
    mine = created.get(instance_id=first.instance_id)
    theirs = created.get(instance_id=second.instance_id)
    release = Delivery.objects.get(activity="releaseInstance", instance_id=second.instance_id)
    assert str(mine.pk) in page and str(theirs.pk) not in page and str(release.pk) not in page


def test_jobs_are_found_by_their_instances_purchase_order(admin_client, koogallery):
    instance = created_v2(koogallery)
    listing = admin_client.get(reverse(JOBS) + f"?q={instance.order_id}").content.decode()
    job = Job.objects.get(instance=instance)
    assert reverse("admin:orders_job_change", args=[job.pk]) in listing


def test_freezing_says_which_instances_were_already_frozen(admin_client, instances, run_on_commit):
    """A repeat is a success that changes nothing (§5.1): it is not counted as frozen, and the
    message names it without capitalising it (the admin capitalises a message's first letter)."""
    active, frozen = instances["active"], instances["frozen"]
    response = post_action(admin_client, CHANGELIST, "freeze_as_operator", [active.pk, frozen.pk], run_on_commit)
    text = response.content.decode()
    assert "1 instance(s) frozen." in text
    assert f"Already frozen, nothing done: {frozen.instance_id}." in text
    assert Transition.objects.filter(instance=frozen, event="freeze").count() == 1  # KooGallery's, not ours
    response = action(admin_client, "unfreeze_as_operator", active, run_on_commit)
    assert "1 instance(s) unfrozen." in response.content.decode()
    response = action(admin_client, "unfreeze_as_operator", active, run_on_commit)
    text = response.content.decode()
    assert f"Not frozen, nothing done: {active.instance_id}." in text and "unfrozen." not in text


def job_waiting_to_retry(koogallery, settings):
    """An instance whose provisioning failed once and waits out Celery's backoff."""
    from orders import execution

    settings.ISV_PROVISIONER = "tests.orders.provisioners.Down"
    koogallery.run_jobs = False
    instance = created_v2(koogallery, test=False)
    koogallery.run_jobs = True
    job = Job.objects.get(instance=instance)
    with pytest.raises(execution.RetryJob):
        execution.job_run(job.pk)
    settings.ISV_PROVISIONER = "demo"
    # Handed to a worker a while ago (a "run now" within seconds of a hand-over is refused).
    Job.objects.filter(pk=job.pk).update(enqueued_at=timezone.now() - timedelta(minutes=1))
    job.refresh_from_db()
    assert job.state == "retry"
    return instance, job


def test_a_double_click_on_run_now_spends_one_attempt(admin_client, koogallery, settings, undelivered_jobs):
    """The first click hands the job to a worker; a second one moments later is refused with the
    reason, so a double submit cannot spend two attempts."""
    instance, job = job_waiting_to_retry(koogallery, settings)
    first = post_action(admin_client, CHANGELIST, "retry_provisioning", [instance.pk]).content.decode()
    assert "1 job(s) waiting to retry run now." in first
    second = post_action(admin_client, CHANGELIST, "retry_provisioning", [instance.pk]).content.decode()
    assert (
        f"Nothing to retry — its retry is already on its way to a worker: wait a few seconds: {instance.instance_id}."
        in second
    )
    assert Transition.objects.filter(instance=instance, event="retry").count() == 1


def test_retrying_an_instance_whose_job_waits_to_retry_runs_it_now(admin_client, koogallery, settings, run_on_commit):
    instance, job = job_waiting_to_retry(koogallery, settings)
    job_admin = admin.site._registry[Job]
    assert job_admin.next_run(job) == job.next_run_at  # still to run: when
    response = action(admin_client, "retry_provisioning", instance, run_on_commit)
    assert "1 job(s) waiting to retry run now." in response.content.decode()
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("done", 2)  # the same job, not a new one
    assert Job.objects.filter(instance=instance).count() == 1
    assert job_admin.next_run(job) == "—"  # finished: no next run
    assert job_admin.short_error(job).startswith("(an earlier attempt) ProvisionerError: backend unreachable")
    instance.refresh_from_db()
    assert instance.provisioning_state == "ready"
    assert Transition.objects.filter(instance=instance, event="retry", actor="operator:admin").exists()
    response = action(admin_client, "retry_provisioning", instance, run_on_commit)
    assert f"Nothing to retry — nothing failed: {instance.instance_id}." in response.content.decode()


def test_retrying_waiting_work_from_the_job_list_runs_it_now(admin_client, koogallery, settings, run_on_commit):
    instance, job = job_waiting_to_retry(koogallery, settings)
    response = post_action(admin_client, JOBS, "retry_failed", [job.pk], run_on_commit)
    assert "1 job(s) waiting to retry run now." in response.content.decode()
    job.refresh_from_db()
    assert job.state == "done"


def test_a_job_failed_at_once_says_so_and_its_alert_closes_when_a_retry_succeeds(
    admin_client, koogallery, settings, run_on_commit
):
    settings.ISV_PROVISIONER = "tests.orders.provisioners.SoldOut"
    instance = created_v2(koogallery, test=False)
    job = Job.objects.get(instance=instance)
    assert job.get_state_display() == "failed (needs an operator)"
    assert admin.site._registry[Job].next_run(job) == "—"
    alert = Alert.objects.get(kind="job_failed", instance=instance)
    assert "failed after 1 attempt(s): no capacity left" in alert.message
    settings.ISV_PROVISIONER = "demo"
    action(admin_client, "retry_provisioning", instance, run_on_commit)
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert alert.resolved_by == f"system (job #{Job.objects.filter(instance=instance).last().pk} done)"


def test_a_retry_that_fails_again_keeps_the_alert_open(admin_client, koogallery, settings, run_on_commit):
    settings.ISV_PROVISIONER = "tests.orders.provisioners.SoldOut"
    instance = created_v2(koogallery, test=False)
    action(admin_client, "retry_provisioning", instance, run_on_commit)
    alert = Alert.objects.get(kind="job_failed", instance=instance)
    assert (alert.count, alert.resolved_at) == (2, None)


def notifications_listed(admin_client, fetch: str) -> set[str]:
    response = admin_client.get(reverse(NOTIFICATIONS), {"fetch": fetch})
    assert response.status_code == 200
    return {n.order_id for n in response.context["cl"].result_list}


def test_notifications_show_their_fetch_state_and_what_to_fix(
    admin_client, koogallery, fake_openapi, settings, run_on_commit
):
    fetched = new_order_id()
    koogallery.v2("orderNotify", {"orderId": fetched, "orderLineId": f"{fetched}-000001"}, test=False)
    refused = new_order_id()
    fake_openapi.fail_next(QUERY_ORDER_PATH, status=401, code="MKT.0154", times=1)
    koogallery.v2("orderNotify", {"orderId": refused, "orderLineId": f"{refused}-000001"}, test=False)
    assert notifications_listed(admin_client, "fetched") == {fetched}
    assert notifications_listed(admin_client, "failed") == {refused}
    notification = OrderNotification.objects.get(order_id=refused)
    assert "KOOGALLERY_OPENAPI_AK" in notification.query_order_error  # what to fix, not just the code
    page = admin_client.get(reverse(NOTIFICATIONS)).content.decode()
    assert '<td class="field-fetch">failed</td>' in page and '<td class="field-fetch">fetched</td>' in page
    assert "KOOGALLERY_OPENAPI_AK" in page  # the error column
    alert = Alert.objects.get(kind="job_failed", instance_ref=f"order {refused}")
    post_action(admin_client, NOTIFICATIONS, "fetch_again", [notification.pk], run_on_commit)
    assert notifications_listed(admin_client, "fetched") == {fetched, refused}
    alert.refresh_from_db()
    assert alert.resolved_at is not None and alert.resolved_by.startswith("system (job #")


def test_a_fetch_waiting_to_retry_is_run_now_from_the_notification_list(
    admin_client, koogallery, fake_openapi, run_on_commit
):
    from orders import execution

    order_id = new_order_id()
    koogallery.run_jobs = False
    koogallery.v2("orderNotify", {"orderId": order_id, "orderLineId": f"{order_id}-000001"}, test=False)
    koogallery.run_jobs = True
    job = Job.objects.get(kind="fetch_order")
    fake_openapi.fail_next(QUERY_ORDER_PATH, status=500, code="MKT.0999", times=1)
    with pytest.raises(execution.RetryJob):
        execution.job_run(job.pk)
    Job.objects.filter(pk=job.pk).update(enqueued_at=timezone.now() - timedelta(minutes=1))
    assert notifications_listed(admin_client, "fetching") == {order_id}
    response = post_action(admin_client, NOTIFICATIONS, "fetch_again", [job.notification_id], run_on_commit)
    assert "1 job(s) waiting to retry run now." in response.content.decode()
    job.refresh_from_db()
    assert job.state == "done" and Job.objects.filter(kind="fetch_order").count() == 1
    assert notifications_listed(admin_client, "fetched") == {order_id}


def test_jobs_are_found_by_any_order_of_their_instance(admin_client, koogallery, run_on_commit):
    instance = created_v2(koogallery)
    renewal = new_order_id()
    fields = {"instanceId": instance.instance_id, "scene": "RENEWAL", "orderId": renewal,
              "orderLineId": f"{renewal}-000001", "expireTime": "20301231000000"}  # fmt: skip
    assert koogallery.v2("refreshInstance", fields).assert_envelope()["resultCode"] == "000000"
    renew_job = Job.objects.get(instance=instance, kind="renew")
    listing = admin_client.get(reverse(JOBS), {"q": renewal})
    assert renew_job in listing.context["cl"].result_list
    detail = admin_client.get(reverse("admin:orders_job_change", args=[renew_job.pk])).content.decode()
    assert reverse("admin:marketplace_isv_delivery_change", args=[renew_job.delivery_id]) in detail


def test_a_customer_name_with_spaces_is_found_by_its_beginning(admin_client, instances):
    Instance.objects.filter(pk=instances["active"].pk).update(customer_name="V1 Buyer Ltd")
    for term in ("V1 Buyer", "V1 Buyer Ltd", "V1"):
        assert listed(admin_client.get(reverse(CHANGELIST), {"q": term})) == {instances["active"].instance_id}
    assert listed(admin_client.get(reverse(CHANGELIST), {"q": "Buyer Ltd"})) == set()


def test_fetching_a_mix_of_notifications_says_what_happened_to_each(
    admin_client, koogallery, fake_openapi, settings, run_on_commit
):
    failed_job = failed_notification(koogallery, fake_openapi, settings)
    fetched = new_order_id()
    koogallery.v2("orderNotify", {"orderId": fetched, "orderLineId": f"{fetched}-000001"}, test=False)
    unanswered = new_order_id()  # test traffic the open API could not answer
    fake_openapi.fail_next(QUERY_ORDER_PATH, status=404, code="MKT.0100", times=1)
    koogallery.v2("orderNotify", {"orderId": unanswered, "orderLineId": f"{unanswered}-000001"}, test=True)
    assert notifications_listed(admin_client, "not fetched") == {unanswered}
    selected = OrderNotification.objects.values_list("pk", flat=True)
    response = post_action(admin_client, NOTIFICATIONS, "fetch_again", selected, run_on_commit)
    text = response.content.decode()
    assert "2 order fetch(es) queued again." in text
    assert f"Nothing to retry — the order is already fetched: {fetched}." in text
    assert notifications_listed(admin_client, "fetched") == {failed_job.order_id, fetched, unanswered}


def test_a_failed_jobs_alert_stays_open_while_other_work_of_the_instance_succeeds(koogallery, settings):
    """Only a retry that leaves no failed job closes the alert: a freeze done while an unfreeze is
    queued behind it says nothing about the failed provisioning."""
    from orders import execution

    settings.ISV_PROVISIONER = "tests.orders.provisioners.SoldOut"
    instance = created_v2(koogallery, test=False)
    alert = Alert.objects.get(kind="job_failed", instance=instance)
    koogallery.run_jobs = False
    for status in ("FREEZE", "UNFREEZE"):
        koogallery.v2("updateInstanceStatus", {"instanceId": instance.instance_id, "status": status}, test=False)
    koogallery.run_jobs = True
    freeze = Job.objects.get(instance=instance, kind="freeze")
    assert execution.job_run(freeze.pk) == "done"
    alert.refresh_from_db()
    assert alert.resolved_at is None


def test_a_repeated_order_notify_supersedes_the_failed_fetch_and_closes_its_alert(koogallery, fake_openapi, settings):
    job = failed_notification(koogallery, fake_openapi, settings)
    alert = Alert.objects.get(kind="job_failed", instance_ref=f"order {job.order_id}")
    koogallery.v2("orderNotify", {"orderId": job.order_id, "orderLineId": job.order_line_id}, test=False)
    assert sorted(Job.objects.filter(kind="fetch_order").values_list("state", flat=True)) == ["cancelled", "done"]
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_a_search_across_orders_does_not_multiply_the_alerts_column(admin_client, instances, koogallery):
    failed = instances["failed"]
    for _ in range(2):
        renewal = new_order_id()
        fields = {"instanceId": failed.instance_id, "scene": "RENEWAL", "orderId": renewal,
                  "orderLineId": f"{renewal}-000001", "expireTime": "20301231000000"}  # fmt: skip
        koogallery.v2("refreshInstance", fields, test=False).assert_envelope()
    response = admin_client.get(reverse(CHANGELIST), {"q": failed.order_id})
    [row] = response.context["cl"].result_list
    assert row.open_alert_count == Alert.objects.filter(instance=failed, resolved_at__isnull=True).count() == 1
    assert listed(admin_client.get(reverse(CHANGELIST), {"q": "68cbc86a"})) == set()  # ids are exact


def test_a_customer_name_is_found_whatever_its_letter_case(admin_client, instances):
    Instance.objects.filter(pk=instances["active"].pk).update(customer_name="V1 Buyer Ltd")
    assert listed(admin_client.get(reverse(CHANGELIST), {"q": "v1 buyer"})) == {instances["active"].instance_id}
