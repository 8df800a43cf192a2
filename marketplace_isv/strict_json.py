"""JSON as the service reads it, wherever it comes from: the body of a call, a member holding a
string of JSON (`productInfo`, V1 `userList`, U10), Base64 JSON (`saasExtendParams`).

One reading, so that what one entry refuses no other lets through to the database:
- `NaN`/`Infinity` literals, lone surrogate escapes and nesting too deep to parse are not JSON
  (ValueError); no field of the protocol carries them, and they cannot be stored or re-encoded;
- a number too large for a float (`1e400`) is valid JSON: it is kept as its text, so an extra
  member is stored as received (§4.0) and a numeric field refuses it as not a plain number;
- `contains_nul` finds NUL characters, which PostgreSQL text cannot hold (the callers answer
  000002).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _number(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else text


def loads(text: str) -> Any:
    """`json.loads`, strict as above; ValueError for anything that is not such JSON."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_number)
    except RecursionError:
        raise ValueError("nesting too deep") from None
    if _SURROGATE_ESCAPE.search(text) and has_surrogate(value):
        raise ValueError("lone surrogate escape")
    return value


def has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(has_surrogate(k) or has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_surrogate(v) for v in value)
    return False


def contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(v) for v in value)
    return False
