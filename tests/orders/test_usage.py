"""Pay-per-use usage: reported windows are pushed to KooGallery's usage API (§7.2, §5.7)."""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from marketplace_isv.simulator.client import new_order_id
from orders import usage, usage_pusher
from orders.models import Alert, Instance, UsageRecord
from tests.orders.conftest import created_v2
from tests.support.processes import Process, free_port, service_env, wait_for

pytestmark = pytest.mark.django_db

State = UsageRecord.State
TOKEN = "usage-token-for-tests"


def payg(koogallery, fake_openapi, *, test=False, charging_mode="ON_DEMAND") -> Instance:
    """A pay-per-use instance bought through the simulator (its order says ON_DEMAND)."""
    order_id = new_order_id()
    period = "month" if charging_mode == "ON_DEMAND_PKG" else None
    fake_openapi.add_order(order_id, charging_mode=charging_mode, period_type=period, period_number=None)
    instance = created_v2(koogallery, test=test, order_id=order_id, line_id=f"{order_id}-000001")
    instance.refresh_from_db()
    assert instance.charging_mode == charging_mode
    return instance


def hour(n_back: int):
    """The window of the n-th whole hour before now (the instance began earlier: moved back a day)."""
    end = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=n_back)
    return end - timedelta(hours=1), end


@pytest.fixture
def metered(koogallery, fake_openapi):
    instance = payg(koogallery, fake_openapi)
    Instance.objects.filter(pk=instance.pk).update(created_at=timezone.now() - timedelta(days=10), effective_at=None)
    return instance


def record(instance, value="2.5", n_back=1, **kwargs) -> UsageRecord:
    begin, end = hour(n_back)
    return usage.usage_record(
        instance_id=instance.instance_id, begin=begin, end=end, value=Decimal(value), **kwargs
    ).record


def test_a_recorded_window_is_pushed_with_the_documented_fields(metered, fake_openapi):
    rec = record(metered, "2.5")
    report = usage_pusher.usage_push()
    assert (report.calls, report.accepted) == (1, 1)
    [sent] = fake_openapi.usage_records()
    begin, end = hour(1)
    assert sent == {
        "instance_id": metered.instance_id,
        "begin_time": begin.strftime("%Y%m%dT%H%M%SZ"),
        "end_time": end.strftime("%Y%m%dT%H%M%SZ"),
        "record_time": rec.recorded_at.strftime("%Y%m%dT%H%M%SZ"),
        "usage_value": "2.5",
        "metering_sn": rec.metering_sn,
    }
    rec.refresh_from_db()
    assert rec.state == State.ACCEPTED and rec.pushed_at is not None
    assert usage_pusher.usage_push().calls == 0  # nothing is pushed twice


def test_recorded_windows_add_up_in_the_running_total_query_instance_answers(metered, koogallery):
    record(metered, "2.5", n_back=2)
    record(metered, "1.25", n_back=1)
    data = koogallery.v2("queryInstance", {"instanceId": metered.instance_id}, test=False).assert_envelope()
    [entry] = data["info"][0]["usageInfo"]
    assert Decimal(str(entry["usageValue"])) == Decimal("3.75")
    assert entry["statisticalTime"] == hour(1)[1].strftime("%Y%m%d%H%M%S") + "000"


def test_reporting_the_same_window_again_records_and_pushes_it_once(metered, fake_openapi):
    first = record(metered, "2.5")
    again = usage.usage_record(instance_id=metered.instance_id, begin=hour(1)[0], end=hour(1)[1], value=Decimal("2.5"))
    assert again.created is False and again.record.pk == first.pk
    usage_pusher.usage_push()
    assert len(fake_openapi.usage_records()) == 1
    metered.refresh_from_db()
    assert metered.usage_value == Decimal("2.5")


def test_a_corrected_value_replaces_the_window_until_it_is_pushed(metered):
    record(metered, "2.5")
    record(metered, "4")
    metered.refresh_from_db()
    assert metered.usage_value == Decimal("4") and UsageRecord.objects.count() == 1
    usage_pusher.usage_push()
    with pytest.raises(usage.UsageRefused, match="already sent"):
        record(metered, "5")


@pytest.mark.parametrize(
    "change,message",
    [
        (dict(value="0"), "greater than 0"),
        (dict(value="1.00001"), "4 decimals"),
        (dict(begin=timedelta(days=-22)), "21 days"),
        (dict(end=timedelta(hours=3)), "future"),
        (dict(begin=timedelta(days=-11)), "begins before the instance"),
        (dict(end=timedelta(hours=-1)), "after begin_time"),
        (dict(package="nope"), "package"),
        (dict(sn="has space"), "metering_sn"),
    ],
)
def test_windows_koogallery_would_refuse_are_refused_when_reported(metered, change, message):
    begin, end = hour(1)
    begin += change.get("begin", timedelta(0))
    end += change.get("end", timedelta(0))
    with pytest.raises(usage.UsageRefused, match=message):
        usage.usage_record(
            instance_id=metered.instance_id,
            begin=begin,
            end=end,
            value=Decimal(change.get("value", "1")),
            package_instance_id=change.get("package", ""),
            metering_sn=change.get("sn", ""),
        )
    assert not UsageRecord.objects.exists()
    metered.refresh_from_db()
    assert metered.usage_value is None


def test_usage_of_an_unknown_or_periodic_instance_is_refused(koogallery):
    periodic = created_v2(koogallery)
    with pytest.raises(usage.UsageRefused, match="not a pay-per-use instance"):
        record(periodic)
    with pytest.raises(usage.UsageRefused, match="no instance"):
        usage.usage_record(instance_id="nope", begin=hour(1)[0], end=hour(1)[1], value=Decimal(1))


def test_usage_of_test_traffic_is_kept_and_never_pushed(koogallery, fake_openapi):
    instance = payg(koogallery, fake_openapi, test=True)
    Instance.objects.filter(pk=instance.pk).update(created_at=timezone.now() - timedelta(days=1), effective_at=None)
    rec = record(instance)
    assert rec.state == State.TEST
    assert usage_pusher.usage_push().calls == 0
    assert fake_openapi.usage_records() == []


def test_a_failed_call_is_retried_with_backoff_then_left_to_operators(metered, fake_openapi, settings):
    settings.ORDERS_USAGE_MAX_ATTEMPTS = 2
    rec = record(metered)
    fake_openapi.fail_next("/api/mkp-openapi-public/global/v1/isv/usage-data", status=500, times=5)
    report = usage_pusher.usage_push()
    rec.refresh_from_db()
    assert (report.retrying, rec.state, rec.attempts) == (1, State.PENDING, 1)
    assert rec.next_push_at > timezone.now() + timedelta(seconds=50)
    assert usage_pusher.usage_push().calls == 0  # not due yet
    UsageRecord.objects.update(next_push_at=timezone.now())
    usage_pusher.usage_push()
    rec.refresh_from_db()
    assert (rec.state, rec.attempts) == (State.FAILED, 2)
    assert "MKT.0999" in rec.last_error
    assert Alert.objects.filter(kind=Alert.Kind.USAGE_REFUSED, instance=metered).exists()


@pytest.mark.parametrize("detail", [True, False], ids=["records named", "batch refused as a whole"])
def test_a_record_koogallery_refuses_does_not_hold_back_the_others(koogallery, fake_openapi, metered, detail):
    other = payg(koogallery, fake_openapi)
    Instance.objects.filter(pk=other.pk).update(created_at=timezone.now() - timedelta(days=2), effective_at=None)
    fake_openapi.usage_detail = detail
    fake_openapi.usage_refusals[other.instance_id] = "013"
    good = [record(metered, n_back=n) for n in (1, 2, 3)]
    bad = record(other)
    report = usage_pusher.usage_push()
    assert report.accepted == 3 and report.rejected == 1
    assert {r.state for r in UsageRecord.objects.filter(pk__in=[g.pk for g in good])} == {State.ACCEPTED}
    bad.refresh_from_db()
    assert (bad.state, bad.record_code) == (State.REJECTED, "013" if detail else "MKT.9002")
    assert set(fake_openapi.usage_taken) == {g.metering_sn for g in good}
    alert = Alert.objects.get(kind=Alert.Kind.USAGE_REFUSED)
    assert alert.instance_ref == other.instance_id


def answer_lost_once(fake_openapi, monkeypatch):
    """KooGallery takes the next push but its answer is lost (a 500 instead of MKT.0000)."""
    lost = []

    def route(call):
        status, answer, headers = fake_openapi._usage(call)
        if not lost:
            lost.append(answer)
            return 500, {"error_code": "MKT.0999", "error_msg": "answer lost"}, {}
        return status, answer, headers

    monkeypatch.setitem(fake_openapi.routes, usage_pusher.openapi.USAGE_PATH, route)  # for this test only


def test_a_retry_of_a_record_koogallery_already_took_counts_as_accepted(metered, fake_openapi, monkeypatch):
    rec = record(metered)
    answer_lost_once(fake_openapi, monkeypatch)
    first = usage_pusher.usage_push()
    rec.refresh_from_db()
    assert (first.retrying, rec.state) == (1, State.PENDING) and rec.metering_sn in fake_openapi.usage_taken
    UsageRecord.objects.filter(pk=rec.pk).update(next_push_at=timezone.now())
    report = usage_pusher.usage_push()
    rec.refresh_from_db()
    assert (report.accepted, rec.state, rec.record_code) == (1, State.ACCEPTED, "005")
    assert not Alert.objects.filter(kind=Alert.Kind.USAGE_REFUSED).exists()


@pytest.mark.parametrize("code", ["005", "010"])
def test_a_duplicate_on_a_records_first_push_is_rejected_not_taken_as_accepted(metered, fake_openapi, code):
    """§7.2: 005/010 mean "already accepted" on a retry only; on a first push the metering_sn is
    another record's, and taking it as accepted would leave the usage unbilled without a word."""
    rec = record(metered)
    fake_openapi.usage_taken[rec.metering_sn] = {}  # KooGallery holds another record with this sn
    if code == "010":
        fake_openapi.usage_refusals[metered.instance_id] = "010"
    report = usage_pusher.usage_push()
    rec.refresh_from_db()
    assert (report.accepted, report.rejected, rec.state, rec.record_code) == (0, 1, State.REJECTED, code)
    assert "first push" in rec.last_error
    alert = Alert.objects.get(kind=Alert.Kind.USAGE_REFUSED, instance=metered)
    assert rec.metering_sn in alert.message
    # An operator pushing it again gets the same refusal: it was never this record's to begin with.
    assert usage.usage_retry(record_ids=[rec.pk], actor="operator:ops") == 1
    usage_pusher.usage_push()
    rec.refresh_from_db()
    assert (rec.state, rec.record_code) == (State.REJECTED, code)


def test_many_records_go_in_calls_of_at_most_100(metered, fake_openapi):
    for n in range(1, 151):
        record(metered, "1", n_back=n)
    report = usage_pusher.usage_push()
    sizes = [len(call.json["usage_records"]) for call in fake_openapi.calls(usage_pusher.openapi.USAGE_PATH)]
    assert (report.accepted, sorted(sizes)) == (150, [50, 100])


def test_a_push_cut_off_midway_is_taken_up_again_when_its_lease_expires(metered, fake_openapi):
    rec = record(metered)
    assert usage_pusher._claim(timezone.now()) == [rec.pk]  # a pusher claimed it, then died
    assert usage_pusher.usage_push().calls == 0
    UsageRecord.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
    assert usage_pusher.usage_push().accepted == 1
    rec.refresh_from_db()
    assert (rec.state, rec.attempts) == (State.ACCEPTED, 2)


def test_operators_push_rejected_records_again_from_the_console(admin_client, metered, fake_openapi, run_on_commit):
    fake_openapi.usage_refusals[metered.instance_id] = "013"
    rec = record(metered)
    usage_pusher.usage_push()
    rec.refresh_from_db()
    assert (rec.state, rec.record_code) == (State.REJECTED, "013")
    assert "abnormal instance state" in rec.last_error
    alert = Alert.objects.get(kind=Alert.Kind.USAGE_REFUSED, instance=metered, resolved_at__isnull=True)
    changelist = reverse("admin:orders_usagerecord_changelist")
    listing = admin_client.get(changelist + "?state__exact=rejected").content.decode()
    assert rec.metering_sn in listing
    assert "013 abnormal instance state" in listing  # the code filter says what each code means
    by_code = admin_client.get(changelist, {"code": "013"}).context["cl"].result_list
    assert (
        list(by_code) == [rec] and list(admin_client.get(changelist, {"code": "none"}).context["cl"].result_list) == []
    )
    assert usage.window_text(rec.begin_at, rec.end_at) in listing  # seconds and UTC, not a rounded local time
    detail = admin_client.get(reverse("admin:orders_usagerecord_change", args=[rec.pk])).content.decode()
    assert "abnormal instance state" in detail
    instance_page = admin_client.get(reverse("admin:orders_instance_change", args=[metered.pk])).content.decode()
    assert "1 rejected" in instance_page and f"?q={metered.instance_id}" in instance_page
    fake_openapi.usage_refusals.clear()  # the seller sorted it out with KooGallery
    with run_on_commit():
        accepted = record(metered, n_back=2)  # another window, accepted: not pushed again
    accepted.refresh_from_db()
    assert accepted.state == State.ACCEPTED
    with run_on_commit():
        response = admin_client.post(
            changelist, {"action": "push_again", "_selected_action": [rec.pk, accepted.pk]}, follow=True
        )
    text = response.content.decode()
    assert "1 record(s) queued to be pushed again." in text
    assert "1 record(s) skipped: only rejected or failed records are pushed again." in text
    rec.refresh_from_db()
    assert (rec.state, rec.record_code) == (State.ACCEPTED, "")
    accepted.refresh_from_db()
    assert accepted.state == State.ACCEPTED
    # Nothing more to push: no next push time is shown for an accepted record.
    assert admin.site._registry[UsageRecord].next_push(rec) == "—"
    alert.refresh_from_db()
    assert alert.resolved_at is not None and alert.resolved_by == "system"
    assert LogEntry.objects.filter(object_id=str(rec.pk), change_message="pushed again").exists()


def test_the_push_runs_after_a_report_commits(metered, fake_openapi, run_on_commit):
    with run_on_commit():
        record(metered)
    assert len(fake_openapi.usage_records()) == 1


# --- the reporting API ---------------------------------------------------------------------------


def api_record(instance_id: str, n_back: int = 1, **fields) -> dict:
    """One record of a /api/usage/ body: the n-th whole hour back, in the push's time format."""
    begin, end = hour(n_back)
    return {
        "instance_id": instance_id,
        "begin_time": begin.strftime("%Y%m%dT%H%M%SZ"),
        "end_time": end.strftime("%Y%m%dT%H%M%SZ"),
        **fields,
    }


def post(client, body, token=TOKEN):
    return client.post("/api/usage/", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_the_api_is_off_until_its_token_is_set(client, settings):
    settings.ORDERS_USAGE_API_TOKEN = ""
    assert post(client, {"usage_records": []}).status_code == 404


def test_the_api_refuses_a_wrong_token_and_bad_bodies(client, settings):
    settings.ORDERS_USAGE_API_TOKEN = TOKEN
    assert post(client, {"usage_records": []}, token="wrong").status_code == 401
    assert post(client, "not json").status_code == 400
    assert post(client, {"usage_records": []}).status_code == 400
    assert post(client, {"usage_records": [{}] * 1001}).status_code == 400
    assert client.get("/api/usage/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


def test_the_api_records_each_record_on_its_own(client, settings, metered):
    settings.ORDERS_USAGE_API_TOKEN = TOKEN
    good = api_record(metered.instance_id, usage_value="12.5", metering_sn="sn-api-1")
    bad = {**good, "instance_id": "nope", "metering_sn": "sn-api-2"}
    answer = post(client, {"usage_records": [good, bad]}).json()
    assert (answer["recorded"], answer["refused"]) == (1, 1)
    assert answer["results"][0] == {"index": 0, "metering_sn": "sn-api-1", "state": "pending", "created": True}
    assert "no instance" in answer["results"][1]["error"]
    again = post(client, {"usage_records": [good]}).json()
    assert again["results"][0]["created"] is False
    assert UsageRecord.objects.get().value == Decimal("12.5")


# --- the command ---------------------------------------------------------------------------------


def test_the_command_records_a_window(metered):
    begin, end = hour(1)
    out = StringIO()
    call_command(
        "orders_usage_report",
        metered.instance_id,
        "3",
        "--begin",
        begin.strftime("%Y%m%dT%H%M%SZ"),
        "--end",
        end.strftime("%Y%m%d%H%M%S"),
        "--sn",
        "sn-cmd",
        stdout=out,
    )
    assert "sn-cmd: recorded, 3 (pending)" in out.getvalue()
    with pytest.raises(CommandError, match="must be"):
        call_command("orders_usage_report", metered.instance_id, "3", "--begin", "x", "--end", "y", stdout=out)


def report_by_command(instance: Instance, value: str = "3") -> str:
    begin, end = hour(1)
    out = StringIO()
    call_command(
        "orders_usage_report",
        instance.instance_id,
        value,
        "--begin",
        begin.strftime("%Y%m%dT%H%M%SZ"),
        "--end",
        end.strftime("%Y%m%dT%H%M%SZ"),
        stdout=out,
    )
    return out.getvalue()


def test_without_a_broker_the_command_leaves_the_push_to_the_service(metered, fake_openapi, run_on_commit, settings):
    settings.ISV_JOB_DISPATCH = "inline"  # what a push asked for here would run right here
    with run_on_commit():
        assert "recorded" in report_by_command(metered)
    assert fake_openapi.usage_records() == []
    assert UsageRecord.objects.get().state == State.PENDING  # the service's periodic push sends it


# --- the real worker -----------------------------------------------------------------------------


def payg_row() -> Instance:
    """A pay-per-use instance written directly (for tests outside the simulator's transaction)."""
    instance = Instance.objects.create(
        instance_id=f"payg-{new_order_id()}",
        generation=2,
        order_id=new_order_id(),
        order_line_id="line-1",
        charging_mode="ON_DEMAND",
    )
    Instance.objects.filter(pk=instance.pk).update(created_at=timezone.now() - timedelta(days=1))
    return instance


def test_the_real_worker_pushes_what_the_api_recorded(broker_jobs, client, settings, fake_openapi):
    settings.ORDERS_USAGE_API_TOKEN = TOKEN
    instance = payg_row()
    body = api_record(instance.instance_id, usage_value="7")
    assert post(client, {"usage_records": [body]}).json()["recorded"] == 1
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and UsageRecord.objects.get().state != State.ACCEPTED:
        time.sleep(0.2)
    assert UsageRecord.objects.get().state == State.ACCEPTED
    assert [r["usage_value"] for r in fake_openapi.usage_records()] == ["7"]


def test_with_a_broker_the_command_has_the_worker_push_at_once(broker_jobs, fake_openapi):
    instance = payg_row()
    assert "recorded" in report_by_command(instance, "4")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and UsageRecord.objects.get().state != State.ACCEPTED:
        time.sleep(0.2)
    assert UsageRecord.objects.get().state == State.ACCEPTED
    assert [r["usage_value"] for r in fake_openapi.usage_records()] == ["4"]


# --- concurrency ---------------------------------------------------------------------------------


def test_the_same_window_reported_at_once_is_recorded_and_counted_once(transactional_db):
    instance = payg_row()
    begin, end = hour(1)
    start = threading.Barrier(8)

    def report(_):
        start.wait()
        try:
            return usage.usage_record(
                instance_id=instance.instance_id, begin=begin, end=end, value=Decimal("1.5"), push=False
            )
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        reported = list(pool.map(report, range(8)))
    assert sum(r.created for r in reported) == 1
    assert {r.record.metering_sn for r in reported} == {UsageRecord.objects.get().metering_sn}
    instance.refresh_from_db()
    assert instance.usage_value == Decimal("1.5")


def test_one_metering_sn_claimed_for_two_windows_at_once_is_refused_once(transactional_db):
    first, second = payg_row(), payg_row()
    begin, end = hour(1)
    start = threading.Barrier(2)

    def report(instance):
        start.wait()
        try:
            return usage.usage_record(
                instance_id=instance.instance_id, begin=begin, end=end, value=Decimal("1"), metering_sn="sn-race"
            )
        except usage.UsageRefused as exc:
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(report, (first, second)))
    refused = [o for o in outcomes if isinstance(o, usage.UsageRefused)]
    assert len(refused) == 1 and "already names another window" in str(refused[0])
    [kept] = UsageRecord.objects.all()
    totals = {i.instance_id: i.usage_value for i in Instance.objects.filter(pk__in=[first.pk, second.pk])}
    assert totals[kept.instance.instance_id] == Decimal("1")
    assert sorted(totals.values(), key=lambda v: v or 0) == [None, Decimal("1")]  # the refused one added nothing


# --- operators see what the API refused ----------------------------------------------------------


def test_refused_reports_raise_an_alert_operators_see(client, admin_client, settings, metered):
    settings.ORDERS_USAGE_API_TOKEN = TOKEN
    good = api_record(metered.instance_id, usage_value="1")
    zero = api_record(metered.instance_id, n_back=2, usage_value="0")
    unknown = api_record("no-such-instance", usage_value="1")
    post(client, {"usage_records": [good, zero, unknown, "not a record"]})
    alerts = {a.instance_ref: a for a in Alert.objects.filter(kind=Alert.Kind.USAGE_REPORT_REFUSED)}
    assert set(alerts) == {metered.instance_id, "no-such-instance", ""}
    assert alerts[metered.instance_id].instance == metered
    assert "record 1" in alerts[metered.instance_id].message
    assert "greater than 0" in alerts[metered.instance_id].message
    assert "no instance" in alerts["no-such-instance"].message and alerts["no-such-instance"].instance is None
    post(client, {"usage_records": [zero]})  # the ISV's system sends it again: counted, not repeated
    assert Alert.objects.get(kind=Alert.Kind.USAGE_REPORT_REFUSED, instance=metered).count == 2
    page = admin_client.get(reverse("admin:orders_alert_changelist")).content.decode()
    assert "usage report refused here" in page and "no-such-instance" in page


def test_an_accepted_report_raises_no_alert(client, settings, metered):
    settings.ORDERS_USAGE_API_TOKEN = TOKEN
    assert post(client, {"usage_records": [api_record(metered.instance_id, usage_value="1")]}).json()["refused"] == 0
    assert not Alert.objects.filter(kind=Alert.Kind.USAGE_REPORT_REFUSED).exists()


def test_one_call_raises_a_bounded_number_of_alerts(client, settings):
    settings.ORDERS_USAGE_API_TOKEN = TOKEN
    records = [api_record(f"unknown-{n:03d}", usage_value="1") for n in range(60)]
    assert post(client, {"usage_records": records}).json()["refused"] == 60
    alerts = Alert.objects.filter(kind=Alert.Kind.USAGE_REPORT_REFUSED)
    assert alerts.count() == 50
    lumped = alerts.get(instance_ref="")
    assert "refused 11 window(s)" in lumped.message and "of unknown-049" in lumped.message


# --- the fake open API, as a developer runs it ---------------------------------------------------


def test_the_fake_open_api_command_refuses_and_prints_usage(metered, settings):
    port = free_port()
    fake = Process(
        [sys.executable, "manage.py", "koogallery_fake_openapi", "--port", str(port),
         "--refuse-usage", f"{metered.instance_id}=006"],
        service_env(),
        ready_text="fake KooGallery open API on",
    ).start()  # fmt: skip
    try:
        settings.KOOGALLERY_OPENAPI_URL = f"http://127.0.0.1:{port}"
        rec = record(metered, "2.5")
        assert usage_pusher.usage_push().rejected == 1
        rec.refresh_from_db()
        assert (rec.state, rec.record_code) == (State.REJECTED, "006")
        wait_for(lambda: f"usage {rec.metering_sn} instance={metered.instance_id}" in fake.output(), timeout=10)
        assert f"POST {usage_pusher.openapi.USAGE_PATH}" in fake.output()
        assert "value=2.5" in fake.output()
    finally:
        fake.stop()


def test_a_window_after_the_release_is_refused(metered):
    Instance.objects.filter(pk=metered.pk).update(released_at=hour(3)[1])
    with pytest.raises(usage.UsageRefused, match="after the instance was released"):
        record(metered, n_back=1)
    assert record(metered, n_back=3).state == State.PENDING


def test_package_usage_names_the_package_and_adds_to_both_totals(koogallery, fake_openapi, metered):
    package = payg(koogallery, fake_openapi, charging_mode="ON_DEMAND_PKG")
    Instance.objects.filter(pk=package.pk).update(related_instance_id="someone-else")
    with pytest.raises(usage.UsageRefused, match="belongs to"):
        record(metered, "2", package_instance_id=package.instance_id)
    Instance.objects.filter(pk=package.pk).update(related_instance_id=metered.instance_id)
    record(metered, "2", package_instance_id=package.instance_id)
    usage_pusher.usage_push()
    [sent] = fake_openapi.usage_records()
    assert sent["relate_pkg_instance"] == package.instance_id
    metered.refresh_from_db()
    package.refresh_from_db()
    assert metered.usage_value == package.usage_value == Decimal("2")


def test_a_refusal_that_is_not_about_the_records_is_retried(metered, fake_openapi):
    records = [record(metered, n_back=n) for n in (1, 2)]
    fake_openapi.fail_next(usage_pusher.openapi.USAGE_PATH, status=404, code="APIGW.0101")
    report = usage_pusher.usage_push()
    assert (report.retrying, report.rejected) == (2, 0)
    assert {(r.state, r.alone) for r in UsageRecord.objects.filter(pk__in=[r.pk for r in records])} == {
        (State.PENDING, False)
    }


def test_the_value_of_a_record_once_sent_is_fixed_even_after_an_operator_retry(metered, fake_openapi, settings):
    settings.ORDERS_USAGE_MAX_ATTEMPTS = 1
    rec = record(metered, "2")
    fake_openapi.fail_next(usage_pusher.openapi.USAGE_PATH, status=500)  # it may have reached KooGallery
    usage_pusher.usage_push()
    rec.refresh_from_db()
    assert rec.state == State.FAILED
    usage.usage_retry(record_ids=[rec.pk], actor="operator:alice")
    with pytest.raises(usage.UsageRefused, match="already sent"):
        record(metered, "3")


def test_a_pusher_whose_lease_ran_out_does_not_overwrite_the_newer_outcome(metered):
    rec = record(metered)
    usage_pusher._claim(timezone.now())
    stale = UsageRecord.objects.get(pk=rec.pk)  # what the first pusher holds
    UsageRecord.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
    assert usage_pusher.usage_push().accepted == 1  # a second pusher takes it over
    usage_pusher._reject(stale, "013", "late answer", usage_pusher.PushReport())
    rec.refresh_from_db()
    assert rec.state == State.ACCEPTED


def test_a_record_whose_last_push_was_cut_off_is_failed_for_operators(metered, settings):
    settings.ORDERS_USAGE_MAX_ATTEMPTS = 1
    rec = record(metered)
    usage_pusher._claim(timezone.now())
    UsageRecord.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
    assert usage_pusher.usage_push().calls == 0
    rec.refresh_from_db()
    assert rec.state == State.FAILED
    assert Alert.objects.filter(kind=Alert.Kind.USAGE_REFUSED, instance=metered).exists()


def test_the_api_answers_an_absurd_value_without_failing(client, settings, metered):
    settings.ORDERS_USAGE_API_TOKEN = TOKEN
    body = api_record(metered.instance_id)
    for value in ("1e30", "1e400000", "NaN", True, [1], "2025111T080000Z"):
        answer = post(client, {"usage_records": [{**body, "usage_value": value}]})
        assert answer.status_code == 200
        assert answer.json()["refused"] == 1, value
    bad_time = {**body, "usage_value": "1", "begin_time": "2025111T080000Z"}
    assert "begin_time must be" in post(client, {"usage_records": [bad_time]}).json()["results"][0]["error"]


def test_the_records_of_one_api_call_are_pushed_together(client, settings, metered, fake_openapi, run_on_commit):
    settings.ORDERS_USAGE_API_TOKEN = TOKEN
    records = [api_record(metered.instance_id, n, usage_value="1") for n in (1, 2, 3)]
    with run_on_commit():
        assert post(client, {"usage_records": records}).json()["recorded"] == 3
    calls = fake_openapi.calls(usage_pusher.openapi.USAGE_PATH)
    assert [len(call.json["usage_records"]) for call in calls] == [3]


def test_the_api_refuses_what_cannot_be_stored_record_by_record(client, settings, metered):
    settings.ORDERS_USAGE_API_TOKEN = TOKEN
    good = api_record(metered.instance_id, usage_value="1")
    nul = api_record(metered.instance_id + "\x00", n_back=2, usage_value="1")
    nul_time = {**api_record(metered.instance_id, n_back=3, usage_value="1"), "begin_time": "2025\x00"}
    no_such_day = {**api_record(metered.instance_id, n_back=4, usage_value="1"), "begin_time": "20250230T000000Z"}
    answer = post(client, {"usage_records": [good, nul, nul_time, no_such_day]})
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert "created" in results[0]
    assert [r.get("error") for r in results[1:]] == [
        "NUL characters are not accepted",
        "NUL characters are not accepted",
        "begin_time is not a real UTC time",
    ]
    assert UsageRecord.objects.count() == 1
    alert = Alert.objects.get(kind=Alert.Kind.USAGE_REPORT_REFUSED, instance_ref=metered.instance_id + "\\x00")
    assert "\x00" not in alert.message


@pytest.mark.parametrize("body", ["[" * 5000 + "]" * 5000, '{"usage_records":[{"instance_id":"\\ud800"}]}'])
def test_the_api_answers_a_body_that_is_not_strict_json_with_400(client, settings, body):
    settings.ORDERS_USAGE_API_TOKEN = TOKEN
    response = post(client, body)
    assert (response.status_code, response.json()) == (400, {"detail": "the body is not UTF-8 JSON"})


def test_a_time_with_non_ascii_digits_is_refused_as_a_bad_time(client, settings, metered):
    settings.ORDERS_USAGE_API_TOKEN = TOKEN
    record = {**api_record(metered.instance_id, usage_value="1"), "begin_time": "20250101000000²²²"}
    [result] = post(client, {"usage_records": [record]}).json()["results"]
    assert result["error"] == "begin_time must be yyyyMMdd'T'HHmmss'Z' (UTC)"


@pytest.mark.parametrize("value", ["١٢", "１２", "1_0", "1e2"])
def test_a_usage_value_is_ascii_digits(value):
    with pytest.raises(usage.UsageRefused, match="must be a number"):
        usage.parse_value(value)


def test_the_first_package_usage_ties_the_package_to_its_pay_per_use_instance(koogallery, fake_openapi, metered):
    """§4.1.2, §5.7: queryInstance of the package names the instance consuming it; another
    pay-per-use instance cannot draw on it afterwards."""
    package = payg(koogallery, fake_openapi, charging_mode="ON_DEMAND_PKG")
    other = payg(koogallery, fake_openapi)
    Instance.objects.filter(pk=other.pk).update(created_at=timezone.now() - timedelta(days=10), effective_at=None)
    record(metered, "2", package_instance_id=package.instance_id)
    package.refresh_from_db()
    assert package.related_instance_id == metered.instance_id
    data = koogallery.v2("queryInstance", {"instanceId": package.instance_id}).assert_envelope()
    [entry] = data["info"]
    assert entry["usageInfo"][0]["relatedInstanceId"] == metered.instance_id
    with pytest.raises(usage.UsageRefused, match="belongs to"):
        record(other, "1", package_instance_id=package.instance_id)
