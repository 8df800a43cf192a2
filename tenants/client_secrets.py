"""Decrypting `clientSecret` with the seller's RSA private key (protocol §3.2, U17, U18).

Only ever called for a call whose Kit signature verified (the pipeline runs handlers for
verified calls only), so this is no decryption oracle for strangers (§3.2 step 1).
The key file (KOOGALLERY_RSA_PRIVATE_KEY_FILE) is read once and re-read when it changes, so
fixing the key needs no restart before operators re-decrypt the kept ciphertexts.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from Crypto.PublicKey import RSA
from django.conf import settings

from marketplace_isv.crypto import DecryptionError, load_rsa_private_key, rsa_oaep_decrypt

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_cache: dict[tuple[str, float, int], RSA.RsaKey] = {}


@dataclass(frozen=True)
class Decrypted:
    plaintext: str
    parameters: str  # which OAEP parameter set worked (logged, shown to operators)


class SecretUnavailable(Exception):
    """The clientSecret cannot be decrypted: no usable key, or no parameter set opens it."""


def private_key() -> RSA.RsaKey:
    path = settings.KOOGALLERY_RSA_PRIVATE_KEY_FILE
    if not path:
        raise SecretUnavailable("KOOGALLERY_RSA_PRIVATE_KEY_FILE is not configured")
    try:
        stat = Path(path).stat()
    except OSError:
        raise SecretUnavailable("the RSA private key file cannot be read") from None
    cache_key = (str(path), stat.st_mtime, stat.st_size)
    with _lock:
        key = _cache.get(cache_key)
        if key is None:
            try:
                key = load_rsa_private_key(Path(path).read_bytes())
            except (OSError, ValueError, IndexError, TypeError):
                raise SecretUnavailable("the RSA private key file holds no usable private key") from None
            _cache.clear()
            _cache[cache_key] = key
    return key


def decrypt_client_secret(ciphertext: str) -> Decrypted:
    key = private_key()
    try:
        plaintext, parameters = rsa_oaep_decrypt(ciphertext, key)
    except DecryptionError as exc:
        raise SecretUnavailable(str(exc)) from None
    logger.info("tenants.client_secret_decrypted oaep=%s", parameters)
    return Decrypted(plaintext, parameters)
