"""Offline verification of licence keys issued by the KooGallery seller service.

This module is meant to be copied into the seller's software: it depends only on the Python
standard library and pycryptodome (`pip install pycryptodome`), never on Django or on the rest
of the service. docs/licenses.md describes the format; in short, a licence key is a JWS compact
serialisation (RFC 7515) signed with Ed25519 (RFC 8037):

    base64url(header JSON) "." base64url(payload JSON) "." base64url(64-byte Ed25519 signature)

    header  {"alg": "EdDSA", "kid": "<key id>", "typ": "KGL"}
    payload {"v": 1, "lid": licence id, "gen": key generation, "kind": "v1" | "online",
             "iid": instance id, "cid": customer id, "sku": sku code, "pid": product id,
             "qty": quantity, "ord": purchase order id, "iat": issued at, "nbf": valid from,
             "exp": valid until (absent = perpetual), "dev": device binding (absent = any device),
             "test": true for KooGallery debug traffic}

Times are epoch seconds (UTC). `dev` is base64url(SHA-256(device fingerprint, UTF-8)); the
fingerprint itself never travels in the key. The key id is base64url(SHA-256(raw 32-byte public
key))[:16], so anyone holding the public key can compute it.

    verifier = LicenseVerifier.from_pem(open("license-public-key.pem").read())
    verdict = verifier.verify(token, fingerprint=my_fingerprint())
    if not verdict.valid:
        sys.exit(f"licence refused: {verdict.reason}: {verdict.message}")

Revocation, freezing and renewals are learned online: `check_online()` asks the service's check
endpoint for the licence's current status and a refreshed key. Run `python verifier.py --help`
for a small command-line front end.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

FORMAT_VERSION = 1
ALGORITHM = "EdDSA"
TOKEN_TYPE = "KGL"
DEFAULT_LEEWAY_SECONDS = 300  # clock skew tolerated on `nbf` and `exp`

# Why a key was refused (Verdict.reason). The online statuses come from check_online().
OK = "ok"
MALFORMED = "malformed"  # not a licence key at all (wrong shape, bad base64 or JSON)
UNKNOWN_KEY = "unknown_key"  # signed with a key id this verifier does not hold
TAMPERED = "tampered"  # the signature does not match: the key was altered or forged
NOT_YET_VALID = "not_yet_valid"  # `nbf` is in the future
EXPIRED = "expired"  # `exp` is in the past
WRONG_DEVICE = "wrong_device"  # bound to another device, or no fingerprint was given
FROZEN = "frozen"  # online: KooGallery froze the licence (expiry or violation)
RELEASED = "released"  # online: the purchase was released (unsubscribed or not renewed)
REVOKED = "revoked"  # online: the seller revoked the licence, or reissued it
REFUSED = "refused"  # online: the service does not recognise the key
UNAVAILABLE = "unavailable"  # online: the service could not be asked (keep the offline verdict)

MESSAGES = {
    OK: "the licence key is valid",
    MALFORMED: "this is not a licence key",
    UNKNOWN_KEY: "the licence key was signed with an unknown key id",
    TAMPERED: "the licence key has been altered or was not issued by the seller",
    NOT_YET_VALID: "the licence is not valid yet",
    EXPIRED: "the licence has expired",
    WRONG_DEVICE: "the licence is bound to another device",
    FROZEN: "the licence is frozen",
    RELEASED: "the licence was released",
    REVOKED: "the licence was revoked",
    REFUSED: "the licence service refused this key",
    UNAVAILABLE: "the licence service could not be reached",
}


class LicenseError(Exception):
    """Raised by `LicenseVerifier.require()`; `.verdict` says why."""

    def __init__(self, verdict: Verdict):
        super().__init__(f"{verdict.reason}: {verdict.message}")
        self.verdict = verdict


@dataclass(frozen=True)
class Verdict:
    valid: bool
    reason: str
    message: str
    claims: dict[str, Any] | None = None
    key_id: str | None = None

    @property
    def expires_at(self) -> int | None:
        return (self.claims or {}).get("exp")


@dataclass(frozen=True)
class OnlineStatus:
    """What the check endpoint said: the licence's status and, while active, a fresh key."""

    verdict: Verdict
    status: str | None = None
    token: str | None = None
    answer: dict[str, Any] = field(default_factory=dict)


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or not text or any(c not in _B64URL for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def fingerprint_digest(fingerprint: str) -> str:
    """The `dev` claim for a device fingerprint: base64url(SHA-256(UTF-8 of the trimmed text))."""
    return b64url_encode(hashlib.sha256(fingerprint.strip().encode("utf-8")).digest())


def raw_public_key(public_key: ECC.EccKey) -> bytes:
    return public_key.export_key(format="raw")


def key_id(public_key: ECC.EccKey) -> str:
    """base64url(SHA-256(raw public key))[:16]: derived, so both sides agree without a registry."""
    return b64url_encode(hashlib.sha256(raw_public_key(public_key)).digest())[:16]


def load_public_key(material: str | bytes | Mapping[str, Any]) -> ECC.EccKey:
    """A PEM `PUBLIC KEY` (or a private key, whose public half is taken), or an OKP JWK."""
    if isinstance(material, Mapping):
        if material.get("kty") != "OKP" or material.get("crv") != "Ed25519":
            raise ValueError("only Ed25519 OKP JWKs are supported")
        return eddsa.import_public_key(b64url_decode(material["x"]))
    key = ECC.import_key(material)
    if key.curve.lower() not in ("ed25519",):
        raise ValueError(f"not an Ed25519 key: {key.curve}")
    return key.public_key()


def public_jwk(public_key: ECC.EccKey) -> dict[str, str]:
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url_encode(raw_public_key(public_key)),
        "kid": key_id(public_key),
        "alg": ALGORITHM,
        "use": "sig",
    }


def split_token(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """(header, claims, signed bytes, signature) of a licence key, unverified. ValueError if it is
    not shaped like one."""
    if not isinstance(token, str):
        raise ValueError("a licence key is text")
    token = "".join(token.split())  # tolerate line breaks from copy and paste
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("a licence key has three dot-separated parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError) as exc:  # nesting too deep
        raise ValueError(f"undecodable part: {type(exc).__name__}") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("header and payload must be JSON objects")
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


class LicenseVerifier:
    """Verifies licence keys against a set of trusted public keys, indexed by key id."""

    def __init__(self, public_keys: Iterable[ECC.EccKey] | Mapping[str, ECC.EccKey]):
        if isinstance(public_keys, Mapping):
            self.keys = dict(public_keys)
        else:
            self.keys = {key_id(key): key for key in public_keys}
        if not self.keys:
            raise ValueError("at least one public key is needed")

    @classmethod
    def from_pem(cls, *pems: str | bytes) -> LicenseVerifier:
        return cls(load_public_key(pem) for pem in pems)

    @classmethod
    def from_files(cls, *paths: str) -> LicenseVerifier:
        keys = []
        for path in paths:
            with open(path, "rb") as handle:
                text = handle.read()
            if text.lstrip().startswith(b"{"):
                keys.extend(_jwks_keys(json.loads(text)))
            else:
                keys.append(load_public_key(text))
        return cls(keys)

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> LicenseVerifier:
        return cls(_jwks_keys(jwks))

    def verify(
        self,
        token: str,
        *,
        fingerprint: str | None = None,
        now: float | None = None,
        leeway: float = DEFAULT_LEEWAY_SECONDS,
        check_time: bool = True,
        check_device: bool = True,
    ) -> Verdict:
        """Check shape, key id, signature, validity window (± `leeway` seconds) and, when the key
        is bound to a device, that `fingerprint` is that device's. Never raises."""
        try:
            header, claims, signed, signature = split_token(token)
        except ValueError as exc:
            return _refused(MALFORMED, str(exc))
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE:
            return _refused(MALFORMED, "not an EdDSA licence key", key_id=kid if isinstance(kid, str) else None)
        if not isinstance(kid, str) or kid not in self.keys:
            return _refused(UNKNOWN_KEY, key_id=kid if isinstance(kid, str) else None)
        try:
            eddsa.new(self.keys[kid], "rfc8032").verify(signed, signature)
        except ValueError:
            return _refused(TAMPERED, key_id=kid)
        if claims.get("v") != FORMAT_VERSION:
            return _refused(MALFORMED, f"unsupported licence format {claims.get('v')!r}", key_id=kid)
        moment = time.time() if now is None else now
        if check_time:
            nbf, exp = claims.get("nbf"), claims.get("exp")
            if isinstance(nbf, (int, float)) and moment + leeway < nbf:
                return _refused(NOT_YET_VALID, f"valid from {_iso(nbf)}", claims=claims, key_id=kid)
            if isinstance(exp, (int, float)) and moment - leeway >= exp:
                return _refused(EXPIRED, f"expired at {_iso(exp)}", claims=claims, key_id=kid)
        if check_device and claims.get("dev"):
            if not fingerprint:
                return _refused(WRONG_DEVICE, "bound to a device: pass its fingerprint", claims=claims, key_id=kid)
            if fingerprint_digest(fingerprint) != claims["dev"]:
                return _refused(WRONG_DEVICE, claims=claims, key_id=kid)
        return Verdict(True, OK, MESSAGES[OK], claims, kid)

    def require(self, token: str, **options: Any) -> dict[str, Any]:
        """The claims of a valid key, or LicenseError."""
        verdict = self.verify(token, **options)
        if not verdict.valid:
            raise LicenseError(verdict)
        return verdict.claims or {}

    def check_online(
        self,
        url: str,
        token: str,
        *,
        fingerprint: str | None = None,
        timeout: float = 10.0,
        transport: Callable[[str, bytes, dict[str, str], float], tuple[int, bytes]] | None = None,
        **options: Any,
    ) -> OnlineStatus:
        """Ask the service's check endpoint (e.g. https://isv.example.com/api/licenses/check) for
        the licence's current status. An active licence comes back with a refreshed key, which
        is verified here before it is returned; keep it in place of the old one."""
        body = json.dumps({"token": token, **({"fingerprint": fingerprint} if fingerprint else {})}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        try:
            status, raw = (transport or _http_post)(url, body, headers, timeout)
            answer = json.loads(raw) if raw else {}
        except (OSError, ValueError, RecursionError) as exc:
            return OnlineStatus(_refused(UNAVAILABLE, type(exc).__name__))
        if status in (401, 403):
            return OnlineStatus(_refused(REFUSED), answer=answer if isinstance(answer, dict) else {})
        if status != 200 or not isinstance(answer, dict):
            return OnlineStatus(_refused(UNAVAILABLE, f"HTTP {status}"))
        state = answer.get("status")
        if state == "active" and isinstance(answer.get("token"), str):
            fresh = self.verify(answer["token"], fingerprint=fingerprint, **options)
            return OnlineStatus(fresh, state, answer["token"] if fresh.valid else None, answer)
        reason = state if state in (FROZEN, RELEASED, REVOKED) else REFUSED
        detail = answer.get("reason") or ""
        return OnlineStatus(_refused(reason, detail), state, None, answer)


def _jwks_keys(jwks: Mapping[str, Any]) -> list[ECC.EccKey]:
    entries = jwks.get("keys", [jwks]) if isinstance(jwks, Mapping) else []
    return [load_public_key(entry) for entry in entries]


def _refused(
    reason: str, detail: str = "", *, claims: dict[str, Any] | None = None, key_id: str | None = None
) -> Verdict:
    message = MESSAGES[reason] + (f" ({detail})" if detail else "")
    return Verdict(False, reason, message, claims, key_id)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _http_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    if not url.lower().startswith(("https://", "http://")):
        raise ValueError("the check URL must be http(s)")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a licence key offline (and optionally online).")
    parser.add_argument("token", help="the licence key, or - to read it from standard input")
    parser.add_argument("--public-key", action="append", required=True, help="PEM or JWKS file (repeatable)")
    parser.add_argument("--fingerprint", help="this device's fingerprint, for device-bound keys")
    parser.add_argument("--leeway", type=float, default=DEFAULT_LEEWAY_SECONDS, help="clock skew in seconds")
    parser.add_argument("--check-url", help="also ask the service's check endpoint for the current status")
    args = parser.parse_args(argv)
    token = sys.stdin.read().strip() if args.token == "-" else args.token
    verifier = LicenseVerifier.from_files(*args.public_key)
    verdict = verifier.verify(token, fingerprint=args.fingerprint, leeway=args.leeway)
    print(json.dumps({"valid": verdict.valid, "reason": verdict.reason, "message": verdict.message}, indent=2))
    if verdict.claims:
        print(json.dumps(verdict.claims, indent=2, sort_keys=True))
    if args.check_url:
        online = verifier.check_online(args.check_url, token, fingerprint=args.fingerprint, leeway=args.leeway)
        print(json.dumps({"online": online.verdict.reason, "status": online.status, "message": online.verdict.message}))
        return 0 if online.verdict.valid else 1
    return 0 if verdict.valid else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
