"""The four ways KooGallery authenticates a call (koogallery-protocol.md §2).

`verify(inbound) -> Caller` checks the raw bytes against every candidate key (constant-time) and
only then lets anything parse the payload. Failures raise AuthError (000001, §2.8).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from . import keys, strict_json
from .crypto import constant_time_equal, hmac_b64, hmac_hex, hmac_sha256
from .envelope import AuthError, ParamError
from .inbound import Inbound

logger = logging.getLogger(__name__)

V1 = "v1"
V2 = "v2"
KIT_V1 = "kit_v1"
KIT_V2 = "kit_v2"


@dataclass(frozen=True)
class Caller:
    """Who called, as far as authentication could tell. Handed to every handler."""

    scheme: str
    key: keys.Key
    variant: str = "raw"
    nonce: str | None = None
    timestamp: str | None = None
    delivery_id: uuid.UUID | None = None  # the journal row's id: views.answer() sets it
    actor: str = "marketplace"  # "marketplace", or "operator:<username>" on an admin replay
    # pipeline.OneStatement, for the handler of a routes.ONE_STATEMENT interface; None otherwise.
    one_statement: Any = None

    @property
    def is_kit(self) -> bool:
        return self.scheme in (KIT_V1, KIT_V2)

    @property
    def generation(self) -> int:
        return 1 if self.scheme in (V1, KIT_V1) else 2


def strip_quotes(value: str | None) -> str | None:
    """Trim whitespace and one pair of surrounding double quotes (U9)."""
    if value is None:
        return None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].strip()
    return value


def sorted_compact(payload: dict[str, Any]) -> bytes:
    """The fallback payload of §2.5: top-level nulls dropped, top-level names sorted, compact,
    non-ASCII as literal UTF-8, nested members untouched."""
    ordered = {k: payload[k] for k in sorted(payload) if payload[k] is not None}
    return json.dumps(ordered, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def parse_epoch_ms(raw: str | None, *, what: str) -> int:
    """A V2 timestamp in ms, or in seconds when below 10^11 (U2)."""
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise AuthError(f"{what} missing or not a decimal integer")
    value = int(raw)
    return value if value >= 10**11 else value * 1000


def check_window(ts_ms: int, *, what: str) -> None:
    tolerance_ms = settings.KOOGALLERY_SIGNATURE_TOLERANCE_SECONDS * 1000
    skew = int(time.time() * 1000) - ts_ms
    if abs(skew) > tolerance_ms:
        raise AuthError(f"{what} outside the ±{settings.KOOGALLERY_SIGNATURE_TOLERANCE_SECONDS}s window")


# --- §2.1 V1 authToken on the GET query string ---------------------------------------------------


def v1_message(pairs: list[tuple[str, str]], *, keep_empty: bool) -> str:
    params: dict[str, str] = {}
    for name, value in pairs:
        if name != "authToken":
            params.setdefault(name, value)  # the first occurrence, as the handlers read it
    # U8's variant leaves out what is empty *as the handlers read it*: dropping empties before
    # taking first occurrences would sign a later `name=value` the handler never sees.
    kept = sorted(name for name, value in params.items() if keep_empty or value != "")
    return "&".join(f"{name}={params[name]}" for name in kept)


def verify_v1(inbound: Inbound) -> Caller:
    exact = inbound.query_pairs()
    first = inbound.query()  # the first occurrence of a repeated parameter, as everywhere else
    token = first.get("authToken")
    time_stamp = first.get("timeStamp")
    if not token:
        raise AuthError("authToken missing")
    if not time_stamp:
        raise AuthError("timeStamp missing")
    received = token.replace(" ", "+")
    form = inbound.query_pairs(form=True)
    variants = (
        ("rfc3986", exact, True),
        ("form-decoded", form, True),  # U7
        ("empty-skipped", exact, False),  # U8
    )
    candidates = keys.basic_keys()
    for variant, pairs, keep_empty in variants:
        message = v1_message(pairs, keep_empty=keep_empty)
        for key in candidates:
            if constant_time_equal(hmac_b64(key.secret + time_stamp, message), received):
                if variant != "rfc3986":
                    logger.info("auth.v1_variant variant=%s", variant)
                _log_v1_skew(time_stamp)
                return Caller(V1, key, variant=variant, timestamp=time_stamp)
    raise AuthError("authToken does not match")


def _log_v1_skew(time_stamp: str) -> None:
    """V1 has no freshness window (U6): only log a large skew."""
    try:
        sent = datetime.strptime(time_stamp[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        logger.info("auth.v1_timestamp_unparsed")
        return
    skew = abs((datetime.now(UTC) - sent).total_seconds())
    if skew > 600:
        logger.info("auth.v1_timestamp_skew seconds=%d", skew)


# --- §2.2 Kit V1 authToken header over the body's members ----------------------------------------


def _member_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))  # U10


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def kit_v1_message(payload: dict[str, Any], *, keep_blank: bool, blank_as_empty: bool = False) -> str:
    """§2.2: `k=v&…` sorted by name. Blank members (null, empty, whitespace only) are skipped, or
    kept: as received, or — `blank_as_empty` — as `k=` (U8: "kept as `k=`")."""
    members = {}
    for name, value in payload.items():
        if _is_blank(value):
            if not keep_blank:
                continue
            members[name] = "" if value is None or blank_as_empty else value
        else:
            members[name] = _member_text(value)
    return "&".join(f"{name}={members[name]}" for name in sorted(members))


def verify_kit_v1(inbound: Inbound) -> Caller:
    token = strip_quotes(inbound.header("authToken"))
    if not token:
        raise AuthError("authToken header missing")
    payload = inbound.json_object_or_none()
    if payload is None:  # the timeStamp and the signed members are in the body (§2.2, §2.8)
        raise AuthError("body is not a JSON object: no timeStamp to verify with")
    time_stamp = payload.get("timeStamp")
    if _is_blank(time_stamp):
        raise AuthError("timeStamp missing from the body")
    time_stamp = _member_text(time_stamp)
    received = token.replace(" ", "+")
    candidates = keys.kit_keys()
    variants = [("blank-skipped", False, False), ("blank-kept", True, False)]
    if any(isinstance(v, str) and v and not v.strip() for v in payload.values()):
        variants.append(("blank-emptied", True, True))  # whitespace-only members signed as `k=`
    for variant, keep_blank, blank_as_empty in variants:
        message = kit_v1_message(payload, keep_blank=keep_blank, blank_as_empty=blank_as_empty)
        for key in candidates:
            if constant_time_equal(hmac_b64(key.secret + time_stamp, message), received):
                return Caller(KIT_V1, key, variant=variant, timestamp=time_stamp)
    raise AuthError("authToken does not match")


# --- §2.3 V2 signature / timestamp / nonce on the query string -----------------------------------


def v2_signature(secret: str, nonce: str, timestamp: str, payload: bytes) -> str:
    inner = hmac_hex(secret, payload)
    return hmac_hex(secret, secret + nonce + timestamp + inner)


def _payload_variants(inbound: Inbound):
    yield "raw", inbound.body
    parsed = inbound.json_object_or_none()
    if parsed is not None:
        fallback = sorted_compact(parsed)
        if fallback != inbound.body:
            yield "sorted", fallback


def verify_v2(inbound: Inbound) -> Caller:
    query = inbound.query()
    signature, timestamp, nonce = query.get("signature"), query.get("timestamp"), query.get("nonce")
    if not signature or not timestamp or not nonce:
        raise AuthError("signature, timestamp or nonce missing")
    check_window(parse_epoch_ms(timestamp, what="timestamp"), what="timestamp")
    received = signature.strip().lower()
    candidates = keys.basic_keys()
    for variant, payload in _payload_variants(inbound):
        for key in candidates:
            if constant_time_equal(v2_signature(key.secret, nonce, timestamp, payload), received):
                return Caller(V2, key, variant=variant, nonce=nonce, timestamp=timestamp)
    raise AuthError("signature does not match")


# --- §2.4 Kit V2 x-sign / x-timestamp / x-nonce headers ------------------------------------------


def kit_v2_signature(secret: str, nonce: str, timestamp: str, payload: bytes) -> str:
    return hmac_sha256(secret, (secret + nonce + timestamp).encode("utf-8") + payload).hex()


def verify_kit_v2(inbound: Inbound) -> Caller:
    sign = strip_quotes(inbound.header("x-sign"))
    timestamp = strip_quotes(inbound.header("x-timestamp"))
    nonce = strip_quotes(inbound.header("x-nonce"))
    if not sign or not timestamp or not nonce:
        raise AuthError("x-sign, x-timestamp or x-nonce missing")
    check_window(parse_epoch_ms(timestamp, what="x-timestamp"), what="x-timestamp")
    received = sign.lower()
    candidates = keys.kit_keys()
    for variant, payload in _payload_variants(inbound):
        for key in candidates:
            if constant_time_equal(kit_v2_signature(key.secret, nonce, timestamp, payload), received):
                return Caller(KIT_V2, key, variant=variant, nonce=nonce, timestamp=timestamp)
    raise AuthError("x-sign does not match")


VERIFIERS = {V1: verify_v1, V2: verify_v2, KIT_V1: verify_kit_v1, KIT_V2: verify_kit_v2}


def payload_of(caller: Caller, inbound: Inbound) -> dict[str, Any]:
    """The verified payload: the query decoded the way that verified (V1), else the JSON object.
    NUL characters are refused (000002): no field of the protocol carries one, and PostgreSQL
    text cannot store them."""
    if caller.scheme == V1:
        payload = inbound.query(form=caller.variant == "form-decoded")
        if "\x00" in inbound.raw_query or any("\x00" in k or "\x00" in v for k, v in payload.items()):
            raise ParamError("NUL characters are not accepted")
        return payload
    payload = inbound.json_object()
    if b"\\u0000" in inbound.body and strict_json.contains_nul(payload):
        raise ParamError("NUL characters are not accepted")
    return payload
