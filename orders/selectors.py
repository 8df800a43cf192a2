"""Read-only views of instances for the other apps (licenses, tenants) — they never import
orders' models directly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class InstanceSummary:
    instance_id: str
    status: str  # provisioning | active | frozen | released | failed
    customer_id: str
    product_id: str
    sku_code: str
    charging_mode: str  # KooGallery's words: PERIOD, ONE_TIME, ON_DEMAND, ON_DEMAND_PKG (or "")
    quantity: int | None
    effective_at: datetime | None
    expires_at: datetime | None
    is_test: bool
    # A V2 purchase whose order (Query Order, fetched in the background) is not known yet: its
    # charging mode, quantity and validity are still empty.
    details_pending: bool = False


def instance_summary(instance_id: str) -> InstanceSummary | None:
    """The instance KooGallery knows by `instance_id`, or None if never seen."""
    from .models import Instance

    instance = Instance.objects.filter(instance_id=instance_id).first()
    if instance is None:
        return None
    return InstanceSummary(
        instance_id=instance.instance_id,
        status=instance.summary_status,
        customer_id=instance.customer_id,
        product_id=instance.product_id,
        sku_code=instance.sku_code,
        charging_mode=instance.charging_mode,
        quantity=instance.quantity,
        effective_at=instance.effective_at,
        expires_at=instance.expires_at,
        is_test=instance.is_test,
        details_pending=(
            instance.generation == 2
            and instance.query_order is None
            and instance.provisioned_at is None
            and not instance.is_test  # test traffic carries on without Query Order (dial tests)
        ),
    )
