"""The rules of an online licence request (getLicenseAsync, §4.4.1) that end in the 0009xx codes
of §6. Each check raises a ProtocolError, so nothing the request wrote is kept.

- 000901 the instance is not in effect (frozen, released, failed), or the requested window
  [effectiveTime, expireTime] lies outside the instance's validity, give or take
  ISV_LICENSE_VALIDITY_TOLERANCE_SECONDS (KooGallery's order times are approximate, §4.2.1);
- 000903 the product requires a device fingerprint (ISV_LICENSE_FINGERPRINT_REQUIRED) and none came;
- 000902 a periodic instance (chargingMode PERIOD) and no expireTime;
- 000900 quota: an instance allows `quantity` distinct devices (ISV_LICENSE_DEFAULT_DEVICE_QUOTA
  when it has no quantity). A device is a distinct fingerprint; a licence without a fingerprint
  counts as a device of its own. Active and frozen online licences count; released and revoked
  ones free their device. Debug traffic (testFlag=1) is not counted: dial tests replay the
  seller's debug cases forever (§5.4).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.conf import settings

from marketplace_isv.envelope import (
    INTERNAL_ERROR,
    LICENSE_EXPIRY_REQUIRED,
    LICENSE_FINGERPRINT_REQUIRED,
    LICENSE_OUTSIDE_VALIDITY,
    LICENSE_QUOTA_EXCEEDED,
    ParamError,
    ProtocolError,
)
from orders.selectors import InstanceSummary

from .models import License

IN_EFFECT = {"provisioning", "active"}


def fingerprint_hash(fingerprint: str) -> str:
    return hashlib.sha256(fingerprint.encode("utf-8")).hexdigest() if fingerprint else ""


def device_key(fingerprint_hash: str, event_id: str) -> str:
    return fingerprint_hash or f"event:{event_id}"


def fingerprint_required(instance: InstanceSummary) -> bool:
    configured = set(settings.ISV_LICENSE_FINGERPRINT_REQUIRED)
    configured.discard("")
    return "*" in configured or bool({instance.product_id, instance.sku_code} & configured)


def check_request(
    instance: InstanceSummary, *, fingerprint: str, effective_at: datetime, expires_at: datetime | None
) -> None:
    if instance.details_pending:
        # A V2 purchase whose order details (charging mode, quantity, validity) are not known yet
        # (Query Order runs in the background): a licence signed now would miss them. KooGallery
        # asks again (§5.2: every 2 min for 2 h), by when the order is fetched. V1 calls carry
        # their details, and test traffic carries on without Query Order.
        raise ProtocolError("the instance's order is still being fetched: ask again shortly", code=INTERNAL_ERROR)
    if instance.status not in IN_EFFECT:
        raise ProtocolError(f"the instance is {instance.status}", code=LICENSE_OUTSIDE_VALIDITY)
    if not fingerprint and fingerprint_required(instance):
        raise ProtocolError("this product needs the device fingerprint", code=LICENSE_FINGERPRINT_REQUIRED)
    if expires_at is None and instance.charging_mode == "PERIOD":
        raise ProtocolError("a periodic licence needs expireTime", code=LICENSE_EXPIRY_REQUIRED)
    if expires_at is not None and expires_at <= effective_at:
        raise ParamError("expireTime must be after effectiveTime")
    tolerance = timedelta(seconds=settings.ISV_LICENSE_VALIDITY_TOLERANCE_SECONDS)
    # Compared as differences: an order that runs to 9999-12-31 (or began in year 1) has no
    # datetime one tolerance beyond it.
    if instance.effective_at and instance.effective_at - effective_at > tolerance:
        raise ProtocolError("effectiveTime is before the order took effect", code=LICENSE_OUTSIDE_VALIDITY)
    if instance.expires_at:
        latest = max(effective_at, expires_at or effective_at)
        if latest - instance.expires_at > tolerance:
            raise ProtocolError("the licence would outlast the order", code=LICENSE_OUTSIDE_VALIDITY)


def check_quota(instance: InstanceSummary, *, fingerprint_hash: str, event_id: str, is_test: bool) -> None:
    """Call with the instance locked (instances.lock_instance), so two requests cannot both take
    the last device."""
    if is_test or instance.is_test:
        return
    limit = (
        instance.quantity if instance.quantity and instance.quantity > 0 else settings.ISV_LICENSE_DEFAULT_DEVICE_QUOTA
    )
    rows = License.objects.filter(
        kind=License.Kind.ONLINE,
        instance_id=instance.instance_id,
        status__in=[License.Status.ACTIVE, License.Status.FROZEN],
        is_test=False,  # a dial test's licence takes no buyer's seat
    ).values_list("fingerprint_hash", "event_id")
    devices = {device_key(fp, ev) for fp, ev in rows}
    if device_key(fingerprint_hash, event_id) not in devices and len(devices) >= limit:
        raise ProtocolError(f"the instance allows {limit} device(s), all taken", code=LICENSE_QUOTA_EXCEEDED)
