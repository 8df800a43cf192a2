"""Authenticating Huawei's Agents gateway (koogallery-protocol.md §12), as plain Python.

No Django, no third-party package: the seller's own AI service can copy or import this module and
call `auth.verify(headers)` with any mapping of request headers (a dict, Flask's `request.headers`,
Django's `request.headers`). Two modes, chosen when the agent is registered (注册Agents):

- AK/SK (`JwtAuth`): the gateway signs an HS256 JWT with the APP Secret; header
  `{"alg":"HS256","sign_type":"SIGN"}`, payload `{"api_key", "timestamp", "exp"}` where both times
  are epoch **milliseconds** — a standard JWT library reads `exp` as seconds and would never expire
  such a token, so the check is done here. The APP Key in the payload picks the secret, so several
  pairs can be live during a rotation.
- Own auth, 自主认证 (`HeaderAuth`): the gateway forwards a constant header the seller chose.

A refused call raises `Refusal` with a precise `reason` for logs; callers answer a generic 401.
Secrets and tokens never appear in a `Refusal`, a `repr` or a log line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

DEFAULT_HEADER = "Authorization"
DEFAULT_PREFIX = "Bearer "
TOKEN_TTL_MS = 5 * 60 * 1000  # the gateway's tokens expire 5 minutes after `timestamp` (§12)
DEFAULT_SKEW_MS = 30_000
JWT_HEADER = {"alg": "HS256", "sign_type": "SIGN"}


class Reason(StrEnum):
    MISSING_HEADER = "missing_header"
    WRONG_HEADER_FORM = "wrong_header_form"
    MALFORMED = "malformed"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    UNKNOWN_KEY = "unknown_key"
    WRONG_SECRET = "wrong_secret"
    EXPIRED = "expired"


class Refusal(Exception):
    """Why a call was refused. `detail` is safe to log: it never holds a token or a secret."""

    def __init__(self, reason: Reason, detail: str = "", *, api_key: str = "", form: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else str(reason))
        self.reason = reason
        self.detail = detail
        self.api_key = api_key  # only set when the key is one of ours (never attacker text)
        self.form = form


@dataclass(frozen=True)
class Verified:
    """A call the gateway made. `api_key` is the APP Key (JWT mode), empty in header mode."""

    mode: str
    header: str
    form: str  # "bearer", "bare" (JWT mode) or "constant" (header mode)
    api_key: str = ""
    timestamp_ms: int | None = None
    expires_ms: int | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup in any mapping of headers; also a WSGI environ (HTTP_…)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    wsgi = "HTTP_" + name.upper().replace("-", "_")
    for key, candidate in headers.items():
        if isinstance(key, str) and (key.lower() == lowered or key == wsgi):
            return candidate
    return None


# --- base64url and the token ---------------------------------------------------------------------


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The one base64url encoding of some bytes, as JWS writes it (RFC 7515 §2): no padding, no
    other character, unused bits zero. Anything else is ValueError: a token has a single spelling,
    so a padded or re-spelled signature is not the signature the gateway sent."""
    if not text or len(text) % 4 == 1 or any(c not in _B64URL for c in text):
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(data) != text:
        raise ValueError("not the canonical base64url of its bytes")
    return data


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _compact(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _hs256(secret: str, signing_input: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), signing_input, hashlib.sha256).digest()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def sign_token(
    api_key: str,
    secret: str,
    *,
    timestamp_ms: int | None = None,
    ttl_ms: int = TOKEN_TTL_MS,
    expiry_claim: str = "exp",
    header: Mapping[str, Any] | None = None,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """A token as the gateway makes it (§12): used by the simulator and by tests."""
    timestamp_ms = now_ms() if timestamp_ms is None else timestamp_ms
    payload: dict[str, Any] = {"api_key": api_key, "timestamp": timestamp_ms}
    if expiry_claim:
        payload[expiry_claim] = timestamp_ms + ttl_ms
    payload.update(extra_claims or {})
    signing_input = f"{b64url_encode(_compact(header or JWT_HEADER))}.{b64url_encode(_compact(payload))}"
    signature = _hs256(secret, signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_object(segment: str, what: str) -> dict[str, Any]:
    # Read before the signature is checked, so anyone can send anything here: nesting too deep
    # (RecursionError), NaN/Infinity and non-UTF-8 bytes are a malformed token like any other.
    try:
        value = json.loads(b64url_decode(segment).decode("utf-8"), parse_constant=_not_json)
    except (ValueError, binascii.Error, RecursionError) as exc:
        raise Refusal(Reason.MALFORMED, f"the token's {what} is not base64url JSON") from exc
    if not isinstance(value, dict):
        raise Refusal(Reason.MALFORMED, f"the token's {what} is not a JSON object")
    return value


def _epoch_ms(value: Any, claim: str) -> int:
    """A millisecond time claim: an integer (or an integral number / digit string, for tolerance)."""
    if isinstance(value, bool):
        raise Refusal(Reason.MALFORMED, f"claim {claim!r} is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    # ASCII digits only: str.isdigit() also holds for "²" (int() refuses it) and "٣" (int() reads
    # 3), and int() refuses more than 4300 digits.
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= 30:
        return int(text)
    raise Refusal(Reason.MALFORMED, f"claim {claim!r} is not an integer of milliseconds")


# --- the two modes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class JwtAuth:
    """AK/SK mode. `keys` maps APP Key -> APP Secret (several during a rotation).

    `prefix` ("Bearer ") is optional on the wire unless `form` says otherwise: "any" accepts
    `<prefix><token>` and a bare `<token>`, "bearer" only the first, "bare" only the second.
    `expiry_claim` names the millisecond expiry claim; `exp` is always accepted too, and with
    neither present the token expires `max_age_ms` after its `timestamp`.
    """

    keys: Mapping[str, str]
    header: str = DEFAULT_HEADER
    prefix: str = DEFAULT_PREFIX
    form: str = "any"
    expiry_claim: str = "exp"
    skew_ms: int = DEFAULT_SKEW_MS
    max_age_ms: int = TOKEN_TTL_MS
    mode: str = "jwt"

    def __post_init__(self) -> None:
        if not self.keys or not all(k and s for k, s in self.keys.items()):
            raise ValueError("JwtAuth needs at least one APP Key with a non-empty APP Secret")
        if self.form not in {"any", "bearer", "bare"}:
            raise ValueError("form must be any, bearer or bare")

    def __repr__(self) -> str:  # never print a secret by accident
        return f"JwtAuth(keys={sorted(self.keys)!r}, header={self.header!r}, form={self.form!r})"

    def extract(self, headers: Mapping[str, str]) -> tuple[str, str]:
        """(token, form) from the configured header, or a Refusal."""
        raw = header_value(headers, self.header)
        if raw is None or not raw.strip():
            raise Refusal(Reason.MISSING_HEADER, f"no {self.header} header")
        value = raw.strip()
        prefix = self.prefix.strip()
        if prefix and value[: len(prefix)].lower() == prefix.lower() and value[len(prefix) :][:1] in ("", " ", "\t"):
            token, form = value[len(prefix) :].strip(), "bearer"  # "Bearer" alone: no token, wrong form
        else:
            token, form = value, "bare"
        if not token or any(c.isspace() for c in token):
            raise Refusal(Reason.WRONG_HEADER_FORM, f"{self.header} is not [{prefix} ]<token>", form=form)
        if self.form != "any" and form != self.form:
            raise Refusal(Reason.WRONG_HEADER_FORM, f"{self.header} must be the {self.form} form", form=form)
        if token.count(".") != 2:
            raise Refusal(Reason.MALFORMED, "the token is not three dot-separated parts", form=form)
        return token, form

    def verify(self, headers: Mapping[str, str], *, at_ms: int | None = None) -> Verified:
        token, form = self.extract(headers)
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = _json_object(header_b64, "header")
        payload = _json_object(payload_b64, "payload")
        # Only HS256: "none" or an asymmetric algorithm would let anyone forge a token.
        if header.get("alg") != "HS256":
            raise Refusal(Reason.UNSUPPORTED_ALGORITHM, f"alg {str(header.get('alg'))[:20]!r} is not HS256", form=form)
        api_key = payload.get("api_key")
        if not isinstance(api_key, str) or not api_key:
            raise Refusal(Reason.MALFORMED, "the payload has no api_key", form=form)
        # The APP Key travels in clear in the payload, so looking it up is no leak; the secret
        # comparison below is constant-time.
        secret = self.keys.get(api_key)
        if secret is None:
            raise Refusal(Reason.UNKNOWN_KEY, "api_key is not a configured APP Key", form=form)
        try:
            signature = b64url_decode(signature_b64)
        except (ValueError, binascii.Error) as exc:
            raise Refusal(Reason.MALFORMED, "the signature is not base64url", api_key=api_key, form=form) from exc
        expected = _hs256(secret, f"{header_b64}.{payload_b64}".encode("ascii"))
        if not hmac.compare_digest(signature, expected):
            raise Refusal(Reason.WRONG_SECRET, "the HS256 signature does not match", api_key=api_key, form=form)
        # Claims are read only once the signature holds.
        timestamp = payload.get("timestamp")
        timestamp_ms = None if timestamp is None else _epoch_ms(timestamp, "timestamp")
        for claim in dict.fromkeys((self.expiry_claim, "exp")):
            if claim and payload.get(claim) is not None:
                expires_ms = _epoch_ms(payload[claim], claim)
                break
        else:
            if timestamp_ms is None:
                raise Refusal(Reason.MALFORMED, "the payload has neither an expiry nor a timestamp", form=form)
            expires_ms = timestamp_ms + self.max_age_ms
        at_ms = now_ms() if at_ms is None else at_ms
        if at_ms > expires_ms + self.skew_ms:
            raise Refusal(Reason.EXPIRED, f"expired {at_ms - expires_ms} ms ago", api_key=api_key, form=form)
        return Verified("jwt", self.header, form, api_key, timestamp_ms, expires_ms, payload)


@dataclass(frozen=True)
class HeaderAuth:
    """Own auth (自主认证): `header` must carry one of `values`, compared in constant time."""

    header: str
    values: tuple[str, ...]
    mode: str = "header"

    def __post_init__(self) -> None:
        if not self.header or not self.values or not all(self.values):
            raise ValueError("HeaderAuth needs a header name and a non-empty value")

    def __repr__(self) -> str:
        return f"HeaderAuth(header={self.header!r}, values={len(self.values)})"

    def verify(self, headers: Mapping[str, str], *, at_ms: int | None = None) -> Verified:
        raw = header_value(headers, self.header)
        if raw is None or not raw.strip():
            raise Refusal(Reason.MISSING_HEADER, f"no {self.header} header")
        given = raw.strip().encode("utf-8")
        # Compare against every value, without stopping at the first match.
        matched = False
        for value in self.values:
            matched |= hmac.compare_digest(given, value.encode("utf-8"))
        if not matched:
            raise Refusal(Reason.WRONG_SECRET, f"{self.header} does not hold the configured value", form="constant")
        return Verified("header", self.header, "constant")


GatewayAuth = JwtAuth | HeaderAuth


# --- configuration from the environment (the same variables as the Django app) -------------------


def parse_keys(text: str) -> dict[str, str]:
    """`key1:secret1,key2:secret2` -> {key: secret}; a secret may contain ':' (split at the first)."""
    keys: dict[str, str] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, secret = item.partition(":")
        if not sep or not key.strip() or not secret.strip():
            raise ValueError("AGENTS_GATEWAY_KEYS wants key:secret pairs separated by commas")
        keys[key.strip()] = secret.strip()
    return keys


def build(
    mode: str,
    *,
    keys: str | Mapping[str, str] = "",
    header: str = "",
    header_values: Iterable[str] = (),
    prefix: str = DEFAULT_PREFIX,
    form: str = "any",
    expiry_claim: str = "exp",
    skew_ms: int = DEFAULT_SKEW_MS,
) -> GatewayAuth | None:
    """The verifier for `mode` ("jwt", "header" or "off" -> None). ValueError on a bad setup."""
    mode = (mode or "off").strip().lower()
    if mode == "off":
        return None
    if mode == "jwt":
        return JwtAuth(
            keys=parse_keys(keys) if isinstance(keys, str) else dict(keys),
            header=header or DEFAULT_HEADER,
            prefix=prefix,
            form=form or "any",
            expiry_claim=expiry_claim or "exp",
            skew_ms=skew_ms,
        )
    if mode == "header":
        return HeaderAuth(header=header, values=tuple(v for v in header_values if v))
    raise ValueError(f"AGENTS_GATEWAY_MODE must be jwt, header or off, not {mode!r}")


def from_env(environ: Mapping[str, str]) -> GatewayAuth | None:
    """The verifier configured by the AGENTS_GATEWAY_* variables (docs/agents_gateway.md)."""

    def get(name: str, default: str = "") -> str:
        value = environ.get(name)
        return default if value is None or value == "" else value

    values = [get("AGENTS_GATEWAY_HEADER_VALUE")]
    values += [v.strip() for v in get("AGENTS_GATEWAY_PREVIOUS_HEADER_VALUES").split(",")]
    return build(
        get("AGENTS_GATEWAY_MODE", "off"),
        keys=get("AGENTS_GATEWAY_KEYS"),
        header=get("AGENTS_GATEWAY_HEADER"),
        header_values=values,
        prefix=get("AGENTS_GATEWAY_BEARER_PREFIX", DEFAULT_PREFIX),
        form=get("AGENTS_GATEWAY_TOKEN_FORM", "any"),
        expiry_claim=get("AGENTS_GATEWAY_EXPIRY_CLAIM", "exp"),
        skew_ms=int(get("AGENTS_GATEWAY_CLOCK_SKEW_MS", str(DEFAULT_SKEW_MS))),
    )
