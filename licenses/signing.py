"""The seller's licence signing key and the licence keys it signs (format: licenses/verifier.py).

The Ed25519 private key is a PEM file named by ISV_LICENSE_SIGNING_KEY_FILE. In embedded, debug
and test runs (ISV_LICENSE_AUTOGENERATE_KEY) a missing key is generated on first use, by default
under var/; in production it must be generated beforehand (`manage.py license_keygen`) and kept
out of the repository. Old public keys stay trusted for verification through
ISV_LICENSE_EXTRA_PUBLIC_KEY_FILES, so a key rotation does not strand keys already issued.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa
from django.conf import settings

from . import verifier
from .models import License

logger = logging.getLogger(__name__)

DEFAULT_FILE_NAME = "license-signing-key.pem"

_cache: dict[str, tuple[int, ECC.EccKey]] = {}
_lock = threading.Lock()


class SigningKeyUnavailable(Exception):
    """No usable signing key: a configuration error, reported to operators with its cause."""


def key_path() -> Path:
    configured = getattr(settings, "ISV_LICENSE_SIGNING_KEY_FILE", None)
    if configured:
        return Path(configured)
    if settings.ISV_LICENSE_AUTOGENERATE_KEY:
        return Path(settings.VAR_DIR) / DEFAULT_FILE_NAME
    raise SigningKeyUnavailable("ISV_LICENSE_SIGNING_KEY_FILE is not set (generate one: manage.py license_keygen)")


def generate_key_file(path: Path, *, force: bool = False) -> ECC.EccKey:
    """Write a new Ed25519 private key (PKCS#8 PEM, mode 0600). Never overwrites unless `force`;
    when two processes race to create it, the first file wins and is returned to both."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = ECC.generate(curve="ed25519")
    fd, tmp = tempfile.mkstemp(prefix=".license-key-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(key.export_key(format="PEM"))
        os.chmod(tmp, 0o600)
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # atomic create-if-absent
            except FileExistsError:
                return _read_private(path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _cache.pop(str(path), None)
    logger.info("licenses.signing_key_generated kid=%s", verifier.key_id(key.public_key()))
    return key


def _read_private(path: Path) -> ECC.EccKey:
    try:
        key = ECC.import_key(path.read_text())
    except (OSError, ValueError) as exc:
        raise SigningKeyUnavailable(f"cannot read the licence signing key {path}: {type(exc).__name__}") from None
    if not key.has_private() or key.curve.lower() != "ed25519":
        raise SigningKeyUnavailable(f"{path} is not an Ed25519 private key")
    return key


def signing_key() -> ECC.EccKey:
    path = key_path()
    with _lock:
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            if not settings.ISV_LICENSE_AUTOGENERATE_KEY:
                raise SigningKeyUnavailable(f"the licence signing key {path} does not exist") from None
            generate_key_file(path)
            mtime = path.stat().st_mtime_ns
        cached = _cache.get(str(path))
        if cached and cached[0] == mtime:
            return cached[1]
        key = _read_private(path)
        _cache[str(path)] = (mtime, key)
        return key


def public_keys() -> list[ECC.EccKey]:
    """The current key's public half first, then the extra trusted public keys (rotation)."""
    keys = [signing_key().public_key()]
    for name in settings.ISV_LICENSE_EXTRA_PUBLIC_KEY_FILES:
        try:
            text = Path(name).read_bytes()
        except OSError as exc:
            logger.error("licenses.extra_public_key_unreadable file=%s error=%s", name, type(exc).__name__)
            continue
        keys.append(verifier.load_public_key(text))
    return keys


def trusted_verifier() -> verifier.LicenseVerifier:
    return verifier.LicenseVerifier(public_keys())


def _epoch(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def claims_for(license: License, *, valid_until: datetime | None, issued_at: float | None = None) -> dict[str, Any]:
    """The payload of a licence key (documented in licenses/verifier.py and docs/licenses.md)."""
    claims: dict[str, Any] = {
        "v": verifier.FORMAT_VERSION,
        "lid": str(license.public_id),
        "gen": license.token_generation,
        "kind": license.kind,
        "iid": license.instance_id,
        "cid": license.customer_id,
        "sku": license.sku_code,
        "pid": license.current_product_id or license.product_id,
        "ord": license.order_id,
        "iat": int(issued_at if issued_at is not None else time.time()),
        "nbf": _epoch(license.valid_from),
        "exp": _epoch(valid_until),
        "qty": license.quantity,
        "dev": verifier.fingerprint_digest(license.device_fingerprint) if license.device_fingerprint else None,
        "test": True if license.is_test else None,
    }
    return {name: value for name, value in claims.items() if value is not None and value != ""}


def sign(claims: dict[str, Any]) -> tuple[str, str]:
    """(licence key, key id) for `claims`."""
    key = signing_key()
    kid = verifier.key_id(key.public_key())
    header = {"alg": verifier.ALGORITHM, "kid": kid, "typ": verifier.TOKEN_TYPE}
    signing_input = (
        verifier.b64url_encode(verifier.canonical_json(header))
        + "."
        + verifier.b64url_encode(verifier.canonical_json(claims))
    )
    signature = eddsa.new(key, "rfc8032").sign(signing_input.encode("ascii"))
    return f"{signing_input}.{verifier.b64url_encode(signature)}", kid


def stamp_token(license: License, *, valid_until: datetime | None) -> None:
    """Sign the licence's current facts into `license.token` (the caller saves the row)."""
    license.token, license.key_id = sign(claims_for(license, valid_until=valid_until))
