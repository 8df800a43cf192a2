"""What every Kit service shares: where a change comes from, what it did, the sync log row,
the tenant a call refers to (created `pending` when first met), and the timeStamp guard."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import Q

from ..models import SyncLog, Tenant

ADD, MODIFY, DELETE, CANCEL = 1, 2, 0, 3


@dataclass(frozen=True)
class Origin:
    """The call a change comes from: stored on every row and log line it writes."""

    delivery_id: uuid.UUID
    scheme: str
    actor: str = "marketplace"


@dataclass(frozen=True)
class SyncOutcome:
    received: int = 0
    applied: int = 0
    ignored: int = 0
    removed: int = 0
    secret_error: str = ""  # applicationSync: why clientSecret could not be decrypted (000101)


def record_sync(origin: Origin, interface: str, outcome: SyncOutcome, **fields) -> None:
    SyncLog.objects.create(
        delivery_id=origin.delivery_id,
        actor=origin.actor[:150],
        scheme=origin.scheme,
        interface=interface,
        received=outcome.received,
        applied=outcome.applied,
        ignored=outcome.ignored,
        removed=outcome.removed,
        result_code="000101" if outcome.secret_error else "000000",
        note=(outcome.secret_error or ("older than what is stored: ignored" if outcome.ignored else ""))[:255],
        **fields,
    )


def tenant_for(tenant_id: str, *, is_test: bool) -> Tenant:
    tenant, _ = Tenant.objects.get_or_create(tenant_id=tenant_id, defaults={"is_test": is_test})
    return tenant


def newer_or_equal(stamp: int) -> Q:
    return Q(synced_stamp__isnull=True) | Q(synced_stamp__lte=stamp)
