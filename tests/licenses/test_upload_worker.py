"""The licence upload through the real Celery worker and Redis (`broker_jobs`): delivered after a
000004 answer, and retried with backoff after a failed upload."""

import time

import pytest

from licenses.models import LicenseUpload
from marketplace_isv.simulator.fake_openapi import UPLOAD_PREFIX
from tests.licenses.conftest import in_days, issued, stamp

pytestmark = [pytest.mark.services]


def wait_for(upload_filter: dict, status: str, timeout: float = 60.0) -> LicenseUpload:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        upload = LicenseUpload.objects.filter(**upload_filter).first()
        if upload is not None and upload.status == status:
            return upload
        time.sleep(0.1)
    raise AssertionError(
        f"upload {upload_filter} not {status}: {LicenseUpload.objects.filter(**upload_filter).first()}"
    )


def ask(koogallery, instance_id: str, event_id: str):
    return koogallery.v2(
        "getLicenseAsync",
        {
            "instanceId": instance_id,
            "eventId": event_id,
            "effectiveTime": stamp(in_days(0)),
            "expireTime": stamp(in_days(100)),
            "deviceFingerprint": "MAC|DISK|BOARD|CPU",
        },
    )


def test_the_worker_uploads_the_licence_after_the_000004_answer(
    broker_jobs, koogallery, fake_openapi, shipped_verifier
):
    instance_id, _ = issued(koogallery)
    assert ask(koogallery, instance_id, "evt-worker").assert_envelope()["resultCode"] == "000004"
    upload = wait_for({"event_id": "evt-worker"}, "done")
    assert upload.attempts == 1
    [sent] = fake_openapi.uploads()
    assert sent["event_id"] == "evt-worker"
    assert shipped_verifier.require(sent["characters"], fingerprint="MAC|DISK|BOARD|CPU")["iid"] == instance_id


def test_the_worker_retries_a_failed_upload_with_backoff(broker_jobs, koogallery, fake_openapi):
    instance_id, _ = issued(koogallery)
    fake_openapi.fail_next(UPLOAD_PREFIX, status=503, code="MKT.0999")
    assert ask(koogallery, instance_id, "evt-worker-retry").assert_envelope()["resultCode"] == "000004"
    upload = wait_for({"event_id": "evt-worker-retry"}, "done")
    assert upload.attempts == 2
    assert len(fake_openapi.calls(UPLOAD_PREFIX)) == 2
    assert [u["event_id"] for u in fake_openapi.uploads()] == ["evt-worker-retry"]
