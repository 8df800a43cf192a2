"""License 2.0 (§4.4, POST, V2 signature): KooGallery generates the codes, so the service may
first hear of a code in any of these callbacks; it is recorded with what the call says and
answered 000000 (U41). 000003 is never used here; repeats are idempotent."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from .. import transitions
from ..models import License, LicenseEvent
from .records import insert_or_get, note_on_revoked, record_renewal

logger = logging.getLogger(__name__)

Kind, Status, Event = License.Kind, License.Status, LicenseEvent.Kind

RENEWAL_SCENES = {"RENEWAL", "UNSUBSCRIBE_RENEWAL_PERIOD", "TRIAL_TO_FORMAL", "RENEWAL_CHANGE"}
CODE_STATUSES = {"FREEZE": Status.FROZEN, "UNFREEZE": Status.ACTIVE}


def _code_license(
    code: str,
    *,
    activity: str,
    is_test: bool,
    raw: dict[str, Any],
    delivery_id: uuid.UUID | None,
    actor: str,
    **known: Any,
) -> License:
    """The locked row of `code`, recorded with what this call says if it is the first we hear of it."""
    license = License.objects.select_for_update().filter(kind=Kind.CODE, license_code=code).first()
    if license is not None:
        return license
    candidate = License(kind=Kind.CODE, license_code=code, is_test=is_test, raw=raw, **known)
    license, created = insert_or_get(candidate, kind=Kind.CODE, license_code=code)
    if created:
        transitions.record(
            license,
            Event.ISSUE,
            from_status="",
            reason=f"licence code first seen in {activity} (U41)",
            delivery_id=delivery_id,
            actor=actor,
            order_id=known.get("order_id", ""),
        )
        logger.info("licenses.code_first_seen delivery=%s activity=%s", delivery_id, activity)
    return license


def license_code_renew(
    *,
    code: str,
    order_id: str,
    order_line_id: str,
    scene: str,
    valid_until: datetime,
    product_id: str,
    is_test: bool,
    raw: dict[str, Any],
    delivery_id: uuid.UUID | None,
    actor: str,
) -> License:
    """refreshLicenseCode: set the code's expiry once per (code, order, scene). RENEWAL extends,
    UNSUBSCRIBE_RENEWAL_PERIOD moves it earlier; both are absolute. An unknown scene is applied
    and logged (as U22). A released code keeps its status and the expiry is noted; a revoked code
    changes nothing (the seller's decision is final), noted once."""
    license = _code_license(
        code,
        activity="refreshLicenseCode",
        is_test=is_test,
        raw=raw,
        delivery_id=delivery_id,
        actor=actor,
        order_id=order_id,
        order_line_id=order_line_id,
        product_id=product_id,
        valid_until=valid_until,
    )
    if scene not in RENEWAL_SCENES:
        logger.warning("licenses.unknown_scene delivery=%s scene=%s", delivery_id, scene[:64])
    if license.status == Status.REVOKED:
        note_on_revoked(license, Event.RENEW, reason="refreshLicenseCode", order_id=order_id, delivery_id=delivery_id,
                        actor=actor)  # fmt: skip
        return license
    reason = "" if license.status in (Status.ACTIVE, Status.FROZEN) else f"code is {license.status}: status unchanged"
    if not record_renewal(
        license,
        order_id=order_id,
        scene=scene,
        valid_until=valid_until,
        reason=reason,
        delivery_id=delivery_id,
        actor=actor,
        details={"orderLineId": order_line_id},
    ):
        return license
    license.valid_until = valid_until
    license.last_order_id = order_id
    license.current_product_id = product_id or license.current_product_id
    license.save()
    return license


def license_code_set_status(
    *, code: str, status: str, is_test: bool, raw: dict[str, Any], delivery_id: uuid.UUID | None, actor: str
) -> License:
    """updateLicenseCodeStatus: FREEZE after expiry plus grace, UNFREEZE after renewal. Repeats are
    000000; a released or revoked code stays as it is."""
    target = CODE_STATUSES[status]
    license = _code_license(
        code, activity="updateLicenseCodeStatus", is_test=is_test, raw=raw, delivery_id=delivery_id, actor=actor
    )
    event = {"delivery_id": delivery_id, "actor": actor}
    kind = Event.FREEZE if target == Status.FROZEN else Event.UNFREEZE
    if license.status == Status.REVOKED:
        note_on_revoked(license, kind, reason=f"updateLicenseCodeStatus {status}", **event)
    elif license.status == Status.RELEASED:
        logger.info("licenses.status_after_release delivery=%s status=%s", delivery_id, status)
    else:
        transitions.transition(license, target, kind=kind, reason=f"updateLicenseCodeStatus {status}", **event)
    return license


def license_code_release(
    *,
    code: str,
    order_id: str,
    order_line_id: str,
    is_test: bool,
    raw: dict[str, Any],
    delivery_id: uuid.UUID | None,
    actor: str,
) -> License:
    """releaseLicenseCode: release; a released code answers 000000."""
    license = _code_license(
        code,
        activity="releaseLicenseCode",
        is_test=is_test,
        raw=raw,
        delivery_id=delivery_id,
        actor=actor,
        order_id=order_id,
        order_line_id=order_line_id,
    )
    event = {"delivery_id": delivery_id, "actor": actor, "order_id": order_id}
    if license.status == Status.REVOKED:
        note_on_revoked(license, Event.RELEASE, reason="releaseLicenseCode", **event)
    else:
        transitions.transition(license, Status.RELEASED, kind=Event.RELEASE, reason="releaseLicenseCode", **event)
    return license
