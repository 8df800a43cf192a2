"""Read-only views of instances for the other apps (licenses, tenants) — they never import
orders' models directly. Implemented by the orders app; until it lands, nothing is known."""

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


def instance_summary(instance_id: str) -> InstanceSummary | None:
    """The instance KooGallery knows by `instance_id`, or None if never seen."""
    return None
