"""Instances a licence can be issued against (§4.4.1): those created by `newInstance` — known to the
orders app, read only through `orders.selectors` — and those created by our own `getLicense`.
Also the per-instance lock that keeps the device quota exact under concurrent requests."""

from __future__ import annotations

import hashlib

from django.db import connection

from orders import selectors as order_selectors
from orders.selectors import InstanceSummary

from .models import License

# Our licence statuses in the orders app's vocabulary (provisioning|active|frozen|released|failed).
_AS_INSTANCE_STATUS = {
    License.Status.ACTIVE: "active",
    License.Status.FROZEN: "frozen",
    License.Status.RELEASED: "released",
    License.Status.REVOKED: "released",
}


def summary_of_v1(license: License) -> InstanceSummary:
    return InstanceSummary(
        instance_id=license.instance_id,
        status=_AS_INSTANCE_STATUS[license.status],
        customer_id=license.customer_id,
        product_id=license.product_id,
        sku_code=license.sku_code,
        charging_mode=license.charging_mode,
        quantity=license.quantity,
        effective_at=license.valid_from,
        expires_at=license.valid_until,
        is_test=license.is_test,
    )


def find_instance(instance_id: str) -> InstanceSummary | None:
    """The instance `instance_id` names: a `newInstance` instance (orders) or a `getLicense` one."""
    if not instance_id:
        return None
    summary = order_selectors.instance_summary(instance_id)
    if summary is not None:
        return summary
    license = License.objects.filter(kind=License.Kind.V1, instance_id=instance_id).first()
    return summary_of_v1(license) if license else None


def lock_instance(instance_id: str) -> None:
    """Serialise licence issuance per instance until the transaction ends. PostgreSQL: a
    transaction-level advisory lock; SQLite (embedded mode) already serialises writers."""
    if connection.vendor != "postgresql":
        return
    digest = hashlib.sha256(f"licenses.instance:{instance_id}".encode()).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)])
