"""How KooGallery signs its calls and checks our answers (koogallery-protocol.md §2.1–§2.6), and
how its open API checks ours (§7.2, §7.3), written from the protocol text alone.

The simulator signs and checks with these functions, never with the service's own code
(marketplace_isv.schemes, .crypto, .envelope, .apig, .openapi): a misreading of the protocol in
the service then shows up as a refused call in the tests instead of being mirrored by the
simulator. Both sides are pinned to the protocol's test vectors
(tests/marketplace_isv/test_vectors.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import quote, unquote


def _mac(key: str, message: bytes | str) -> bytes:
    data = message.encode("utf-8") if isinstance(message, str) else message
    return hmac.new(key.encode("utf-8"), data, hashlib.sha256).digest()


def v1_auth_token(access_key: str, params: list[tuple[str, str]]) -> str:
    """§2.1: Base64(HMAC(accessKey + timeStamp, k=v&… sorted by name, empty values kept as `k=`)).
    `params` are the decoded query parameters, `timeStamp` included, `authToken` not."""
    values = dict(params)
    message = "&".join(f"{name}={values[name]}" for name in sorted(values))
    return base64.b64encode(_mac(access_key + values["timeStamp"], message)).decode("ascii")


def _kit_text(value: Any) -> str:
    """§2.2 step 3: strings verbatim, integers in decimal, booleans as true/false, lists and
    objects as their compact JSON (U10)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def kit_v1_auth_token(kit_key: str, body: dict[str, Any]) -> str:
    """§2.2: Base64(HMAC(kitKey + timeStamp, k=v&… of the body's top-level members sorted by name,
    skipping null, empty and whitespace-only values))."""
    kept = {
        name: _kit_text(value)
        for name, value in body.items()
        if value is not None and not (isinstance(value, str) and not value.strip())
    }
    message = "&".join(f"{name}={kept[name]}" for name in sorted(kept))
    return base64.b64encode(_mac(kit_key + str(body["timeStamp"]), message)).decode("ascii")


def v2_signature(access_key: str, nonce: str, timestamp: str, body: bytes) -> str:
    """§2.3: hex(HMAC(key, key + nonce + timestamp + lowercase hex(HMAC(key, body)))), lower case."""
    inner = _mac(access_key, body).hex()
    return _mac(access_key, access_key + nonce + timestamp + inner).hex()


def kit_v2_signature(kit_key: str, nonce: str, timestamp: str, body: bytes) -> str:
    """§2.4: hex(HMAC(kitKey, kitKey + nonce + timestamp + body bytes)) — no inner HMAC."""
    return _mac(kit_key, (kit_key + nonce + timestamp).encode("utf-8") + body).hex()


def body_signature(key: str, body: bytes) -> str:
    """§2.6: Base64(HMAC(key alone, the exact answer bytes))."""
    return base64.b64encode(_mac(key, body)).decode("ascii")


def body_sign_matches(key: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(body_signature(key, body).encode("ascii"), signature.encode("ascii"))


# --- The open API's side (§7) ---------------------------------------------------------------------


def usage_push_signature(access_key: str, ts: str, nonce: str, body: bytes) -> str:
    """§7.2: Base64(HMAC(accessKey, "ts=" + ts + "&nonce=" + nonce + "&body=" + body))."""
    return base64.b64encode(_mac(access_key, f"ts={ts}&nonce={nonce}&body=".encode() + body)).decode("ascii")


def _rfc3986(text: str) -> str:
    return quote(text, safe="-_.~")


def apig_signature(
    sk: str, method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str], body: bytes
) -> str:
    """§7.3 SDK-HMAC-SHA256 over the given headers (all of them signed): lower-case hex.
    `path` as sent (percent-encoded), `query` the decoded pairs, `headers` name → value."""
    uri = "/".join(_rfc3986(segment) for segment in unquote(path).split("/"))
    uri = uri if uri.endswith("/") else uri + "/"
    canonical_query = "&".join(f"{_rfc3986(k)}={_rfc3986(v)}" for k, v in sorted(query))
    lowered = {name.lower(): value.strip() for name, value in headers.items()}
    names = sorted(lowered)
    canonical = "\n".join(
        [
            method.upper(),
            uri,
            canonical_query,
            "".join(f"{name}:{lowered[name]}\n" for name in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    to_sign = f"SDK-HMAC-SHA256\n{lowered['x-sdk-date']}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
    return _mac(sk, to_sign).hex()


def apig_check(
    ak: str, sk: str, method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str], body: bytes
) -> str:
    """What the gateway finds wrong with a call (§7.3), or "" if nothing: the Authorization header's
    form and AK, X-Sdk-Date and Host signed, every header sent signed ("sign every header you send,
    Host included"; Authorization itself aside), and the signature. `headers`: lower-case names."""
    value = headers.get("authorization", "")
    prefix = "SDK-HMAC-SHA256 "
    if not value.startswith(prefix):
        return "no SDK-HMAC-SHA256 Authorization header"
    parts = dict(piece.strip().partition("=")[::2] for piece in value[len(prefix) :].split(","))
    if parts.get("Access") != ak:
        return "unknown Access key"
    signed = [name for name in parts.get("SignedHeaders", "").split(";") if name]
    if signed != sorted(set(signed)) or not {"x-sdk-date", "host"} <= set(signed):
        return f"SignedHeaders {parts.get('SignedHeaders')!r}: sorted, with host and x-sdk-date"
    unsigned = sorted(set(headers) - set(signed) - {"authorization"})
    if unsigned:
        return f"headers sent but not signed: {', '.join(unsigned)}"
    if any(name not in headers for name in signed):
        return "a signed header is missing"
    expected = apig_signature(sk, method, path, query, {name: headers[name] for name in signed}, body)
    if not hmac.compare_digest(expected.encode("ascii"), parts.get("Signature", "").encode("ascii")):
        return "signature mismatch"
    return ""
