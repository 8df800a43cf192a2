"""Secrets at rest: the decrypted `clientSecret` is stored sealed with AES-256-GCM (pycryptodome).

The key comes from ISV_FIELD_ENCRYPTION_KEY (any long random string; its SHA-256 is the AES key).
Rotation: put the old value in ISV_PREVIOUS_FIELD_ENCRYPTION_KEYS, set the new one, and the
`tenants_reseal_secrets` command re-seals every stored secret with the new key. A sealed value is
`g1:<key id>:<Base64(nonce ‖ ciphertext ‖ tag)>`; the key id (8 hex of SHA-256(key)) picks the key,
and `context` (the row's tenant and app) is bound as associated data, so a sealed value copied
onto another row does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from Crypto.Cipher import AES
from django.conf import settings

PREFIX = "g1"


class VaultError(ValueError):
    """A sealed value could not be opened (wrong or missing key, tampered value)."""


@dataclass(frozen=True)
class _Key:
    id: str
    material: bytes


def _derive(value: str) -> _Key:
    material = hashlib.sha256(value.encode("utf-8")).digest()
    return _Key(hashlib.sha256(material).hexdigest()[:8], material)


def _current() -> _Key:
    return _derive(settings.ISV_FIELD_ENCRYPTION_KEY)


def _all_keys() -> dict[str, _Key]:
    keys = [_current(), *(_derive(v) for v in settings.ISV_PREVIOUS_FIELD_ENCRYPTION_KEYS)]
    return {key.id: key for key in reversed(keys)}  # the current key wins an (improbable) id clash


def seal(plaintext: str, *, context: str) -> str:
    key = _current()
    cipher = AES.new(key.material, AES.MODE_GCM)  # a random 16-byte nonce per value
    cipher.update(context.encode("utf-8"))
    ciphertext, tag = cipher.encrypt_and_digest(plaintext.encode("utf-8"))
    blob = base64.b64encode(cipher.nonce + ciphertext + tag).decode("ascii")
    return f"{PREFIX}:{key.id}:{blob}"


def open_sealed(sealed: str, *, context: str) -> str:
    try:
        prefix, key_id, blob = sealed.split(":", 2)
        raw = base64.b64decode(blob, validate=True)
    except (ValueError, binascii.Error):
        raise VaultError("not a sealed value") from None
    if prefix != PREFIX or len(raw) < 16 + 16:
        raise VaultError("not a sealed value")
    key = _all_keys().get(key_id)
    if key is None:
        raise VaultError(f"sealed with key {key_id}, which is neither the current nor a previous key")
    nonce, ciphertext, tag = raw[:16], raw[16:-16], raw[-16:]
    cipher = AES.new(key.material, AES.MODE_GCM, nonce=nonce)
    cipher.update(context.encode("utf-8"))
    try:
        return cipher.decrypt_and_verify(ciphertext, tag).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise VaultError("sealed value does not verify (tampered, or another row's value)") from None


def is_current(sealed: str) -> bool:
    """True when `sealed` was sealed with the current key (nothing to re-seal)."""
    return sealed.startswith(f"{PREFIX}:{_current().id}:")
