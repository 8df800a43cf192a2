"""What operators do from the admin and the management commands."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from marketplace_isv.envelope import INSTANCE_NOT_FOUND

from .. import jobs
from ..models import Instance, Job, OrderNotification, Provisioning, Status
from ..states import transition
from .common import Outcome, locked
from .lifecycle import instance_freeze, instance_unfreeze


def instance_retry_provisioning(*, instance_id: str, actor: str) -> int:
    """Admin: queue an instance's failed work again (orders.jobs.rearm_failed), or provision an
    unreleased instance that never got provisioned and has nothing queued. Returns the number of
    jobs queued."""
    instance = locked(instance_id)
    if instance is None:
        return 0
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
    return count


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


def order_notification_retry_fetch(*, notification_id: int, actor: str) -> int:
    """Admin: fetch an orderNotify's order again (Query Order, §7.1) after its job ran out of
    retries — for example once the open API's AK/SK are fixed. Nothing is queued when the order
    is already fetched or a fetch is still open. Returns the number of jobs queued (0 or 1)."""
    notification = OrderNotification.objects.select_for_update().filter(pk=notification_id).first()
    if notification is None or notification.query_order is not None:
        return 0
    if notification.jobs.filter(state__in=Job.OPEN).exists():
        return 0
    if not notification.jobs.filter(state=Job.State.FAILED).update(state=Job.State.CANCELLED):
        return 0  # nothing failed: nothing to retry
    jobs.order_fetch_add(notification, actor=actor)
    return 1


def instance_usage_record(*, instance_id: str, value: Decimal, at: datetime | None = None) -> Instance:
    """Set the pay-per-use running total queryInstance reports in usageInfo (§4.1.2, §5.7)."""
    instance = Instance.objects.select_for_update().get(instance_id=instance_id)
    instance.usage_value, instance.usage_at = value, at or timezone.now()
    instance.save(update_fields=["usage_value", "usage_at", "updated_at"])
    return instance
