"""Reading KooGallery's request fields tolerantly (koogallery-protocol.md §4.0).

Callbacks use these to validate their fields: any documented field may arrive as a JSON string
or number; missing mandatory fields raise ParamError (000002).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from . import strict_json
from .envelope import ParamError

_INTEGER = re.compile(r"^[+-]?[0-9]{1,18}(?:\.0+)?$")
_DECIMAL = re.compile(r"^[+-]?[0-9]{1,20}(?:\.[0-9]{1,10})?$")  # BigDecimal(20), up to 3 decimals documented
_STORED_PLACES, _DECIMAL_BOUND = Decimal("0.0001"), Decimal(10) ** 20


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        # §4.0 accepts a documented field as a string or a number; true/false is neither (§2.8).
        raise ParamError("a text field holds true or false")
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    raise ParamError("a text field holds an object or an array")


def text(payload: dict[str, Any], name: str, *, required: bool = False, default: str = "", limit: int = 0) -> str:
    """`limit`: the column's length; longer text is cut, never refused (§4.0)."""
    value = _text(payload.get(name))
    if not value:
        if required:
            raise ParamError(f"{name} is required")
        return default
    return value[:limit] if limit else value


ID_LENGTH = 255  # every id column's length (orders, licences, tenants, the journal)


def key_fit(value: str, limit: int = ID_LENGTH) -> str:
    """An identifier for a column of `limit` characters. One that fits is kept as sent. A longer
    one (§4.0: never refused) keeps its beginning and a SHA-256 digest of the whole, so two long
    ids that share a beginning never merge into one row, and every call with the same id finds the
    same row."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    digest = digest[: max(16, min(len(digest), limit // 2))]  # a narrow column keeps a shorter digest
    return f"{value[: limit - len(digest) - 1]}~{digest}"  # "~": safe in a URL, unlike "#"


def identifier(payload: dict[str, Any], name: str, *, required: bool = False, limit: int) -> str:
    """`text` for a field that is a key (an order id, a licence code, an eventId): fitted to its
    column with `key_fit`, not cut."""
    return key_fit(text(payload, name, required=required), limit)


def base64_text(payload: dict[str, Any], name: str) -> str:
    """A Base64 field of a query string (§2.7, §3.1): spaces mapped back to `+` *before* the
    surrounding whitespace is trimmed, so a trailing `+` that form decoding turned into a space
    survives."""
    value = payload.get(name)
    if isinstance(value, str):
        return value.replace(" ", "+").strip()
    return _text(value) or ""


def test_flag(payload: dict[str, Any]) -> bool:
    """`"1"`/`1` = debug traffic; absent, `"0"` or `0` = real traffic (§4.0)."""
    return _text(payload.get("testFlag")) == "1"


INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def integer(payload: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    value = _text(payload.get(name))
    if not value:
        if required:
            raise ParamError(f"{name} is required")
        return None
    # Plain digits only (an optional ".0" tail): exponents, NaN and Infinity are refused before any
    # conversion — int(Decimal("1e1000000")) alone would outlast KooGallery's deadline.
    if not _INTEGER.match(value):
        raise ParamError(f"{name} is not an integer")
    number = int(value.split(".")[0])
    if not INT_MIN <= number <= INT_MAX:  # every integer field is Huawei's "Int", a Java int
        raise ParamError(f"{name} is out of range (a 32-bit integer)")
    return number


def decimal(payload: dict[str, Any], name: str) -> Decimal | None:
    value = _text(payload.get(name))
    if not value:
        return None
    if not _DECIMAL.match(value):
        raise ParamError(f"{name} is not a number")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ParamError(f"{name} is not a number") from None
    if abs(number.quantize(_STORED_PLACES)) >= _DECIMAL_BOUND:  # stored with 4 decimals: may round up
        raise ParamError(f"{name} is out of range (BigDecimal(20))")
    return number


def utc_time(payload: dict[str, Any], name: str, *, required: bool = False) -> datetime | None:
    """`yyyyMMddHHmmss` or `yyyyMMddHHmmssSSS`, UTC (U19)."""
    value = _text(payload.get(name))
    if not value:
        if required:
            raise ParamError(f"{name} is required")
        return None
    return parse_utc(value, name=name)


def parse_utc(value: str, *, name: str = "time") -> datetime:
    if not (value.isascii() and value.isdigit()) or len(value) not in (14, 17):  # "²" is a digit to isdigit
        raise ParamError(f"{name} must be yyyyMMddHHmmss or yyyyMMddHHmmssSSS")
    try:
        moment = datetime.strptime(value[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise ParamError(f"{name} is not a valid time") from None
    if len(value) == 17:
        moment = moment.replace(microsecond=int(value[14:]) * 1000)
    return moment


def format_utc_ms(moment: datetime) -> str:
    """`yyyyMMddHHmmssSSS` in UTC, as usageInfo.statisticalTime wants it."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}"


def json_value(payload: dict[str, Any], name: str, *, required: bool = False) -> Any:
    """A member that may arrive as JSON or as a string holding JSON (V1 userList/orgInfo, U10)."""
    value = payload.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ParamError(f"{name} is required")
        return None
    if isinstance(value, str):
        try:
            value = strict_json.loads(value, refuse_nul=True)
        except ValueError as exc:
            raise ParamError(f"{name} is not valid JSON: {exc}") from None
    return value


def base64_json(value: str, *, name: str) -> Any:
    """`saasExtendParams`: Base64 of UTF-8 JSON (the URL decoding already happened) (§4.2.1)."""
    cleaned = "".join(value.replace(" ", "+").split())
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return strict_json.loads(base64.b64decode(cleaned).decode("utf-8"), refuse_nul=True)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ParamError(f"{name} is not Base64-encoded JSON") from None
