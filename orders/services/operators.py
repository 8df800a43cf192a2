"""What operators do from the admin and the management commands."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from .. import jobs
from ..models import Instance, Job, Provisioning, Status
from ..states import transition
from .common import locked


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


def instance_usage_record(*, instance_id: str, value: Decimal, at: datetime | None = None) -> Instance:
    """Set the pay-per-use running total queryInstance reports in usageInfo (§4.1.2, §5.7)."""
    instance = Instance.objects.select_for_update().get(instance_id=instance_id)
    instance.usage_value, instance.usage_at = value, at or timezone.now()
    instance.save(update_fields=["usage_value", "usage_at", "updated_at"])
    return instance
