"""Row-level building blocks of the licence services: idempotent inserts and renewals (house
style 3), and the note left when KooGallery's lifecycle calls reach a revoked licence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from .. import transitions
from ..models import License, LicenseEvent

Status, Event = License.Status, LicenseEvent.Kind


def insert_or_get(candidate: License, *, missing_ok: bool = False, **lookup: Any) -> tuple[License | None, bool]:
    """INSERT the candidate, or return (locked) the row that won a concurrent insert (house style 3).
    When another unique constraint refused it and no row matches `lookup`: (None, False) with
    `missing_ok` (the caller tries another candidate), else the IntegrityError."""
    try:
        with transaction.atomic():
            candidate.save(force_insert=True)
    except IntegrityError:
        winner = License.objects.select_for_update().filter(**lookup).first()
        if winner is None:
            if missing_ok:
                return None, False
            raise
        return winner, False
    return candidate, True


def record_renewal(license: License, *, order_id: str, scene: str, valid_until: datetime, **event: Any) -> bool:
    """Append the renewal event; False if this (licence, orderId, scene) was applied before (§5.1)."""
    try:
        with transaction.atomic():
            transitions.record(license, Event.RENEW, order_id=order_id, scene=scene, valid_until=valid_until, **event)
    except IntegrityError:
        return False
    return True


def note_on_revoked(license: License, kind: str, *, reason: str, **event: Any) -> None:
    """KooGallery's lifecycle calls still arrive for a licence the seller revoked: noted once,
    answered 000000, and the licence stays revoked (the seller's decision is final)."""
    if not license.events.filter(kind=kind, from_status=Status.REVOKED).exists():
        transitions.record(license, kind, reason=f"{reason}; stays revoked", **event)
