"""The `usage` object the gateway bills from (koogallery-protocol.md §12), as plain Python.

A top-level `usage` with `prompt_tokens`, `completion_tokens`, `total_tokens`; newer pages also
accept `input_tokens` / `output_tokens`, `image_count` and `video_duration`. `check` lists what is
wrong with a reported object (the simulator's verdict); `Usage.parse` turns a valid one into typed
values for the journal. No Django here: the seller's AI service may import it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens", "input_tokens", "output_tokens", "image_count")
FIELDS = (*TOKEN_FIELDS, "video_duration")


class UsageError(ValueError):
    pass


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _duration(value: Any) -> bool:
    # NaN fails `>= 0`; Infinity is no duration either (an int is finite, and may be beyond a float).
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return (isinstance(value, int) or math.isfinite(value)) and value >= 0


def check(usage: Any) -> list[str]:
    """Problems with a reported `usage` object; an empty list means the gateway can bill from it."""
    if not isinstance(usage, Mapping):
        return ["usage is missing or not a JSON object"]
    problems = []
    for name in TOKEN_FIELDS:
        if name in usage and usage[name] is not None and not _count(usage[name]):
            problems.append(f"usage.{name} is not a non-negative integer")
    if usage.get("video_duration") is not None and not _duration(usage["video_duration"]):
        problems.append("usage.video_duration is not a non-negative number")
    billed = [name for name in FIELDS if usage.get(name) is not None]
    if not billed:
        problems.append("usage has none of " + ", ".join(FIELDS))
    openai = ("prompt_tokens", "completion_tokens", "total_tokens")
    present = [name for name in openai if usage.get(name) is not None]
    if present and len(present) != 3 and usage.get("input_tokens") is None:
        problems.append("usage needs prompt_tokens, completion_tokens and total_tokens together")
    if len(present) == 3 and all(_count(usage[n]) for n in openai):
        if usage["total_tokens"] != usage["prompt_tokens"] + usage["completion_tokens"]:
            problems.append("usage.total_tokens is not prompt_tokens + completion_tokens")
    return problems


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    image_count: int | None = None
    video_duration: Decimal | None = None

    @classmethod
    def tokens(cls, prompt: int, completion: int) -> Usage:
        return cls(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)

    @classmethod
    def parse(cls, usage: Any) -> Usage:
        """A reported object as typed values; UsageError names the first problem."""
        problems = check(usage)
        if problems:
            raise UsageError(problems[0])
        values: dict[str, Any] = {name: usage.get(name) for name in TOKEN_FIELDS}
        duration = usage.get("video_duration")
        try:
            # Decimal(int) is exact at any size; a float through its shortest text (12.5, not 12.5000…1).
            values["video_duration"] = (
                None if duration is None else Decimal(duration if isinstance(duration, int) else str(duration))
            )
        except InvalidOperation as exc:  # pragma: no cover - check() has vetted the number
            raise UsageError("usage.video_duration is not a number") from exc
        return cls(**values)

    def as_json(self) -> dict[str, Any]:
        """The wire form: only the fields that are set; video_duration as a JSON number."""
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if value is None:
                continue
            out[name] = float(value) if isinstance(value, Decimal) else value
        return out


def whitespace_tokens(texts: Iterable[str]) -> int:
    """The reference backend's deterministic token count: whitespace-separated words."""
    return sum(len(text.split()) for text in texts)
