"""KooGallery's License interfaces (routes in marketplace_isv/routes.py): validate, call one service.

License V1 (GET, authToken, §4.3): getLicense, refreshLicense, expireLicense, releaseLicense.
License 2.0 (POST, V2 signature, §4.4): refreshLicenseCode, updateLicenseCodeStatus,
releaseLicenseCode; online licence: getLicenseAsync (§4.4.1).
"""

from __future__ import annotations

from typing import Any

from marketplace_isv import fields
from marketplace_isv.envelope import IN_PROGRESS, ParamError, Result
from marketplace_isv.schemes import Caller

from . import services
from .models import License, LicenseEvent

SECRET_PARAMETERS = ("authToken", "signature")
# Column lengths: text longer than Huawei documents is cut to them, never refused (§4.0); a key
# (order id, product id, licence code, eventId) keeps a digest of the whole instead
# (fields.identifier), and a repeat finds its row by the same fitted value.
ID = License._meta.get_field("order_id").max_length
PERIOD_TYPE = License._meta.get_field("period_type").max_length
CHARGING_MODE = License._meta.get_field("charging_mode").max_length
SCENE = LicenseEvent._meta.get_field("scene").max_length


def _raw(payload: dict[str, Any]) -> dict[str, Any]:
    """Every parameter as received (U26), less the authentication secrets."""
    return {name: value for name, value in payload.items() if name not in SECRET_PARAMETERS}


def _by(caller: Caller) -> dict[str, Any]:
    return {"delivery_id": caller.delivery_id, "actor": caller.actor}


# --- License V1 (§4.3) ------------------------------------------------------------------------


def get_license(payload: dict[str, Any], caller: Caller) -> Result:
    """Only orderId is required (U26); the rest is stored as received."""
    license = services.license_issue(
        order_id=fields.identifier(payload, "orderId", required=True, limit=ID),
        product_id=fields.identifier(payload, "productId", limit=ID),
        business_id=fields.text(payload, "businessId"),
        customer_id=fields.text(payload, "customerId", limit=ID),
        customer_name=fields.text(payload, "customerName", limit=ID),
        sku_code=fields.text(payload, "skuCode", limit=ID),
        quantity=_lenient_integer(payload, "amount"),
        valid_until=fields.utc_time(payload, "expireTime"),
        charging_mode=fields.text(payload, "chargingMode", limit=CHARGING_MODE),
        period_type=fields.text(payload, "periodType", limit=PERIOD_TYPE),
        period_number=_lenient_integer(payload, "periodNumber"),
        is_test=fields.test_flag(payload),
        raw=_raw(payload),
        **_by(caller),
    )
    return Result.ok(license=license.token, instanceId=license.instance_id)


def _lenient_integer(payload: dict[str, Any], name: str) -> int | None:
    """U26: getLicense requires only orderId, and a refused call ends in a refund after 3 h (§5.2).
    An optional count that is not an integer is kept raw and read as absent. (expireTime is not
    lenient: read as absent it would make a periodic licence perpetual.)"""
    try:
        return fields.integer(payload, name)
    except ParamError:
        return None


def refresh_license(payload: dict[str, Any], caller: Caller) -> Result:
    instance_id = fields.text(payload, "instanceId", required=True)
    order_id = fields.identifier(payload, "orderId", required=True, limit=ID)
    valid_until = fields.utc_time(payload, "expireTime", required=True)
    services.license_renew(
        instance_id=instance_id,
        order_id=order_id,
        scene="TRIAL_TO_FORMAL" if fields.text(payload, "trialToFormal") == "1" else "RENEWAL",
        valid_until=valid_until,
        product_id=fields.identifier(payload, "productId", limit=ID),
        period_type=fields.text(payload, "periodType", limit=PERIOD_TYPE),
        period_number=fields.integer(payload, "periodNumber"),
        **_by(caller),
    )
    return Result.ok()


def expire_license(payload: dict[str, Any], caller: Caller) -> Result:
    """The table is unpublished: instanceId is required, as for expireInstance (U27)."""
    services.license_freeze(
        instance_id=fields.text(payload, "instanceId", required=True),
        order_id=fields.identifier(payload, "orderId", limit=ID),
        **_by(caller),
    )
    return Result.ok()


def release_license(payload: dict[str, Any], caller: Caller) -> Result:
    """orderId (the original purchase order) is mandatory, as for releaseInstance (§4.3.2)."""
    services.license_release(
        instance_id=fields.text(payload, "instanceId", required=True),
        order_id=fields.identifier(payload, "orderId", required=True, limit=ID),
        **_by(caller),
    )
    return Result.ok()


# --- License 2.0 (§4.4) -----------------------------------------------------------------------


def refresh_license_code(payload: dict[str, Any], caller: Caller) -> Result:
    code = fields.identifier(payload, "license", required=True, limit=ID)
    scene = fields.text(payload, "scene", required=True, limit=SCENE)
    order_id = fields.identifier(payload, "orderId", required=True, limit=ID)
    valid_until = fields.utc_time(payload, "expireTime", required=True)
    services.license_code_renew(
        code=code,
        order_id=order_id,
        order_line_id=fields.identifier(payload, "orderLineId", required=True, limit=ID),
        scene=scene,
        valid_until=valid_until,
        product_id=fields.identifier(payload, "productId", limit=ID),
        is_test=fields.test_flag(payload),
        raw=_raw(payload),
        **_by(caller),
    )
    return Result.ok()


def update_license_code_status(payload: dict[str, Any], caller: Caller) -> Result:
    code = fields.identifier(payload, "license", required=True, limit=ID)
    status = fields.text(payload, "status", required=True).upper()
    if status not in services.CODE_STATUSES:
        raise ParamError("status must be FREEZE or UNFREEZE")
    services.license_code_set_status(
        code=code, status=status, is_test=fields.test_flag(payload), raw=_raw(payload), **_by(caller)
    )
    return Result.ok()


def release_license_code(payload: dict[str, Any], caller: Caller) -> Result:
    services.license_code_release(
        code=fields.identifier(payload, "license", required=True, limit=ID),
        order_id=fields.identifier(payload, "orderId", limit=ID),
        order_line_id=fields.identifier(payload, "orderLineId", limit=ID),
        is_test=fields.test_flag(payload),
        raw=_raw(payload),
        **_by(caller),
    )
    return Result.ok()


def get_license_async(payload: dict[str, Any], caller: Caller) -> Result:
    """Always 000004: the licence is uploaded afterwards (U28). Returned, not raised, so the
    licence and its upload job are kept."""
    instance_id = fields.text(payload, "instanceId", required=True)
    event_id = fields.identifier(payload, "eventId", required=True, limit=ID)
    effective_at = fields.utc_time(payload, "effectiveTime", required=True)
    services.license_request_online(
        instance_id=instance_id,
        event_id=event_id,
        fingerprint=fields.text(payload, "deviceFingerprint"),
        effective_at=effective_at,
        expires_at=fields.utc_time(payload, "expireTime"),
        is_test=fields.test_flag(payload),
        raw=_raw(payload),
        **_by(caller),
    )
    return Result.of(IN_PROGRESS, "the licence will be uploaded")
