"""Periodic housekeeping of the protocol layer."""

from celery import shared_task

from . import nonces


@shared_task(name="marketplace_isv.prune_nonces", ignore_result=True)
def prune_nonces() -> int:
    """Forget nonces older than the replay window (they can no longer pass the timestamp check)."""
    return nonces.prune()
