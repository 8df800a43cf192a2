"""How KooGallery signs its calls and checks our answers (koogallery-protocol.md §2.1–§2.6),
written from the protocol text alone.

The simulator signs with these functions, never with the service's own verifiers
(marketplace_isv.schemes, .crypto, .envelope): a misreading of the protocol in the service then
shows up as a refused call in the tests instead of being mirrored by the simulator. Both sides
are pinned to the protocol's test vectors (tests/marketplace_isv/test_vectors.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any


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
