"""getLicenseAsync (§4.4.1) against instances created by getLicense, with jobs run in-process on
commit: 000003 for unknown instances, always 000004 and an upload afterwards (U28), idempotency
per (eventId, deviceFingerprint), the 0009xx codes, upload retries and the failed state."""

import hashlib
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from licenses import tasks
from licenses.models import License, LicenseUpload
from marketplace_isv.fields import key_fit
from marketplace_isv.simulator.fake_openapi import UPLOAD_PREFIX
from tests.licenses.conftest import in_days, issued, stamp

pytestmark = pytest.mark.django_db

FINGERPRINT = "00-1A-2B-3C-4D-5E|WD-WCC4N1234567|BOARD-42|BFEBFBFF000906EA"


@pytest.fixture
def jobs(django_capture_on_commit_callbacks):
    """Run the jobs a call enqueues on commit (ISV_JOB_DISPATCH=inline), as after a real commit."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def request_licence(koogallery, instance_id, *, event_id=None, fingerprint=FINGERPRINT, test=True, **fields):
    payload = {
        "instanceId": instance_id,
        "eventId": event_id or f"evt-{uuid.uuid4().hex}",
        "effectiveTime": stamp(in_days(0)),
        "expireTime": stamp(in_days(300)),
        **fields,
    }
    if fingerprint is not None:
        payload["deviceFingerprint"] = fingerprint
    return koogallery.v2("getLicenseAsync", {k: v for k, v in payload.items() if v is not None}, test=test)


def online(event_id: str) -> list[License]:
    return list(License.objects.filter(kind="online", event_id=event_id).order_by("pk"))


def test_an_unknown_instance_answers_000003_and_records_nothing(koogallery, fake_openapi, jobs):
    with jobs():
        reply = request_licence(koogallery, "never-seen-instance")
    assert reply.assert_envelope()["resultCode"] == "000003"
    assert not License.objects.filter(kind="online").exists()
    assert fake_openapi.uploads() == []


def test_answers_000004_then_uploads_a_device_bound_licence(koogallery, fake_openapi, jobs, shipped_verifier):
    instance_id, _ = issued(koogallery)
    with jobs():
        reply = request_licence(koogallery, instance_id, event_id="evt-first")
    assert reply.assert_envelope()["resultCode"] == "000004"  # U28
    [upload] = fake_openapi.uploads()
    assert (upload["event_id"], upload["type"]) == ("evt-first", "CHARACTERS")
    assert upload["sha256"] == hashlib.sha256(upload["characters"].encode()).hexdigest()
    claims = shipped_verifier.require(upload["characters"], fingerprint=FINGERPRINT)
    assert (claims["iid"], claims["kind"], claims["sku"], claims["qty"]) == (instance_id, "online", "sku-pro", 5)
    assert shipped_verifier.verify(upload["characters"], fingerprint="another|device").reason == "wrong_device"
    [row] = online("evt-first")
    assert (row.device_fingerprint, row.token) == (FINGERPRINT, upload["characters"])
    assert row.uploads.get().status == "done"


def test_the_same_event_and_fingerprint_get_the_same_licence_uploaded_again(koogallery, fake_openapi, jobs):
    instance_id, _ = issued(koogallery)
    with jobs():
        first = request_licence(koogallery, instance_id, event_id="evt-again")
    with jobs():
        again = request_licence(koogallery, instance_id, event_id="evt-again")
    assert first.code == again.code == "000004"
    assert len(online("evt-again")) == 1
    uploads = fake_openapi.uploads()
    assert len(uploads) == 2 and uploads[0]["characters"] == uploads[1]["characters"]


def test_the_same_event_with_another_fingerprint_is_another_licence(koogallery, fake_openapi, jobs):
    instance_id, _ = issued(koogallery)
    with jobs():
        request_licence(koogallery, instance_id, event_id="evt-two", fingerprint="device-a")
        request_licence(koogallery, instance_id, event_id="evt-two", fingerprint="device-b")
        request_licence(koogallery, instance_id, event_id="evt-two", fingerprint=None)
    assert [row.device_fingerprint for row in online("evt-two")] == ["device-a", "device-b", ""]
    assert len({u["characters"] for u in fake_openapi.uploads()}) == 3


def test_an_unbound_licence_verifies_on_any_device(koogallery, fake_openapi, jobs, shipped_verifier):
    instance_id, _ = issued(koogallery)
    with jobs():
        request_licence(koogallery, instance_id, fingerprint=None)
    [upload] = fake_openapi.uploads()
    assert "dev" not in shipped_verifier.require(upload["characters"], fingerprint="whatever")


@pytest.mark.parametrize("missing", ["instanceId", "eventId", "effectiveTime"])
def test_mandatory_fields_are_checked(koogallery, missing):
    instance_id, _ = issued(koogallery)
    reply = request_licence(koogallery, instance_id, **{missing: None})
    assert reply.assert_envelope()["resultCode"] == "000002"


def test_an_expiry_before_the_effective_time_answers_000002(koogallery):
    instance_id, _ = issued(koogallery)
    reply = request_licence(koogallery, instance_id, effectiveTime=stamp(in_days(10)), expireTime=stamp(in_days(5)))
    assert reply.assert_envelope()["resultCode"] == "000002"


def test_a_periodic_product_without_expire_time_answers_000902(koogallery):
    instance_id, _ = issued(koogallery)  # periodType=year: a periodic purchase
    reply = request_licence(koogallery, instance_id, expireTime=None)
    assert reply.assert_envelope()["resultCode"] == "000902"
    assert not License.objects.filter(kind="online").exists()


def test_a_one_time_product_needs_no_expire_time(koogallery, fake_openapi, jobs, shipped_verifier):
    instance_id, _ = issued(koogallery, periodType=None, periodNumber=None, expireTime=None)
    with jobs():
        reply = request_licence(koogallery, instance_id, expireTime=None)
    assert reply.assert_envelope()["resultCode"] == "000004"
    assert "exp" not in shipped_verifier.require(fake_openapi.uploads()[0]["characters"], fingerprint=FINGERPRINT)


def test_a_product_that_needs_a_fingerprint_answers_000903_without_one(koogallery, settings):
    settings.ISV_LICENSE_FINGERPRINT_REQUIRED = ["00301-666666-0--0"]
    instance_id, _ = issued(koogallery)
    assert request_licence(koogallery, instance_id, fingerprint=None).assert_envelope()["resultCode"] == "000903"
    assert request_licence(koogallery, instance_id).assert_envelope()["resultCode"] == "000004"


def test_every_product_can_be_made_to_need_a_fingerprint(koogallery, settings):
    settings.ISV_LICENSE_FINGERPRINT_REQUIRED = ["*"]
    instance_id, _ = issued(koogallery)
    assert request_licence(koogallery, instance_id, fingerprint=None).assert_envelope()["resultCode"] == "000903"


@pytest.mark.parametrize(
    "window",
    [
        {"expireTime": stamp(in_days(400))},  # outlasts the yearly order
        {"effectiveTime": stamp(in_days(380)), "expireTime": stamp(in_days(390))},  # starts after it ended
        {"effectiveTime": stamp(in_days(-10)), "expireTime": stamp(in_days(100))},  # starts before it began
    ],
)
def test_a_window_outside_the_order_validity_answers_000901(koogallery, window):
    instance_id, _ = issued(koogallery, expireTime=stamp(in_days(365)))
    assert request_licence(koogallery, instance_id, **window).assert_envelope()["resultCode"] == "000901"


def test_the_order_validity_is_checked_with_a_tolerance(koogallery):
    instance_id, _ = issued(koogallery, expireTime=stamp(in_days(365)))
    reply = request_licence(koogallery, instance_id, expireTime=stamp(in_days(365.5)))
    assert reply.assert_envelope()["resultCode"] == "000004"


@pytest.mark.parametrize("activity", ["expireLicense", "releaseLicense"])
def test_a_frozen_or_released_instance_answers_000901(koogallery, activity):
    instance_id, _ = issued(koogallery)
    koogallery.v1(activity, {"instanceId": instance_id, "orderId": "CS-PURCHASE"}).assert_envelope()
    assert request_licence(koogallery, instance_id).assert_envelope()["resultCode"] == "000901"


def test_the_quota_is_the_instance_quantity_of_distinct_devices(koogallery, jobs):
    instance_id, _ = issued(koogallery, amount="2", test=False)
    with jobs():
        assert request_licence(koogallery, instance_id, fingerprint="dev-1", test=False).code == "000004"
        assert request_licence(koogallery, instance_id, fingerprint="dev-2", test=False).code == "000004"
        third = request_licence(koogallery, instance_id, fingerprint="dev-3", test=False)
        # The same device asking again under a new eventId takes no new seat.
        same_device = request_licence(koogallery, instance_id, fingerprint="dev-1", test=False)
        unbound = request_licence(koogallery, instance_id, fingerprint=None, test=False)
    assert third.assert_envelope()["resultCode"] == "000900"
    assert same_device.assert_envelope()["resultCode"] == "000004"
    assert unbound.assert_envelope()["resultCode"] == "000900"  # an unbound licence is a device of its own
    assert License.objects.filter(kind="online", instance_id=instance_id).count() == 3


def test_a_revoked_licence_frees_its_device(koogallery, jobs):
    from licenses import services

    instance_id, _ = issued(koogallery, amount="1", test=False)
    with jobs():
        request_licence(koogallery, instance_id, fingerprint="old-device", test=False).assert_envelope()
        assert request_licence(koogallery, instance_id, fingerprint="new-device", test=False).code == "000900"
        old = License.objects.get(kind="online", device_fingerprint="old-device")
        services.license_revoke(license_id=old.pk, actor="operator:alice")
        assert request_licence(koogallery, instance_id, fingerprint="new-device", test=False).code == "000004"


def test_an_instance_without_quantity_allows_the_default_number_of_devices(koogallery, settings, jobs):
    settings.ISV_LICENSE_DEFAULT_DEVICE_QUOTA = 2
    instance_id, _ = issued(koogallery, amount=None, test=False)
    with jobs():
        codes = [request_licence(koogallery, instance_id, fingerprint=f"d{i}", test=False).code for i in range(3)]
    assert codes == ["000004", "000004", "000900"]


def test_debug_traffic_is_not_held_to_the_quota(koogallery, jobs):
    """Dial tests replay the seller's debug cases forever (§5.4)."""
    instance_id, _ = issued(koogallery, amount="1")
    with jobs():
        codes = [request_licence(koogallery, instance_id, fingerprint=f"d{i}").code for i in range(3)]
    assert codes == ["000004"] * 3


def test_a_failed_upload_is_retried_until_it_succeeds(koogallery, fake_openapi, jobs):
    instance_id, _ = issued(koogallery)
    fake_openapi.fail_next(UPLOAD_PREFIX, status=500, code="MKT.0999", times=2)
    with jobs():
        assert request_licence(koogallery, instance_id, event_id="evt-retry").code == "000004"
    upload = LicenseUpload.objects.get(event_id="evt-retry")
    assert (upload.status, upload.attempts, upload.last_error) == ("done", 3, "")
    assert len(fake_openapi.calls(UPLOAD_PREFIX)) == 3
    assert [u["event_id"] for u in fake_openapi.uploads()] == ["evt-retry"]


def test_an_upload_out_of_attempts_is_marked_failed_for_operators(koogallery, fake_openapi, jobs, settings):
    settings.ISV_LICENSE_UPLOAD_MAX_ATTEMPTS = 2
    instance_id, _ = issued(koogallery)
    fake_openapi.fail_next(UPLOAD_PREFIX, status=500, code="MKT.0999", times=5)
    with jobs():
        assert request_licence(koogallery, instance_id, event_id="evt-doomed").code == "000004"
    upload = LicenseUpload.objects.get(event_id="evt-doomed")
    assert (upload.status, upload.attempts) == ("failed", 2)
    assert "MKT.0999" in upload.last_error
    assert upload.finished_at is not None


def test_a_rejected_upload_fails_at_once(koogallery, fake_openapi, jobs):
    """401: wrong AK/SK or not this seller's product — retrying cannot help (§7.1)."""
    instance_id, _ = issued(koogallery)
    fake_openapi.fail_next(UPLOAD_PREFIX, status=401, code="MKT.0154")
    with jobs():
        request_licence(koogallery, instance_id, event_id="evt-401").assert_envelope()
    upload = LicenseUpload.objects.get(event_id="evt-401")
    assert (upload.status, upload.attempts) == ("failed", 1)
    assert "MKT.0154" in upload.last_error and "KOOGALLERY_OPENAPI_AK" in upload.last_error


def test_asking_again_retries_a_failed_upload(koogallery, fake_openapi, jobs, settings):
    settings.ISV_LICENSE_UPLOAD_MAX_ATTEMPTS = 1
    instance_id, _ = issued(koogallery)
    fake_openapi.fail_next(UPLOAD_PREFIX)
    with jobs():
        request_licence(koogallery, instance_id, event_id="evt-ask-again").assert_envelope()
    assert LicenseUpload.objects.get(event_id="evt-ask-again").status == "failed"
    with jobs():
        request_licence(koogallery, instance_id, event_id="evt-ask-again").assert_envelope()
    assert LicenseUpload.objects.get(event_id="evt-ask-again").status == "done"
    assert [u["event_id"] for u in fake_openapi.uploads()] == ["evt-ask-again"]


def test_the_sweep_enqueues_an_upload_that_never_started(koogallery, fake_openapi):
    """The broker was unreachable at commit time: the job row waits for the periodic sweep."""
    instance_id, _ = issued(koogallery)
    request_licence(koogallery, instance_id, event_id="evt-lost").assert_envelope()  # on-commit never ran
    upload = LicenseUpload.objects.get(event_id="evt-lost")
    assert (upload.status, upload.attempts) == ("pending", 0)
    assert tasks.sweep_uploads() == 0  # too fresh: its own enqueue may still be on the way
    LicenseUpload.objects.filter(pk=upload.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert tasks.sweep_uploads() == 1
    upload.refresh_from_db()
    assert upload.status == "done"
    assert [u["event_id"] for u in fake_openapi.uploads()] == ["evt-lost"]


def test_the_sweep_takes_over_an_upload_whose_worker_vanished(koogallery, fake_openapi):
    instance_id, _ = issued(koogallery)
    request_licence(koogallery, instance_id, event_id="evt-orphan").assert_envelope()
    LicenseUpload.objects.filter(event_id="evt-orphan").update(
        status="running", attempts=1, lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert tasks.sweep_uploads() == 1
    upload = LicenseUpload.objects.get(event_id="evt-orphan")
    assert (upload.status, upload.attempts) == ("done", 2)


def test_a_running_upload_is_not_taken_twice(koogallery, fake_openapi):
    instance_id, _ = issued(koogallery)
    request_licence(koogallery, instance_id, event_id="evt-leased").assert_envelope()
    upload = LicenseUpload.objects.get(event_id="evt-leased")
    LicenseUpload.objects.filter(pk=upload.pk).update(
        status="running", lease_until=timezone.now() + timedelta(minutes=1)
    )
    assert tasks.upload_license.apply(args=(upload.pk,)).get() == "skipped"
    assert tasks.sweep_uploads() == 0
    assert fake_openapi.uploads() == []


def test_an_order_running_to_the_end_of_time_is_checked_without_overflow(koogallery):
    # 9999-12-31 is a valid expireTime; a tolerance beyond it is not a datetime.
    instance_id, _ = issued(koogallery, expireTime="99991231235959")
    assert request_licence(koogallery, instance_id).assert_envelope()["resultCode"] == "000004"


def test_an_over_long_event_id_finds_its_licence_and_is_uploaded_whole(koogallery, fake_openapi, jobs):
    """§4.0: never refused. The key column keeps a digest of the whole id, so a repeat finds its
    licence and another long id sharing its first 255 characters gets its own; the upload names
    the eventId exactly as sent (§7.4, U28)."""
    instance_id, _ = issued(koogallery)
    event_id, sibling = "E" * 300, "E" * 299 + "F"
    with jobs():
        for _ in range(2):
            reply = request_licence(koogallery, instance_id, event_id=event_id)
            assert reply.assert_envelope()["resultCode"] == "000004"
        assert request_licence(koogallery, instance_id, event_id=sibling).assert_envelope()["resultCode"] == "000004"
    [mine] = online(key_fit(event_id, 255))
    [theirs] = online(key_fit(sibling, 255))
    assert mine.pk != theirs.pk and len(mine.event_id) == 255 and mine.event_id.startswith("E" * 150)
    uploaded = [u["event_id"] for u in fake_openapi.uploads()]
    assert set(uploaded) == {event_id, sibling}
    assert {call.path.split("/")[-2] for call in fake_openapi.calls(UPLOAD_PREFIX)} == {event_id, sibling}


def test_a_dial_tests_licence_takes_no_buyers_seat(koogallery, jobs):
    """A debug request on a real instance is not held to the quota, and does not use it up either."""
    instance_id, _ = issued(koogallery, amount="1", test=False)
    with jobs():
        assert request_licence(koogallery, instance_id, fingerprint="dial-test-device", test=True).code == "000004"
        assert request_licence(koogallery, instance_id, fingerprint="buyers-device", test=False).code == "000004"
    assert License.objects.filter(kind="online", instance_id=instance_id).count() == 2


def test_a_revoked_online_licence_is_not_uploaded_again(koogallery, fake_openapi, jobs):
    from licenses import services

    instance_id, _ = issued(koogallery)
    with jobs():
        request_licence(koogallery, instance_id, event_id="evt-revoked").assert_envelope()
    assert len(fake_openapi.uploads()) == 1
    licence = License.objects.get(kind="online", event_id="evt-revoked")
    services.license_revoke(license_id=licence.pk, actor="operator:alice")
    with jobs():
        for _ in range(2):
            reply = request_licence(koogallery, instance_id, event_id="evt-revoked")
            assert reply.assert_envelope()["resultCode"] == "000901"
            assert reply.json["resultMsg"] == "the licence of this eventId and device was revoked by the seller"
    assert len(fake_openapi.uploads()) == 1  # nothing of a revoked licence goes out again
    licence.refresh_from_db()
    assert licence.status == "revoked" and licence.uploads.count() == 1


def test_a_repeated_request_naming_another_instance_gets_no_licence(koogallery, fake_openapi, jobs):
    """§4.4.1: the (eventId, deviceFingerprint) pair is one request — of one instance."""
    mine, _ = issued(koogallery)
    other, _ = issued(koogallery)
    with jobs():
        request_licence(koogallery, mine, event_id="evt-pair").assert_envelope()
        unknown = request_licence(koogallery, "never-seen-instance", event_id="evt-pair")
        another = request_licence(koogallery, other, event_id="evt-pair")
    assert unknown.assert_envelope()["resultCode"] == "000003"
    assert another.assert_envelope()["resultCode"] == "000002"
    assert "another instance" in another.json["resultMsg"]
    assert len(fake_openapi.uploads()) == 1
    assert License.objects.filter(kind="online").count() == 1


def test_an_upload_already_running_is_not_reused_for_a_new_key(koogallery, fake_openapi, jobs):
    """A reissue while an upload runs: that upload may carry the old key, so a new one is queued."""
    from licenses import uploads

    instance_id, _ = issued(koogallery)
    request_licence(koogallery, instance_id, event_id="evt-running").assert_envelope()  # not run: pending
    running = LicenseUpload.objects.get(event_id="evt-running")
    LicenseUpload.objects.filter(pk=running.pk).update(status="running")
    again = uploads.upload_schedule(license=running.license, delivery_id=None, actor="operator:alice")
    assert again.pk != running.pk and again.status == "pending"
