"""Periodic housekeeping of the protocol layer."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import nonces
from .models import Delivery

PRUNE_BATCH = 5000


@shared_task(name="marketplace_isv.prune_nonces", ignore_result=True)
def prune_nonces() -> int:
    """Forget nonces older than the replay window (they can no longer pass the timestamp check)."""
    return nonces.prune()


@shared_task(name="marketplace_isv.prune_journal", ignore_result=True)
def prune_journal() -> int:
    """Delete journal rows older than ISV_JOURNAL_RETENTION_DAYS, in batches (0 keeps them all)."""
    days = settings.ISV_JOURNAL_RETENTION_DAYS
    if not days:
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(Delivery.objects.filter(received_at__lt=cutoff).values_list("id", flat=True)[:PRUNE_BATCH])
        if not ids:
            return deleted
        Delivery.objects.filter(replay_of_id__in=ids).update(replay_of=None)
        deleted += Delivery.objects.filter(id__in=ids).delete()[0]
