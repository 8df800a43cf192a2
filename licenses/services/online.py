"""The online licence (getLicenseAsync, §4.4.1): issued by us against an instance created by
newInstance (orders) or getLicense, always answered 000004 and delivered by an upload job (U28)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from marketplace_isv.envelope import LICENSE_OUTSIDE_VALIDITY, ParamError, ProtocolError, UnknownInstance

from .. import online_rules, signing, transitions, uploads
from ..instances import find_instance, lock_instance
from ..models import License, LicenseEvent
from .records import insert_or_get

logger = logging.getLogger(__name__)

Kind, Event = License.Kind, LicenseEvent.Kind


def license_request_online(
    *,
    instance_id: str,
    event_id: str,
    fingerprint: str,
    effective_at: datetime,
    expires_at: datetime | None,
    is_test: bool,
    raw: dict[str, Any],
    delivery_id: uuid.UUID | None,
    actor: str,
) -> License:
    """The licence of (eventId, deviceFingerprint): issued on the first request against a known
    instance (000003 otherwise), within the 0009xx rules (licenses/online_rules.py), and delivered by
    an upload job; a repeat gets the same licence, uploaded again (§5.1, U28)."""
    fp_hash = online_rules.fingerprint_hash(fingerprint)
    lookup = {"kind": Kind.ONLINE, "event_id": event_id, "fingerprint_hash": fp_hash}
    license = License.objects.select_for_update().filter(**lookup).first()
    if license is not None and license.instance_id != instance_id:
        # The pair is one request (§4.4.1) — of another instance: never that instance's licence.
        if find_instance(instance_id) is None:
            raise UnknownInstance(f"no instance {instance_id[:64]!r}")
        raise ParamError("this eventId and deviceFingerprint already asked for a licence of another instance")
    if license is not None and license.status == License.Status.REVOKED:
        # The seller revoked it: nothing of it goes out again (as uploads.upload_retry), and the
        # answer says so rather than promise an upload.
        raise ProtocolError("the licence of this eventId and device was revoked by the seller",
                            code=LICENSE_OUTSIDE_VALIDITY)  # fmt: skip
    if license is None:
        instance = find_instance(instance_id)
        if instance is None:
            raise UnknownInstance(f"no instance {instance_id[:64]!r}")
        online_rules.check_request(instance, fingerprint=fingerprint, effective_at=effective_at, expires_at=expires_at)
        lock_instance(instance_id)
        online_rules.check_quota(instance, fingerprint_hash=fp_hash, event_id=event_id, is_test=is_test)
        purchase = License.objects.filter(kind=Kind.V1, instance_id=instance_id).values_list("order_id", flat=True)
        candidate = License(
            kind=Kind.ONLINE,
            instance_id=instance_id,
            order_id=purchase.first() or "",
            customer_id=instance.customer_id,
            sku_code=instance.sku_code,
            product_id=instance.product_id,
            quantity=instance.quantity,
            charging_mode=instance.charging_mode,
            valid_from=effective_at,
            valid_until=expires_at,
            event_id=event_id,
            device_fingerprint=fingerprint,
            fingerprint_hash=fp_hash,
            is_test=is_test or instance.is_test,
            raw=raw,
        )
        signing.stamp_token(candidate, valid_until=expires_at)
        license, created = insert_or_get(candidate, **lookup)
        if created:
            transitions.record(license, Event.ISSUE, reason="getLicenseAsync", delivery_id=delivery_id, actor=actor)
            logger.info("licenses.online_issued delivery=%s instance=%s", delivery_id, instance_id[:64])
    uploads.upload_schedule(license=license, delivery_id=delivery_id, actor=actor)
    return license
