"""Cryptographic primitives of the KooGallery protocol (koogallery-protocol.md §2, §3).

Pure functions over bytes and text: no Django, no settings. Every HMAC here is HMAC-SHA256 over
UTF-8 bytes; Base64 is the standard alphabet with padding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import string

from Crypto.Cipher import AES, PKCS1_OAEP
from Crypto.Hash import SHA1, SHA256
from Crypto.PublicKey import RSA
from Crypto.Util.Padding import pad, unpad

logger = logging.getLogger(__name__)

IV_ALPHABET = string.ascii_letters + string.digits


class DecryptionError(ValueError):
    """A ciphertext could not be decrypted with any accepted parameter set."""


def _b(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def hmac_sha256(key: str | bytes, message: str | bytes) -> bytes:
    return hmac.new(_b(key), _b(message), hashlib.sha256).digest()


def hmac_b64(key: str | bytes, message: str | bytes) -> str:
    return base64.b64encode(hmac_sha256(key, message)).decode("ascii")


def hmac_hex(key: str | bytes, message: str | bytes) -> str:
    return hmac_sha256(key, message).hex()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(_b(a), _b(b))


def b64decode_lenient(text: str) -> bytes:
    """Decode Base64 that may have travelled through form decoding (§2.7).

    Spaces are mapped back to `+`, other whitespace is removed and missing padding restored;
    URL-safe Base64 is accepted as a fallback (U17).
    """
    cleaned = "".join(text.replace(" ", "+").split())
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except binascii.Error:
        return base64.urlsafe_b64decode(cleaned)


# --- §3.1 AES-CBC with a key derived by Java's SHA1PRNG ------------------------------------------


def _signed(byte: int) -> int:
    return byte - 256 if byte > 127 else byte


def sha1prng(seed: bytes, length: int) -> bytes:
    """The first `length` bytes of Java's SUN SHA1PRNG seeded with `seed` before first use.

    The state update adds the output block plus one with Java *signed* bytes and an arithmetic
    carry; plain unsigned addition gives a different second block (koogallery-protocol.md §3.1).
    """
    state = bytearray(hashlib.sha1(seed).digest())  # noqa: S324 — Java SHA1PRNG, not a security hash here
    out = b""
    while len(out) < length:
        block = hashlib.sha1(bytes(state)).digest()  # noqa: S324
        carry, changed = 1, False
        for i in range(20):
            value = _signed(state[i]) + _signed(block[i]) + carry
            new = value & 0xFF
            changed |= new != state[i]
            state[i] = new
            carry = value >> 8
        if not changed:
            state[0] = (state[0] + 1) & 0xFF
        out += block
    return out[:length]


_AES_KEY_BYTES = {"1": 32, "2": 16}


def aes_key(access_key: str, encrypt_type: str) -> bytes:
    try:
        length = _AES_KEY_BYTES[str(encrypt_type)]
    except KeyError:
        raise ValueError(f"unsupported encryptType {encrypt_type!r}") from None
    return sha1prng(access_key.encode("utf-8"), length)


def random_iv() -> str:
    return "".join(secrets.choice(IV_ALPHABET) for _ in range(16))


def aes_encrypt(plaintext: str, access_key: str, encrypt_type: str = "1", iv: str | None = None) -> str:
    """`IV + Base64(AES-CBC-PKCS5(plaintext))`, the IV being 16 ASCII alphanumerics (§3.1)."""
    iv = iv or random_iv()
    if len(iv) != 16 or not iv.isascii():
        raise ValueError("the IV must be 16 ASCII characters")
    cipher = AES.new(aes_key(access_key, encrypt_type), AES.MODE_CBC, iv.encode("ascii"))
    ciphertext = cipher.encrypt(pad(plaintext.encode("utf-8"), AES.block_size))
    return iv + base64.b64encode(ciphertext).decode("ascii")


def aes_decrypt(value: str, access_key: str, encrypt_type: str = "1") -> str:
    """Decrypt `IV + Base64`; tries `encrypt_type` first, then the other key length (U15)."""
    value = value.strip()
    if len(value) <= 16:
        raise DecryptionError("value too short to hold an IV and a ciphertext")
    iv = value[:16].encode("ascii", errors="replace")
    try:
        ciphertext = b64decode_lenient(value[16:])
    except (binascii.Error, ValueError) as exc:
        raise DecryptionError("ciphertext is not Base64") from exc
    if not ciphertext or len(ciphertext) % AES.block_size:
        raise DecryptionError("ciphertext length is not a multiple of the block size")
    order = [str(encrypt_type)] + [t for t in ("1", "2") if t != str(encrypt_type)]
    for candidate in order:
        if candidate not in _AES_KEY_BYTES:
            continue
        cipher = AES.new(aes_key(access_key, candidate), AES.MODE_CBC, iv)
        try:
            return unpad(cipher.decrypt(ciphertext), AES.block_size).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            continue
    raise DecryptionError("no AES key length decrypts the value")


def looks_encrypted(value: str) -> bool:
    """True when `value` has the `IV + Base64` shape of §3.1 (U40)."""
    if not isinstance(value, str) or len(value) < 16 + 24:
        return False
    iv, rest = value[:16], value[16:]
    if any(ch not in IV_ALPHABET for ch in iv):
        return False
    try:
        raw = b64decode_lenient(rest)
    except (binascii.Error, ValueError):
        return False
    return len(raw) > 0 and len(raw) % AES.block_size == 0


# --- §3.2 RSA-OAEP for clientSecret --------------------------------------------------------------

# (OAEP hash, MGF1 hash, name), in the order of §3.2.
OAEP_PARAMETER_SETS = (
    (SHA1, SHA1, "SHA-1/MGF1-SHA-1"),
    (SHA256, SHA1, "SHA-256/MGF1-SHA-1"),
    (SHA256, SHA256, "SHA-256/MGF1-SHA-256"),
)


def load_rsa_private_key(pem: str | bytes) -> RSA.RsaKey:
    key = RSA.import_key(pem)
    if not key.has_private():
        raise ValueError("the RSA key file holds no private key")
    return key


def rsa_oaep_decrypt(ciphertext_b64: str, private_key: RSA.RsaKey) -> tuple[str, str]:
    """Decrypt a Base64 RSA-OAEP ciphertext; returns (plaintext, parameter set that worked)."""
    try:
        ciphertext = b64decode_lenient(ciphertext_b64 or "")
    except (binascii.Error, ValueError) as exc:
        raise DecryptionError("clientSecret is not Base64") from exc
    if len(ciphertext) != private_key.size_in_bytes():
        raise DecryptionError(
            f"clientSecret is {len(ciphertext)} bytes, the key's modulus is {private_key.size_in_bytes()}"
        )
    for hash_algo, mgf_hash, name in OAEP_PARAMETER_SETS:
        cipher = PKCS1_OAEP.new(private_key, hashAlgo=hash_algo, mgfunc=lambda x, y, h=mgf_hash: _mgf1(x, y, h))
        try:
            plaintext = cipher.decrypt(ciphertext)
        except ValueError:
            continue
        try:
            return plaintext.decode("utf-8"), name
        except UnicodeDecodeError:
            continue
    raise DecryptionError("no OAEP parameter set decrypts clientSecret")


def rsa_oaep_encrypt(plaintext: str, public_key: RSA.RsaKey, parameter_set: int = 0) -> str:
    """Encrypt as KooGallery does (used by the simulator and tests)."""
    hash_algo, mgf_hash, _ = OAEP_PARAMETER_SETS[parameter_set]
    cipher = PKCS1_OAEP.new(public_key, hashAlgo=hash_algo, mgfunc=lambda x, y: _mgf1(x, y, mgf_hash))
    return base64.b64encode(cipher.encrypt(plaintext.encode("utf-8"))).decode("ascii")


def _mgf1(seed: bytes, length: int, hash_module) -> bytes:
    from Crypto.Signature.pss import MGF1

    return MGF1(seed, length, hash_module)


def generate_rsa_key(bits: int = 3072) -> RSA.RsaKey:
    return RSA.generate(bits)


def seller_center_public_key(key: RSA.RsaKey) -> str:
    """The public half as the seller center wants it pasted: one line of Base64 DER
    SubjectPublicKeyInfo, without the PEM armour (U16)."""
    return base64.b64encode(key.publickey().export_key(format="DER")).decode("ascii")
