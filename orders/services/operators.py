"""What operators do from the admin and the management commands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from marketplace_isv.envelope import INSTANCE_NOT_FOUND

from .. import jobs
from ..models import Instance, Job, OrderNotification, Provisioning, Status
from ..states import transition
from .common import Outcome, locked
from .lifecycle import instance_freeze, instance_unfreeze


@dataclass(frozen=True)
class Retried:
    """What an operator's retry did for one instance or notification."""

    queued: int = 0  # failed work queued anew
    hurried: int = 0  # jobs waiting out a retry backoff, made to run now
    why: str = ""  # when it did nothing: why not

    @property
    def count(self) -> int:
        return self.queued + self.hurried


def instance_retry_provisioning(*, instance_id: str, actor: str) -> Retried:
    """Admin: queue an instance's failed work again (orders.jobs.rearm_failed), or provision an
    unreleased instance that never got provisioned and has nothing queued. With nothing failed, a
    job waiting out its retry backoff runs now instead (orders.jobs.run_waiting_now)."""
    instance = locked(instance_id)
    if instance is None:
        return Retried(why="instance does not exist")
    count = jobs.rearm_failed(instance, actor=actor)
    if (
        not count
        and instance.status != Status.RELEASED
        and instance.provisioned_at is None
        and not instance.jobs.filter(state__in=Job.OPEN).exists()
    ):
        jobs.job_add(instance, Job.Kind.PROVISION, actor=actor)
        count = 1
    if count:
        transition(
            instance,
            "retry",
            provisioning=Provisioning.PENDING,
            reason=f"{count} job(s) queued again by an operator",
            actor=actor,
            note=True,
        )
        return Retried(queued=count)
    hurried = jobs.run_waiting_now(instance)
    if hurried:
        transition(
            instance,
            "retry",
            reason=f"{hurried} job(s) waiting to retry run now, at an operator's request",
            actor=actor,
            note=True,
        )
        return Retried(hurried=hurried)
    if instance.jobs.filter(state=Job.State.RETRY).exists():
        return Retried(why="its retry is already on its way to a worker: wait a few seconds")
    if instance.jobs.filter(state__in=Job.OPEN).exists():
        return Retried(why="its work is already queued or running")
    return Retried(why="nothing failed")


def instance_freeze_by_operator(*, instance_id: str, actor: str) -> Outcome:
    """Admin: freeze (data kept). A released instance is refused with its reason and raises no
    alert: the alerts are for what KooGallery sends, and nothing is left to freeze."""
    return _unless_gone(instance_id) or instance_freeze(
        instance_id=instance_id, reason="operator", activity="operator freeze", is_test=True, actor=actor
    )


def instance_unfreeze_by_operator(*, instance_id: str, actor: str) -> Outcome:
    """Admin: unfreeze, as `instance_freeze_by_operator` refuses a released instance."""
    return _unless_gone(instance_id) or instance_unfreeze(
        instance_id=instance_id, activity="operator unfreeze", is_test=True, actor=actor
    )


def _unless_gone(instance_id: str) -> Outcome | None:
    instance = locked(instance_id)
    if instance is None:
        return Outcome(INSTANCE_NOT_FOUND, "instance does not exist")
    if instance.status == Status.RELEASED:
        return Outcome(INSTANCE_NOT_FOUND, "instance was released", instance)
    return None


def order_notification_retry_fetch(*, notification_id: int, actor: str) -> Retried:
    """Admin: fetch an orderNotify's order again (Query Order, §7.1) when no fetch answered — its
    job failed (for example until the open API's AK/SK were fixed), or test traffic the open API
    could not answer — or, while its fetch waits out a retry backoff, now. Nothing is queued when
    the order is already fetched or a fetch is pending or running."""
    notification = OrderNotification.objects.select_for_update().filter(pk=notification_id).first()
    if notification is None:
        return Retried(why="no such notification")
    if notification.query_order is not None:
        return Retried(why="the order is already fetched")
    hurried = jobs.run_waiting_now(notification)
    if hurried:
        return Retried(hurried=hurried)
    if notification.jobs.filter(state=Job.State.RETRY).exists():
        return Retried(why="its retry is already on its way to a worker: wait a few seconds")
    if notification.jobs.filter(state__in=Job.OPEN).exists():
        return Retried(why="its fetch is already queued or running")
    notification.jobs.filter(state=Job.State.FAILED).update(state=Job.State.CANCELLED)  # superseded
    jobs.order_fetch_add(notification, actor=actor)
    return Retried(queued=1)


def instance_usage_record(*, instance_id: str, value: Decimal, at: datetime | None = None) -> Instance:
    """Set the pay-per-use running total queryInstance reports in usageInfo (§4.1.2, §5.7)."""
    instance = Instance.objects.select_for_update().get(instance_id=instance_id)
    instance.usage_value, instance.usage_at = value, at or timezone.now()
    instance.save(update_fields=["usage_value", "usage_at", "updated_at"])
    return instance
