"""JSON as the service reads it, wherever it comes from: the body of a call, a member holding a
string of JSON (`productInfo`, V1 `userList`, U10), Base64 JSON (`saasExtendParams`).

One reading, so that what one entry refuses no other lets through to the database:
- `NaN`/`Infinity` literals, lone surrogate escapes and nesting deeper than MAX_DEPTH are not JSON
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
MAX_DEPTH = 64  # the protocol's deepest member is a few levels down; no caller needs more


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _number(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else text


def loads(text: str, *, refuse_nul: bool = False) -> Any:
    """`json.loads`, strict as above; ValueError for anything that is not such JSON, including
    nesting deeper than MAX_DEPTH (what is stored is re-encoded and walked, by recursive code).
    `refuse_nul`: a NUL character anywhere is a ValueError too (it can only arrive escaped)."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_number)
    except RecursionError:
        raise ValueError("nesting too deep") from None
    if text.count("[") + text.count("{") > MAX_DEPTH and depth_exceeds(value, MAX_DEPTH):
        raise ValueError("nesting too deep")
    if _SURROGATE_ESCAPE.search(text) and has_surrogate(value):
        raise ValueError("lone surrogate escape")
    if refuse_nul and "\\u0000" in text and contains_nul(value):
        raise ValueError("NUL characters are not accepted")
    return value


def _walk(value: Any):
    """Every value inside `value` (keys included) with its depth; iterative, so no depth of
    nesting can exhaust the stack."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        yield item, depth
        if isinstance(item, dict):
            stack.extend((key, depth + 1) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def depth_exceeds(value: Any, limit: int) -> bool:
    """More than `limit` containers inside one another (only containers are walked)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth >= limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def has_surrogate(value: Any) -> bool:
    for item, _ in _walk(value):
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def contains_nul(value: Any) -> bool:
    return any(isinstance(item, str) and "\x00" in item for item, _ in _walk(value))
