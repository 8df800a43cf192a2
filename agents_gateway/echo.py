"""The reference backend's default model: deterministic, no network, no GPU.

It answers the last user message back, word by word, and counts tokens by whitespace — enough to
show the contract (an answer, then `usage`) end to end. Point AGENTS_GATEWAY_MODEL at your own
function of the same shape to serve a real model.
"""

from __future__ import annotations

from collections.abc import Iterator

from .chat import ChatRequest
from .usage import Usage, whitespace_tokens


def echo_model(chat: ChatRequest) -> Iterator[str | Usage]:
    words = chat.last_user_text().split() or ["(empty)"]
    for index, word in enumerate(words):
        yield word if index == 0 else " " + word
    yield Usage.tokens(whitespace_tokens(chat.texts()), len(words))
