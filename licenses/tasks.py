"""Celery tasks of the licences app: they take ids and call a service (house style 6)."""

from __future__ import annotations

from celery import shared_task

from config.celery import send_now

from . import uploads

# Backoff 2, 4, 8 … s (jittered), at most 10 minutes apart: about 40 minutes over 8 retries,
# inside the 2 hours KooGallery keeps an online-licence order open (§5.2).
UPLOAD_MAX_RETRIES = 8


class UploadNotDone(Exception):
    """The upload failed in a way worth retrying; Celery retries the task with backoff."""


@shared_task(
    bind=True,
    name="licenses.upload_license",
    autoretry_for=(UploadNotDone,),
    retry_backoff=2,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=UPLOAD_MAX_RETRIES,
    acks_late=True,
    ignore_result=True,
)
def upload_license(self, upload_id: int) -> str:
    outcome = uploads.upload_attempt(upload_id=upload_id, final=self.request.retries >= UPLOAD_MAX_RETRIES)
    if outcome == uploads.RETRY:
        raise UploadNotDone(f"licence upload {upload_id} will be retried")
    return outcome


@shared_task(name="licenses.sweep_uploads", ignore_result=True)
def sweep_uploads() -> int:
    """Re-enqueue uploads that never started or whose worker vanished (CELERY_BEAT_SCHEDULE)."""
    due = uploads.uploads_due()
    for upload_id in due:
        send_now(upload_license, upload_id)
    return len(due)
