"""Licence business rules (house style 4): one function per thing KooGallery, an operator or the
ISV's software asks for. Each runs inside the caller's transaction (the pipeline's, for
callbacks), locks the licence it changes, and changes status only through `transitions`.

Protocol references: License V1 §4.3, License 2.0 §4.4, getLicenseAsync §4.4.1, idempotency §5.1,
unknown and released instances §5.5, debug traffic §5.4.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from marketplace_isv.envelope import UnknownInstance

from . import online, signing, transitions, uploads
from .instances import find_instance, lock_instance
from .models import License, LicenseEvent
from .state import EffectiveState, effective_state

logger = logging.getLogger(__name__)

Kind, Status, Event = License.Kind, License.Status, LicenseEvent.Kind

# V1 `chargingMode` values (§4.2.1) in the words Query Order uses (§7.1).
CHARGING_MODES = {"0": "ON_DEMAND", "1": "PERIOD", "3": "ONE_TIME", "5": "ON_DEMAND_PKG"}
RENEWAL_SCENES = {"RENEWAL", "UNSUBSCRIBE_RENEWAL_PERIOD", "TRIAL_TO_FORMAL", "RENEWAL_CHANGE"}
CODE_STATUSES = {"FREEZE": Status.FROZEN, "UNFREEZE": Status.ACTIVE}


def _insert(candidate: License, **lookup: Any) -> tuple[License, bool]:
    """INSERT the candidate, or return (locked) the row that won a concurrent insert (house style 3)."""
    try:
        with transaction.atomic():
            candidate.save(force_insert=True)
    except IntegrityError:
        winner = License.objects.select_for_update().filter(**lookup).first()
        if winner is None:
            raise
        return winner, False
    return candidate, True


def _record_renewal(license: License, *, order_id: str, scene: str, valid_until: datetime, **event: Any) -> bool:
    """Append the renewal event; False if this (licence, orderId, scene) was applied before (§5.1)."""
    try:
        with transaction.atomic():
            transitions.record(license, Event.RENEW, order_id=order_id, scene=scene, valid_until=valid_until, **event)
    except IntegrityError:
        return False
    return True


# --- License V1 (§4.3): we issue the licence and its instance -------------------------------------


def _charging_mode(raw_mode: str, period_type: str, valid_until: datetime | None) -> str:
    if raw_mode:
        return CHARGING_MODES.get(raw_mode, raw_mode)
    return "PERIOD" if (period_type or valid_until) else "ONE_TIME"  # expireTime: periodic only (§4.3.1)


def _new_instance_id(business_id: str) -> str:
    """The first call's businessId, as §4.1.1/§4.3.1 recommend (it is unique per call), else a UUID."""
    if business_id and len(business_id) <= 64 and business_id.isprintable():
        return business_id
    return str(uuid.uuid4())


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
        candidate = License(
            kind=Kind.V1,
            instance_id=_new_instance_id(business_id),
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
        license, created = _insert(candidate, **lookup)
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
    if not _record_renewal(
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


def _lifecycle_on_revoked(license: License, kind: str, *, reason: str, **event: Any) -> None:
    """KooGallery's lifecycle calls still arrive for a licence the seller revoked: noted, answered
    000000, and the licence stays revoked (the seller's decision is final)."""
    transitions.record(license, kind, reason=f"{reason}; stays revoked", **event)


def license_freeze(*, instance_id: str, order_id: str, delivery_id: uuid.UUID | None, actor: str) -> License:
    """expireLicense: freeze (U27); a repeat, or a released licence, answers 000000 unchanged."""
    license = _locked_v1(instance_id)
    event = {"delivery_id": delivery_id, "actor": actor, "order_id": order_id}
    if license.status == Status.REVOKED:
        _lifecycle_on_revoked(license, Event.FREEZE, reason="expireLicense", **event)
    elif license.status != Status.RELEASED:
        transitions.transition(license, Status.FROZEN, kind=Event.FREEZE, reason="expireLicense", **event)
    return license


def license_release(*, instance_id: str, order_id: str, delivery_id: uuid.UUID | None, actor: str) -> License:
    """releaseLicense: release; an already released licence answers 000000 (§5.5)."""
    license = _locked_v1(instance_id)
    event = {"delivery_id": delivery_id, "actor": actor, "order_id": order_id}
    if license.status == Status.REVOKED:
        _lifecycle_on_revoked(license, Event.RELEASE, reason="releaseLicense", **event)
    else:
        transitions.transition(license, Status.RELEASED, kind=Event.RELEASE, reason="releaseLicense", **event)
    return license


# --- License 2.0 (§4.4): KooGallery's codes, possibly first seen in any callback (U41) ------------


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
    license, created = _insert(candidate, kind=Kind.CODE, license_code=code)
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
    and logged (as U22). A released or revoked code keeps its status; the expiry is noted."""
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
    reason = "" if license.status in (Status.ACTIVE, Status.FROZEN) else f"code is {license.status}: status unchanged"
    if not _record_renewal(
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
        _lifecycle_on_revoked(license, kind, reason=f"updateLicenseCodeStatus {status}", **event)
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
        _lifecycle_on_revoked(license, Event.RELEASE, reason="releaseLicenseCode", **event)
    else:
        transitions.transition(license, Status.RELEASED, kind=Event.RELEASE, reason="releaseLicenseCode", **event)
    return license


# --- Online licences (getLicenseAsync, §4.4.1): issued by us, delivered by upload (§7.4) ----------


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
    instance (000003 otherwise), within the 0009xx rules (licenses/online.py), and delivered by
    an upload job; a repeat gets the same licence, uploaded again (§5.1, U28)."""
    fp_hash = online.fingerprint_hash(fingerprint)
    lookup = {"kind": Kind.ONLINE, "event_id": event_id, "fingerprint_hash": fp_hash}
    license = License.objects.select_for_update().filter(**lookup).first()
    if license is None:
        instance = find_instance(instance_id)
        if instance is None:
            raise UnknownInstance(f"no instance {instance_id[:64]!r}")
        online.check_request(instance, fingerprint=fingerprint, effective_at=effective_at, expires_at=expires_at)
        lock_instance(instance_id)
        online.check_quota(instance, fingerprint_hash=fp_hash, event_id=event_id, is_test=is_test)
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
        license, created = _insert(candidate, **lookup)
        if created:
            transitions.record(license, Event.ISSUE, reason="getLicenseAsync", delivery_id=delivery_id, actor=actor)
            logger.info("licenses.online_issued delivery=%s instance=%s", delivery_id, instance_id[:64])
    uploads.upload_schedule(license=license, delivery_id=delivery_id, actor=actor)
    return license


# --- The ISV's software: the check endpoint ---------------------------------------------------------


class CheckRefused(Exception):
    """Not a valid licence key of ours (or not for this device). The endpoint says only that."""


@dataclass(frozen=True)
class CheckAnswer:
    license: License
    state: EffectiveState
    token: str | None
    reason: str = ""


def license_check(*, token: str, fingerprint: str | None) -> CheckAnswer:
    """The licence's current status, read fresh from the database (so a renewal or a freeze shows
    on the very next call), and, while it is active, a newly signed key with the current expiry.
    Expiry is not held against the key: an expired key is how the software learns of a renewal."""
    verdict = signing.trusted_verifier().verify(token, fingerprint=fingerprint, check_time=False)
    if not verdict.valid:
        raise CheckRefused(verdict.reason)
    claims = verdict.claims or {}
    try:
        license = License.objects.filter(public_id=uuid.UUID(str(claims.get("lid")))).first()
    except ValueError:
        license = None
    if license is None or license.kind == Kind.CODE:
        raise CheckRefused("unknown licence")
    if claims.get("gen") != license.token_generation:
        return CheckAnswer(license, EffectiveState(Status.REVOKED, license.valid_until), None, "superseded")
    state = effective_state(license)
    fresh = None
    if state.status == Status.ACTIVE:
        fresh, _ = signing.sign(signing.claims_for(license, valid_until=state.valid_until))
    return CheckAnswer(license, state, fresh)


# --- Operators (admin actions) --------------------------------------------------------------------


class LicenseActionRefused(Exception):
    """An operator asked for something the licence's state does not allow; the message says why."""


def license_reissue(*, license_id: int, actor: str, reason: str = "reissued by an operator") -> License:
    """Sign a new licence key of a new generation; keys of older generations are refused by the
    check endpoint from now on (e.g. after a leak or a signing-key rotation)."""
    license = License.objects.select_for_update().get(pk=license_id)
    if license.kind == Kind.CODE:
        raise LicenseActionRefused("License 2.0 codes are generated by KooGallery, not signed by us")
    if license.status in (Status.RELEASED, Status.REVOKED):
        raise LicenseActionRefused(f"a {license.status} licence cannot be reissued")
    license.token_generation += 1
    signing.stamp_token(license, valid_until=effective_state(license).valid_until)  # follows the instance
    license.save()
    transitions.record(
        license, Event.REISSUE, reason=reason, actor=actor, details={"generation": license.token_generation}
    )
    if license.kind == Kind.ONLINE:
        uploads.upload_schedule(license=license, delivery_id=None, actor=actor)  # deliver the new key too
    return license


def license_revoke(*, license_id: int, actor: str, reason: str = "revoked by an operator") -> License:
    """Revoke for good: the check endpoint answers `revoked` and hands out no new key."""
    license = License.objects.select_for_update().get(pk=license_id)
    transitions.transition(license, Status.REVOKED, kind=Event.REVOKE, reason=reason, actor=actor)
    return license
