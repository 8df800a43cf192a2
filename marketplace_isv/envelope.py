"""Result codes, typed errors and the one place that turns a result into signed bytes (§2.6, §6).

Handlers return a `Result` or raise a `ProtocolError`; `render()` serialises the answer exactly
once (compact separators, ASCII only, no trailing newline) and signs those very bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .crypto import hmac_b64

SUCCESS = "000000"
AUTH_FAILED = "000001"
PARAM_INVALID = "000002"
INSTANCE_NOT_FOUND = "000003"
IN_PROGRESS = "000004"
INTERNAL_ERROR = "000005"
NO_RESOURCE = "000100"
MOBILE_INVALID = "000101"
EMAIL_INVALID = "000102"
CANNOT_BUY_TWICE = "000103"
PRODUCT_SERVICE_ERROR = "000104"
ENTITLEMENT_EXISTS = "000105"
SOLD_OUT = "000106"
EMAIL_DOMAIN_EXISTS = "000107"
LICENSE_QUOTA_EXCEEDED = "000900"
LICENSE_OUTSIDE_VALIDITY = "000901"
LICENSE_EXPIRY_REQUIRED = "000902"
LICENSE_FINGERPRINT_REQUIRED = "000903"

DEFAULT_MESSAGES = {
    SUCCESS: "success.",
    AUTH_FAILED: "authentication failed",
    PARAM_INVALID: "invalid request parameter",
    INSTANCE_NOT_FOUND: "instance does not exist",
    IN_PROGRESS: "request in progress",
    INTERNAL_ERROR: "internal error",
    NO_RESOURCE: "no instance resource available",
    MOBILE_INVALID: "mobile number empty or already exists",
    EMAIL_INVALID: "email empty or already exists",
    CANNOT_BUY_TWICE: "product cannot be bought twice",
    PRODUCT_SERVICE_ERROR: "product internal service error",
    ENTITLEMENT_EXISTS: "account already holds this entitlement",
    SOLD_OUT: "product resources sold out",
    EMAIL_DOMAIN_EXISTS: "email domain already exists",
    LICENSE_QUOTA_EXCEEDED: "not enough licence quota",
    LICENSE_OUTSIDE_VALIDITY: "licence requested outside the order's validity",
    LICENSE_EXPIRY_REQUIRED: "a periodic licence needs an expiry date",
    LICENSE_FINGERPRINT_REQUIRED: "device fingerprint required",
}

RESULT_MSG_MAX = 255  # §4.0: resultMsg ≤ 255 characters
CONTENT_TYPE = "application/json;charset=UTF-8"


@dataclass(frozen=True)
class Result:
    """An answer to KooGallery: a result code, a message and the interface's extra members."""

    code: str = SUCCESS
    msg: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def ok(cls, msg: str | None = None, **fields: Any) -> Result:
        return cls(SUCCESS, msg, fields)

    @classmethod
    def of(cls, code: str, msg: str | None = None, **fields: Any) -> Result:
        return cls(code, msg, fields)

    @property
    def message(self) -> str:
        text = self.msg if self.msg else DEFAULT_MESSAGES.get(self.code, "")
        return text[:RESULT_MSG_MAX]

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"resultCode": self.code, "resultMsg": self.message}
        body.update({k: v for k, v in self.fields.items() if v is not None})
        return body


class ProtocolError(Exception):
    """An error that is a value: it carries the result code KooGallery gets (house style 8)."""

    code = INTERNAL_ERROR

    def __init__(self, msg: str | None = None, *, code: str | None = None, **fields: Any):
        self.msg = msg
        if code is not None:
            self.code = code
        self.fields = fields
        super().__init__(msg or DEFAULT_MESSAGES.get(self.code, self.code))

    def result(self) -> Result:
        return Result(self.code, self.msg, self.fields)


class AuthError(ProtocolError):
    code = AUTH_FAILED


class ParamError(ProtocolError):
    code = PARAM_INVALID


class UnknownInstance(ProtocolError):
    code = INSTANCE_NOT_FOUND


class InProgress(ProtocolError):
    code = IN_PROGRESS


class InternalError(ProtocolError):
    code = INTERNAL_ERROR


def serialise(result: Result) -> bytes:
    """The exact response bytes: compact, non-ASCII as \\uXXXX, no trailing newline (§2.6)."""
    return json.dumps(result.as_dict(), ensure_ascii=True, separators=(",", ":")).encode("ascii")


def body_sign(body: bytes, key: str) -> str:
    """The `Body-Sign` header value: Base64(HMAC(key alone, exact body bytes)) (§2.6, U12)."""
    return f'sign_type="HMAC-SHA256", signature="{hmac_b64(key, body)}"'


def render(result: Result, key: str) -> tuple[bytes, str]:
    body = serialise(result)
    return body, body_sign(body, key)
