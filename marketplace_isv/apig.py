"""APIG `SDK-HMAC-SHA256` request signing with the account AK/SK (koogallery-protocol.md §7.3).

Pure functions: used by the open API client to sign, and by the simulator's fake open API to
check signatures exactly the same way.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from .crypto import hmac_hex

ALGORITHM = "SDK-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def sdk_date(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _enc(value: str) -> str:
    return quote(value, safe="-_.~")


def canonical_uri(path: str) -> str:
    """Percent-decode the path, split it on "/", RFC 3986-encode each segment (§7.3)."""
    segments = [_enc(segment) for segment in unquote(path).split("/")]
    uri = "/".join(segments)
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(params: list[tuple[str, str]]) -> str:
    return "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(params))


def canonical_request(
    method: str, path: str, params: list[tuple[str, str]], headers: dict[str, str], body: bytes
) -> tuple[str, str]:
    """Returns (CanonicalRequest, SignedHeaders)."""
    lowered = {name.lower(): value.strip() for name, value in headers.items()}
    names = sorted(lowered)
    canonical_headers = "".join(f"{name}:{lowered[name]}\n" for name in names)
    signed_headers = ";".join(names)
    text = "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(params),
            canonical_headers,
            signed_headers,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    return text, signed_headers


def string_to_sign(canonical: str, date: str) -> str:
    return f"{ALGORITHM}\n{date}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


def signature(sk: str, method: str, path: str, params, headers: dict[str, str], body: bytes) -> tuple[str, str]:
    """Returns (Signature, SignedHeaders). `headers` must include X-Sdk-Date and Host."""
    date = next(v for k, v in headers.items() if k.lower() == "x-sdk-date")
    canonical, signed_headers = canonical_request(method, path, params, headers, body)
    return hmac_hex(sk, string_to_sign(canonical, date)), signed_headers


def authorization(ak: str, sk: str, method: str, path: str, params, headers: dict[str, str], body: bytes) -> str:
    sig, signed_headers = signature(sk, method, path, params, headers, body)
    return f"{ALGORITHM} Access={ak}, SignedHeaders={signed_headers}, Signature={sig}"


def parse_authorization(value: str) -> dict[str, str] | None:
    """`SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…` → its three parts."""
    if not value or not value.startswith(ALGORITHM + " "):
        return None
    parts = {}
    for piece in value[len(ALGORITHM) + 1 :].split(","):
        name, _, val = piece.strip().partition("=")
        parts[name] = val
    if not {"Access", "SignedHeaders", "Signature"} <= parts.keys():
        return None
    return parts
