"""OpenAI-style chat.completions bodies in and out: what buyers send through the gateway (§12) and
what the reference backend answers, synchronously or as server-sent events.

The model behind the backend is a function `model(chat: ChatRequest) -> Iterable[str | Usage]`:
it yields the answer's text pieces and may yield one `Usage` (its own count); without one the
backend counts tokens by whitespace. No Django here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from marketplace_isv import strict_json

from .usage import Usage, whitespace_tokens

DONE = b"data: [DONE]\n\n"


class BadRequest(ValueError):
    """The body is not a chat.completions request; the message is safe to show the caller."""


@dataclass(frozen=True)
class ChatRequest:
    agent: str
    model: str
    messages: tuple[Mapping[str, Any], ...]
    stream: bool
    body: Mapping[str, Any]
    request_id: str = ""
    customer_id: str = ""
    customer_name: str = ""

    def texts(self) -> list[str]:
        return [message_text(m) for m in self.messages]

    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return message_text(message)
        return ""


def message_text(message: Mapping[str, Any]) -> str:
    """A message's text: a string content, or the text parts of a list content."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"]
            for part in content
            if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str)
        )
    return ""


def read_json(raw: bytes) -> Any:
    """A body read by the service's one strict reading (marketplace_isv.strict_json): nesting too
    deep, NaN/Infinity and lone surrogate escapes are refused (BadRequest) with the reason, so what
    passes can be re-encoded as UTF-8 JSON; a number beyond a float is kept as its text. NUL is the
    caller's to refuse (`has_nul`): the chat body refuses it anywhere, the journal names the member."""
    try:
        body = strict_json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest("the body is not UTF-8 JSON") from exc
    except ValueError as exc:  # strict_json's own refusals: their message is the reason
        reason = "an integer has too many digits" if "integer string conversion" in str(exc) else str(exc)
        raise BadRequest(f"the body is not UTF-8 JSON: {reason}") from exc
    return body


def has_nul(raw: bytes, value: Any) -> bool:
    """Whether `value`, read from `raw`, holds a NUL, which PostgreSQL text cannot store. In JSON a
    NUL only arrives escaped (a raw control character is not JSON): look closer only then."""
    return b"\\u0000" in raw and strict_json.contains_nul(value)


def parse_request(raw: bytes, *, agent: str, default_model: str, **identity: str) -> ChatRequest:
    body = read_json(raw)
    if has_nul(raw, body):
        # Anywhere, not only in `model` (journaled): one rule for the body, as the service's other
        # entries have, and a seller's model function need not guard its own database from it.
        raise BadRequest("the body contains a NUL character (\\u0000)")
    if not isinstance(body, dict):
        raise BadRequest("the body is not a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages must be a non-empty array")
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise BadRequest("every message needs a role")
        if message.get("content") is not None and not isinstance(message["content"], (str, list)):
            raise BadRequest("a message's content must be a string or an array of parts")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest("stream must be true or false")
    model = body.get("model") or default_model
    if not isinstance(model, str):
        raise BadRequest("model must be a string")
    return ChatRequest(agent, model[:128], tuple(messages), stream, body, **identity)


def run_model(model, chat: ChatRequest) -> Iterator[str | Usage]:
    """The model's pieces, then exactly one Usage (the model's own, else a whitespace count)."""
    pieces: list[str] = []
    reported: Usage | None = None
    for item in model(chat):
        if isinstance(item, Usage):
            reported = item
        elif isinstance(item, str):
            pieces.append(item)
            yield item
        else:
            raise TypeError(f"the model yielded {type(item).__name__}, not str or Usage")
    yield reported or Usage.tokens(whitespace_tokens(chat.texts()), whitespace_tokens(["".join(pieces)]))


# --- answers --------------------------------------------------------------------------------------


@dataclass
class Completion:
    """Identity of one answer: the same id and timestamp in every chunk of a stream."""

    id: str
    model: str
    created: int = field(default_factory=lambda: int(time.time()))

    def message(self, text: str, usage: Usage) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": usage.as_json(),
        }

    def chunk(self, delta: Mapping[str, Any], finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": dict(delta), "finish_reason": finish_reason}],
            **extra,
        }


def sse(event: Mapping[str, Any]) -> bytes:
    # allow_nan=False: NaN is not JSON; a model reporting it fails rather than breaking the parser of the gateway.
    text = json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return b"data: " + text.encode("utf-8") + b"\n\n"


def error_body(message: str, kind: str) -> dict[str, Any]:
    """OpenAI's error shape, which gateway buyers' clients understand."""
    return {"error": {"message": message, "type": kind, "code": None}}
