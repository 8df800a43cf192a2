"""Delivering online licences through KooGallery's upload API (§7.4, U28), as jobs (house style 6).

A `LicenseUpload` row is written in the same transaction as the licence and enqueued on commit.
The task claims the row (a lease, so two workers never upload it at once), uploads the current
licence key as CHARACTERS with `event_id` = the getLicenseAsync eventId, and records the outcome.
A retryable failure goes back to `pending` and the task retries with backoff; once out of
attempts (or on a non-retryable error such as a wrong AK/SK) the row is `failed`, for operators
to retry from the admin. A periodic sweep re-enqueues rows that never started or whose lease
expired, so a broker outage delays uploads but loses none.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from config.celery import enqueue_on_commit
from marketplace_isv import openapi

from .models import License, LicenseUpload

logger = logging.getLogger(__name__)

Status = LicenseUpload.Status
DONE, RETRY, FAILED, SKIPPED = "done", "retry", "failed", "skipped"
NEVER_STARTED_AFTER = timedelta(seconds=60)


def _enqueue(upload_id: int) -> None:
    from .tasks import upload_license  # tasks import this module

    enqueue_on_commit(upload_license, upload_id)


def upload_schedule(*, license: License, delivery_id: uuid.UUID | None, actor: str) -> LicenseUpload:
    """Deliver `license` (again): reuse an upload not yet started (or failed), else start a new one.
    A running upload is not reused: it may have read an older key before a reissue."""
    upload = (
        LicenseUpload.objects.select_for_update()
        .filter(license=license, status__in=[Status.PENDING, Status.FAILED])
        .order_by("-created_at")
        .first()
    )
    if upload is None:
        upload = LicenseUpload.objects.create(
            license=license, event_id=license.sent_event_id, delivery_id=delivery_id, actor=actor
        )
    elif upload.status == Status.FAILED:
        _reset(upload)
    _enqueue(upload.pk)
    return upload


def _reset(upload: LicenseUpload) -> None:
    upload.status, upload.attempts, upload.lease_until, upload.finished_at = Status.PENDING, 0, None, None
    upload.save(update_fields=["status", "attempts", "lease_until", "finished_at", "updated_at"])


def upload_retry(*, upload_id: int, actor: str) -> LicenseUpload:
    """An operator retries a failed upload: a fresh set of attempts."""
    with transaction.atomic():
        upload = LicenseUpload.objects.select_related("license").select_for_update().get(pk=upload_id)
        if upload.license.status == License.Status.REVOKED:
            logger.info("licenses.upload_retry_refused upload=%s reason=revoked actor=%s", upload.pk, actor)
            return upload  # the seller revoked it: nothing of it goes out again
        if upload.status == Status.FAILED:
            _reset(upload)
            logger.info("licenses.upload_retried upload=%s actor=%s", upload.pk, actor)
        if upload.status == Status.PENDING:
            _enqueue(upload.pk)
    return upload


def upload_attempt(*, upload_id: int, final: bool) -> str:
    """One attempt at one upload. `final`: the task has no retries left, so a failure is final."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.ISV_LICENSE_UPLOAD_LEASE_SECONDS)
    claimable = Q(status=Status.PENDING) | Q(status=Status.RUNNING, lease_until__lt=now)
    claimed = LicenseUpload.objects.filter(claimable, pk=upload_id).update(
        status=Status.RUNNING, lease_until=lease, attempts=F("attempts") + 1, updated_at=now
    )
    if not claimed:
        return SKIPPED  # done, failed, or another worker holds the lease
    upload = LicenseUpload.objects.select_related("license").get(pk=upload_id)
    try:
        openapi.upload_characters(upload.event_id, upload.license.token)
    except Exception as exc:  # an OpenApiError, or anything unexpected: recorded on the row
        retryable = getattr(exc, "retryable", True)
        out = final or not retryable or upload.attempts >= settings.ISV_LICENSE_UPLOAD_MAX_ATTEMPTS
        if not isinstance(exc, openapi.OpenApiError):
            logger.exception("licenses.upload_error upload=%s", upload_id)
        logger.warning(
            "licenses.upload_failed upload=%s attempt=%s final=%s error=%s",
            upload_id,
            upload.attempts,
            out,
            type(exc).__name__,
        )
        # An OpenApiError that is not retried says what to fix (e.g. a 401: the AK/SK settings, §7.1).
        error = exc.operator_text() if isinstance(exc, openapi.OpenApiError) else f"{type(exc).__name__}: {exc}"
        LicenseUpload.objects.filter(pk=upload_id).update(
            status=Status.FAILED if out else Status.PENDING,
            last_error=error[:2000],
            lease_until=None,
            updated_at=timezone.now(),
            finished_at=timezone.now() if out else None,
        )
        return FAILED if out else RETRY
    LicenseUpload.objects.filter(pk=upload_id).update(
        status=Status.DONE, last_error="", lease_until=None, updated_at=timezone.now(), finished_at=timezone.now()
    )
    logger.info("licenses.uploaded upload=%s attempt=%s", upload_id, upload.attempts)
    return DONE


def uploads_due() -> list[int]:
    """Uploads the sweep should re-enqueue: pending and never started for a minute, pending between
    retries for longer than the longest backoff, or running with an expired lease."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.ISV_LICENSE_UPLOAD_STALE_SECONDS)
    due = (
        Q(status=Status.PENDING, attempts=0, created_at__lt=now - NEVER_STARTED_AFTER)
        | Q(status=Status.PENDING, updated_at__lt=stale)
        | Q(status=Status.RUNNING, lease_until__lt=now)
    )
    return list(LicenseUpload.objects.filter(due).order_by("created_at").values_list("pk", flat=True)[:500])
