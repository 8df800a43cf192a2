"""Reading a Query Order answer (koogallery-protocol.md §7.1) tolerantly.

The documented table is incomplete (the public copies are cut off after the order line's first
members), so every member is looked up under the names seen in Huawei's examples, missing ones are
simply absent, and the whole answer is stored raw beside what we took from it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings

from marketplace_isv.crypto import DecryptionError, aes_decrypt, looks_encrypted
from marketplace_isv.envelope import ParamError
from marketplace_isv.fields import INT_MAX, INT_MIN, key_fit, parse_utc

from .inserts import fit
from .models import ChargingMode, Instance

_INT = re.compile(r"[+-]?[0-9]{1,10}")

logger = logging.getLogger(__name__)

CHARGING_MODES = {mode.value for mode in ChargingMode}


@dataclass(frozen=True)
class OrderDetails:
    order_type: str = ""
    charging_mode: str = ""
    period_type: str = ""
    period_number: int | None = None
    expires_at: datetime | None = None
    created_at: datetime | None = None
    product_id: str = ""
    sku_code: str = ""
    product_name: str = ""
    linear_value: int | None = None
    customer_id: str = ""
    customer_name: str = ""
    mobile_phone: str = ""
    email: str = ""
    extend_params: list = field(default_factory=list)


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _first(mapping: dict, *names: str) -> Any:
    for name in names:
        value = mapping.get(name)
        if value not in (None, ""):
            return value
    return None


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, (dict, list)) else str(value).strip()


def _int(value: Any) -> int | None:
    """A Java int in plain ASCII digits, else None (nothing the columns could not hold)."""
    text = str(value).strip()
    if not _INT.fullmatch(text):
        return None
    number = int(text)
    return number if INT_MIN <= number <= INT_MAX else None


def _time(value: Any) -> datetime | None:
    text = _text(value)
    if not text:
        return None
    try:
        return parse_utc(text[:17] if len(text) >= 17 else text[:14])
    except ParamError:
        return None


def _plain(value: Any) -> str:
    """buyerInfo mobile/email: decrypted only if it has the IV + Base64 shape and decrypts (U40)."""
    text = _text(value)
    if text and looks_encrypted(text):
        try:
            return aes_decrypt(text, settings.KOOGALLERY_ACCESS_KEY, settings.KOOGALLERY_ENCRYPT_TYPE)
        except DecryptionError:
            return text
    return text


def order_line(answer: dict, order_line_id: str = "") -> dict:
    lines = _dict(answer.get("orderInfo")).get("orderLine") or []
    lines = [line for line in lines if isinstance(line, dict)] if isinstance(lines, list) else []
    for line in lines:
        # The id we hold may be fitted to its column (marketplace_isv.fields.key_fit): compare alike.
        if order_line_id and key_fit(_text(line.get("orderLineId")) or "") == order_line_id:
            return line
    return lines[0] if lines else {}


def parse(answer: dict, order_line_id: str = "") -> OrderDetails:
    info = _dict(answer.get("orderInfo"))
    line = order_line(answer, order_line_id)
    product = line.get("productInfo")
    if isinstance(product, list):
        product = next((p for p in product if isinstance(p, dict)), {})
    product = _dict(product)
    buyer = _dict(info.get("buyerInfo"))
    mode = _text(line.get("chargingMode")).upper()
    extend = info.get("extendParams")
    return OrderDetails(
        order_type=_text(info.get("orderType")).upper(),
        charging_mode=mode if mode in CHARGING_MODES else "",
        period_type=_text(line.get("periodType")),
        period_number=_int(line.get("periodNumber")),
        expires_at=_time(line.get("expireTime")),
        created_at=_time(info.get("createTime")),
        product_id=_text(_first(product, "productId") or _first(line, "productId")),
        sku_code=_text(_first(product, "skuCode") or _first(line, "skuCode")),
        product_name=_text(_first(product, "productName") or _first(line, "productName")),
        linear_value=_int(_first(product, "linearValue", "amount") or _first(line, "linearValue", "amount")),
        customer_id=_text(_first(buyer, "customerId") or _first(info, "customerId")),
        customer_name=_text(_first(buyer, "customerName") or _first(info, "customerName")),
        mobile_phone=_plain(_first(buyer, "mobilePhone", "mobile")),
        email=_plain(_first(buyer, "email")),
        extend_params=extend if isinstance(extend, list) else [],
    )


def apply_to_instance(instance: Instance, details: OrderDetails, *, purchase: bool) -> list[str]:
    """Copy what the order says onto the instance; returns the fields changed.

    The purchase order fills in the buyer and the initial expiry; any order (purchase, upgrade,
    renewal with a change) sets the spec. An expiry set by refreshInstance is never overwritten by
    Query Order's approximate one (§4.2.1: act on the later calls)."""
    changes: dict[str, Any] = {
        "product_id": key_fit(details.product_id) if details.product_id else details.product_id,
        "sku_code": details.sku_code,
        "product_name": details.product_name,
        "charging_mode": details.charging_mode,
        "period_type": details.period_type,
        "period_number": details.period_number,
        "quantity": details.linear_value,
    }
    if purchase:
        changes.update(
            customer_id=details.customer_id,
            customer_name=details.customer_name,
            mobile_phone=details.mobile_phone,
            email=details.email,
        )
        if instance.expires_at is None:
            changes["expires_at"] = details.expires_at
        if details.order_type == "TRIAL":
            changes["is_trial"] = True
    if details.order_type == "TRIAL_TO_FORMAL":
        changes["is_trial"] = False
    changed = []
    for name, value in changes.items():
        if value in (None, "") or getattr(instance, name) == value:
            continue
        setattr(instance, name, value)
        changed.append(name)
    if purchase and details.extend_params and not instance.saas_extend_params:
        instance.saas_extend_params = details.extend_params
        changed.append("saas_extend_params")
    fit(instance, changed)  # Query Order's text may exceed its documented maxima too (§4.0)
    return changed
