"""Gauges for /metrics, computed at scrape time (marketplace_isv.metrics.register_gauge): what an
operator wants paged on — jobs piling up or failing, open alerts."""

from __future__ import annotations

from django.db.models import Count

from .models import Alert, Instance, Job


def jobs():
    rows = (
        Job.objects.filter(state__in=(*Job.OPEN, Job.State.FAILED))
        .values("kind", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [([row["kind"], row["state"]], row["n"]) for row in rows]


def owed_jobs():
    """Jobs committed but not yet published by a dispatcher (orders.outbox): growing means no
    worker is dispatching, or the broker is down."""
    return [([], Job.objects.filter(enqueued_at__isnull=True).count())]


def open_alerts():
    rows = Alert.objects.filter(resolved_at__isnull=True).values("kind").annotate(n=Count("id")).order_by()
    return [([row["kind"]], row["n"]) for row in rows]


def instances():
    rows = Instance.objects.values("status").annotate(n=Count("id")).order_by()
    return [([row["status"]], row["n"]) for row in rows]
