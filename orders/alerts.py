"""Operator alerts (U38, §5.5): calls that deserve a human look, one open row per (kind, instance),
counted on every repeat so KooGallery's hourly retries do not flood the console."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import Alert, Instance

logger = logging.getLogger(__name__)

__all__ = ["Alert", "raise_alert", "alert_resolve", "alert_resolve_open"]


def raise_alert(
    kind: str, *, message: str, instance: Instance | None = None, instance_ref: str = "", delivery_id=None
) -> Alert:
    ref = (instance.instance_id if instance is not None else instance_ref)[:255]
    logger.warning("orders.alert kind=%s instance=%s delivery=%s", kind, ref, delivery_id)
    open_alerts = Alert.objects.filter(kind=kind, instance_ref=ref, resolved_at__isnull=True)
    if open_alerts.update(
        count=F("count") + 1, message=message[:1000], delivery_id=delivery_id, last_seen_at=timezone.now()
    ):
        return open_alerts.get()
    try:
        with transaction.atomic():
            return Alert.objects.create(
                kind=kind, instance=instance, instance_ref=ref, message=message[:1000], delivery_id=delivery_id
            )
    except IntegrityError:  # a concurrent call opened it first
        open_alerts.update(count=F("count") + 1, last_seen_at=timezone.now())
        return open_alerts.get()


def alert_resolve(*, alert_ids: list[int], actor: str) -> int:
    return Alert.objects.filter(pk__in=alert_ids, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=actor[:160]
    )


def alert_resolve_open(kind: str, *, instance_ref: str, actor: str) -> int:
    """The open alert of (kind, instance) is answered by what the system did (a retried job
    succeeded): resolved with `actor` saying so. Returns 0 or 1."""
    return Alert.objects.filter(kind=kind, instance_ref=instance_ref[:255], resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=actor[:160]
    )
