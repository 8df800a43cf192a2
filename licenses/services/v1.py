"""License V1 (§4.3, GET, authToken): we create the instance and sign the licence key on
getLicense; refreshLicense, expireLicense and releaseLicense follow it. A never-seen instance is
000003 (§5.5); KooGallery calls them once only (§5.2), so each must succeed or say why."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from django.utils import timezone

from marketplace_isv.envelope import UnknownInstance

from .. import signing, transitions
from ..models import License, LicenseEvent
from .records import insert_or_get, note_on_revoked, record_renewal

logger = logging.getLogger(__name__)

Kind, Status, Event = License.Kind, License.Status, LicenseEvent.Kind

# V1 `chargingMode` values (§4.2.1) in the words Query Order uses (§7.1).
CHARGING_MODES = {"0": "ON_DEMAND", "1": "PERIOD", "3": "ONE_TIME", "5": "ON_DEMAND_PKG"}


def _charging_mode(raw_mode: str, period_type: str, valid_until: datetime | None) -> str:
    if raw_mode:
        return CHARGING_MODES.get(raw_mode, raw_mode)
    return "PERIOD" if (period_type or valid_until) else "ONE_TIME"  # expireTime: periodic only (§4.3.1)


def _instance_id_candidates(business_id: str) -> list[str]:
    """The first call's businessId, as §4.1.1/§4.3.1 recommend, when usable; then UUIDs."""
    usable = business_id and len(business_id) <= 64 and business_id.isprintable()
    return ([business_id] if usable else []) + [str(uuid.uuid4()) for _ in range(2)]


def _locked_v1(instance_id: str) -> License:
    license = License.objects.select_for_update().filter(kind=Kind.V1, instance_id=instance_id).first()
    if license is None:
        raise UnknownInstance(f"no licence instance {instance_id[:64]!r}")  # §5.5: never seen → 000003
    return license


def license_issue(
    *,
    order_id: str,
    product_id: str,
    business_id: str,
    customer_id: str,
    customer_name: str,
    sku_code: str,
    quantity: int | None,
    valid_until: datetime | None,
    charging_mode: str,
    period_type: str,
    period_number: int | None,
    is_test: bool,
    raw: dict[str, Any],
    delivery_id: uuid.UUID | None,
    actor: str,
) -> License:
    """getLicense: the licence of (orderId, productId), created on the first call; every repeat gets
    the same instanceId and licence key (§5.1). A repeated debug call revives a released test
    licence, as dial tests replay the same calls forever (§5.4)."""
    lookup = {"kind": Kind.V1, "order_id": order_id, "product_id": product_id}
    license = License.objects.select_for_update().filter(**lookup).first()
    created = False
    if license is None:
        # The businessId is the instanceId unless another licence holds it already (a buyer's
        # second order may repeat it): then a UUID, as for newInstance (§4.3.1, §5.1).
        for instance_id in _instance_id_candidates(business_id):
            candidate = License(
                kind=Kind.V1,
                instance_id=instance_id,
                order_id=order_id,
                product_id=product_id,
                customer_id=customer_id,
                customer_name=customer_name,
                sku_code=sku_code,
                quantity=quantity,
                charging_mode=_charging_mode(charging_mode, period_type, valid_until),
                period_type=period_type,
                period_number=period_number,
                valid_from=timezone.now(),
                valid_until=valid_until,
                is_test=is_test,
                raw=raw,
            )
            signing.stamp_token(candidate, valid_until=valid_until)
            license, created = insert_or_get(candidate, missing_ok=True, **lookup)
            if license is not None:
                break
        else:
            raise RuntimeError("could not allocate a licence instance id")
    if created:
        transitions.record(
            license, Event.ISSUE, reason="getLicense", delivery_id=delivery_id, actor=actor, order_id=order_id
        )
        logger.info("licenses.issued delivery=%s instance=%s", delivery_id, license.instance_id)
    elif license.status == Status.RELEASED and license.is_test:
        transitions.transition(
            license,
            Status.ACTIVE,
            kind=Event.ISSUE,
            reason="a repeated debug getLicense revives the released test licence (§5.4)",
            delivery_id=delivery_id,
            actor=actor,
            order_id=order_id,
        )
    return license


def license_renew(
    *,
    instance_id: str,
    order_id: str,
    scene: str,
    valid_until: datetime,
    product_id: str,
    period_type: str,
    period_number: int | None,
    delivery_id: uuid.UUID | None,
    actor: str,
) -> License:
    """refreshLicense: set the absolute expiry once per (licence, renewal order, scene); a renewal
    that moves the expiry into the future lifts an expiry freeze, as V1 has no unfreeze (§5.6)."""
    license = _locked_v1(instance_id)
    if license.status == Status.RELEASED:
        if license.is_test:
            return license  # §5.4: a released test licence answers 000000, no-op
        logger.warning("licenses.renewal_after_release delivery=%s instance=%s", delivery_id, instance_id)
        raise UnknownInstance("the licence was released")  # §5.5: 000003 plus an operator alert
    if license.status == Status.REVOKED:
        # The seller's decision is final: no new expiry, no newly signed key for the buyer.
        note_on_revoked(license, Event.RENEW, reason="refreshLicense", order_id=order_id, delivery_id=delivery_id,
                        actor=actor)  # fmt: skip
        return license
    if not record_renewal(
        license, order_id=order_id, scene=scene, valid_until=valid_until, delivery_id=delivery_id, actor=actor
    ):
        return license  # a repeat: the expiry is absolute, nothing is extended twice
    license.valid_until = valid_until
    license.last_order_id = order_id
    license.current_product_id = product_id or license.current_product_id
    license.period_type = period_type or license.period_type
    license.period_number = period_number if period_number is not None else license.period_number
    signing.stamp_token(license, valid_until=valid_until)
    license.save()
    if license.status == Status.FROZEN and valid_until > timezone.now():
        transitions.transition(
            license,
            Status.ACTIVE,
            kind=Event.UNFREEZE,
            reason="renewal moved the expiry into the future (§5.6)",
            delivery_id=delivery_id,
            actor=actor,
            order_id=order_id,
        )
    return license


def license_freeze(*, instance_id: str, order_id: str, delivery_id: uuid.UUID | None, actor: str) -> License:
    """expireLicense: freeze (U27); a repeat, or a released licence, answers 000000 unchanged."""
    license = _locked_v1(instance_id)
    event = {"delivery_id": delivery_id, "actor": actor, "order_id": order_id}
    if license.status == Status.REVOKED:
        note_on_revoked(license, Event.FREEZE, reason="expireLicense", **event)
    elif license.status != Status.RELEASED:
        transitions.transition(license, Status.FROZEN, kind=Event.FREEZE, reason="expireLicense", **event)
    return license


def license_release(*, instance_id: str, order_id: str, delivery_id: uuid.UUID | None, actor: str) -> License:
    """releaseLicense: release; an already released licence answers 000000 (§5.5)."""
    license = _locked_v1(instance_id)
    event = {"delivery_id": delivery_id, "actor": actor, "order_id": order_id}
    if license.status == Status.REVOKED:
        note_on_revoked(license, Event.RELEASE, reason="releaseLicense", **event)
    else:
        transitions.transition(license, Status.RELEASED, kind=Event.RELEASE, reason="releaseLicense", **event)
    return license
