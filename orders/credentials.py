"""Generated admin credentials for appInfo (§4.1.2).

V1 answers newInstance synchronously with userName/password (§4.2.1), before any provisioner
ran, so the service proposes them when the instance is created and hands them to the
provisioner, which uses them or returns its own. Both stay well under the 79-byte plaintext
limit of encrypted credentials (§3.1).
"""

from __future__ import annotations

import secrets
import string

_LOWER = string.ascii_lowercase + string.digits
_SYMBOLS = "!@#%^*-_=+"
_PASSWORD = string.ascii_letters + string.digits + _SYMBOLS
_REQUIRED = [set(string.ascii_lowercase), set(string.ascii_uppercase), set(string.digits), set(_SYMBOLS)]


def _draw(alphabet: str, count: int) -> str:
    """`count` characters drawn uniformly from `alphabet`: bytes of one read of the OS's CSPRNG,
    those above the largest multiple of len(alphabet) rejected (as secrets.choice does, without a
    system call per character — this runs for every new instance)."""
    size = len(alphabet)
    limit = 256 - 256 % size
    drawn: list[str] = []
    while len(drawn) < count:
        drawn += [alphabet[byte % size] for byte in secrets.token_bytes(count + 8) if byte < limit]
    return "".join(drawn[:count])


def new_user_name() -> str:
    return "admin_" + _draw(_LOWER, 8)


def new_password(length: int = 16) -> str:
    """Random, with at least one lower-case, upper-case, digit and symbol (common password rules)."""
    while True:
        candidate = _draw(_PASSWORD, length)
        drawn = set(candidate)
        if all(drawn & required for required in _REQUIRED):
            return candidate
