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


def new_user_name() -> str:
    return "admin_" + "".join(secrets.choice(_LOWER) for _ in range(8))


def new_password(length: int = 16) -> str:
    """Random, with at least one lower-case, upper-case, digit and symbol (common password rules)."""
    alphabet = string.ascii_letters + string.digits + _SYMBOLS
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if (
            any(c.islower() for c in candidate)
            and any(c.isupper() for c in candidate)
            and any(c.isdigit() for c in candidate)
            and any(c in _SYMBOLS for c in candidate)
        ):
            return candidate
