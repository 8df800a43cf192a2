"""The licence state machine: the one place a licence's status changes (house style 5).

    active ──freeze──▶ frozen ──unfreeze──▶ active
    active/frozen ──release──▶ released            (a test licence may be revived: released → active)
    any but revoked ──revoke──▶ revoked             (the seller's decision; final)

Every change appends a `LicenseEvent` (from, to, reason, delivery, actor). Asking for the status a
licence already has is a success that changes nothing and appends nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from .models import License, LicenseEvent

Status = License.Status

ALLOWED: dict[str, set[str]] = {
    Status.ACTIVE: {Status.FROZEN, Status.RELEASED, Status.REVOKED},
    Status.FROZEN: {Status.ACTIVE, Status.RELEASED, Status.REVOKED},
    Status.RELEASED: {Status.ACTIVE, Status.REVOKED},
    Status.REVOKED: set(),
}


class TransitionRefused(Exception):
    def __init__(self, license: License, to: str):
        super().__init__(f"licence {license.pk} cannot go from {license.status} to {to}")
        self.license, self.to = license, to


def record(
    license: License,
    kind: str,
    *,
    reason: str = "",
    delivery_id: uuid.UUID | None = None,
    actor: str = "marketplace",
    order_id: str = "",
    scene: str = "",
    valid_until: datetime | None = None,
    details: dict[str, Any] | None = None,
    from_status: str | None = None,
) -> LicenseEvent:
    """Append an event to the licence's log (renewals and reissues change no status)."""
    return LicenseEvent.objects.create(
        license=license,
        kind=kind,
        from_status=license.status if from_status is None else from_status,
        to_status=license.status,
        reason=reason[:255],
        order_id=order_id[:255],
        scene=scene[:64],
        valid_until=valid_until,
        details=details or {},
        delivery_id=delivery_id,
        actor=actor[:150],
    )


def transition(
    license: License,
    to: str,
    *,
    kind: str,
    reason: str,
    delivery_id: uuid.UUID | None = None,
    actor: str = "marketplace",
    order_id: str = "",
    details: dict[str, Any] | None = None,
) -> bool:
    """Move `license` (locked by the caller) to `to`. True if it changed, False if it already was
    there; TransitionRefused if the state machine forbids it."""
    if license.status == to:
        return False
    if to not in ALLOWED[license.status]:
        raise TransitionRefused(license, to)
    previous = license.status
    license.status = to
    license.save(update_fields=["status", "updated_at"])
    record(
        license,
        kind,
        reason=reason,
        delivery_id=delivery_id,
        actor=actor,
        order_id=order_id,
        details=details,
        from_status=previous,
    )
    return True
