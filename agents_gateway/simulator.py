"""A simulator of Huawei's Agents gateway (koogallery-protocol.md §12): signs tokens as the gateway
does (or sends the constant header of 自主认证), adds X-Request-Id / X-Customer-Id /
X-Customer-Name, sends synchronous and streaming chat.completions calls, and checks that the
answer carries a well-formed `usage` — top level of a JSON answer, or the last data event before
`data: [DONE]` of a stream. Used by `manage.py agents_gateway_simulate` and by the tests.

The target is a base URL (real HTTP through `requests`) or a Django test `Client`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import usage as usage_rules
from .verifier import DEFAULT_PREFIX, sign_token

DEFAULT_PATH = "/agents/echo/v1/chat/completions"


def parse_sse(body: bytes) -> list[Any]:
    """The data payloads of a server-sent event stream: parsed JSON, or the raw text ("[DONE]",
    or anything that is not JSON, which `problems` then reports)."""
    text = body.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    events: list[Any] = []
    for block in text.split("\n\n"):
        data = [line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")]
        if not data:
            continue
        payload = "\n".join(data)
        try:
            events.append(json.loads(payload))
        except ValueError:
            events.append(payload)
    return events


@dataclass
class GatewayReply:
    status: int
    headers: dict[str, str]
    body: bytes
    stream: bool
    request_id: str

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def events(self) -> list[Any]:
        return parse_sse(self.body)

    @property
    def text(self) -> str:
        """The assistant's answer, joined from the message or from the stream's deltas."""
        if not self.stream:
            return self.json["choices"][0]["message"]["content"]
        pieces = []
        for event in self.events:
            if isinstance(event, dict):
                for choice in event.get("choices") or []:
                    pieces.append((choice.get("delta") or {}).get("content") or "")
        return "".join(pieces)

    @property
    def usage(self) -> Any:
        if not self.stream:
            try:
                data = self.json
            except ValueError:
                return None
            return data.get("usage") if isinstance(data, dict) else None
        events = self.events
        if len(events) >= 2 and events[-1] == "[DONE]" and isinstance(events[-2], dict):
            return events[-2].get("usage")
        return None

    def problems(self) -> list[str]:
        """What the gateway could not bill from; empty when the answer keeps the contract."""
        if self.status != 200:
            return [f"HTTP {self.status}"]
        if not self.stream:
            if not self.content_type.startswith("application/json"):
                return [f"content type {self.content_type!r} is not application/json"]
            try:
                data = self.json
            except ValueError:
                return ["the body is not JSON"]
            if not isinstance(data, dict):
                return ["the body is not a JSON object"]
            return usage_rules.check(data.get("usage"))
        if not self.content_type.startswith("text/event-stream"):
            return [f"content type {self.content_type!r} is not text/event-stream"]
        events = self.events
        problems = []
        if not events or events[-1] != "[DONE]":
            problems.append("the stream does not end with data: [DONE]")
        data_events = events[:-1] if events and events[-1] == "[DONE]" else events
        if not data_events:
            return [*problems, "the stream has no data event before [DONE]"]
        if any(not isinstance(e, dict) for e in data_events):
            problems.append("a data event is not a JSON object")
        early = [i for i, e in enumerate(data_events[:-1]) if isinstance(e, dict) and e.get("usage") is not None]
        if early:
            problems.append(f"usage sent before the last event (events {early}); send it once, last")
        last = data_events[-1]
        problems += usage_rules.check(last.get("usage") if isinstance(last, dict) else None)
        return problems

    def assert_contract(self) -> dict[str, Any]:
        problems = self.problems()
        assert not problems, f"{problems}: {self.body[:500]!r}"
        return self.usage


@dataclass
class AgentsGateway:
    """Calls one registered agent's URL like the gateway. AK/SK mode with `api_key` + `secret`;
    own-auth mode (自主认证) with `constant` (the value of `header`)."""

    target: Any
    path: str = DEFAULT_PATH
    api_key: str | None = None
    secret: str | None = None
    constant: str | None = None
    header: str = "Authorization"
    bearer: bool = True
    prefix: str = DEFAULT_PREFIX
    customer_id: str = "sim-customer-0001"
    customer_name: str = "Simulated Buyer"
    timeout: float = 60.0
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return "header" if self.constant is not None else "jwt"

    def token(self, **options: Any) -> str:
        """A gateway token (options go to `verifier.sign_token`: timestamp_ms, ttl_ms, …)."""
        if not (self.api_key and self.secret):
            raise ValueError("the AK/SK mode needs api_key and secret")
        return sign_token(self.api_key, self.secret, **options)

    def auth_value(self, token: str | None = None) -> str:
        if self.mode == "header":
            return self.constant or ""
        token = token or self.token()
        return f"{self.prefix.strip()} {token}" if self.bearer else token

    def body(self, text: str, *, stream: bool, model: str | None = None, messages: Sequence | None = None) -> dict:
        body: dict[str, Any] = {"messages": list(messages or [{"role": "user", "content": text}]), "stream": stream}
        if model:
            body["model"] = model
        return body

    def chat(
        self,
        text: str = "hello from the gateway simulator",
        *,
        stream: bool = False,
        model: str | None = None,
        messages: Sequence | None = None,
        body: Mapping[str, Any] | None = None,
        raw_body: bytes | None = None,
        request_id: str | None = None,
        token: str | None = None,
        auth: str | None = None,
        headers: Mapping[str, str] | None = None,
        omit: tuple[str, ...] = (),
        method: str = "POST",
    ) -> GatewayReply:
        """One forwarded call. `token`/`auth` override the signed token / the whole auth header;
        `omit` drops headers by name (e.g. "X-Request-Id", the auth header)."""
        request_id = request_id or str(uuid.uuid4())
        if body is not None:
            stream = body.get("stream") is True
        payload = raw_body
        if payload is None:
            payload = json.dumps(
                dict(body) if body is not None else self.body(text, stream=stream, model=model, messages=messages),
                ensure_ascii=False,
            ).encode("utf-8")
        sent = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
            "X-Request-Id": request_id,
            "X-Customer-Id": self.customer_id,
            # Raw UTF-8 bytes on the wire, as a Java gateway sends a Chinese account name.
            "X-Customer-Name": self.customer_name,
            self.header: auth if auth is not None else self.auth_value(token),
            **self.extra_headers,
            **(headers or {}),
        }
        omitted = {name.lower() for name in omit}
        sent = {k: v for k, v in sent.items() if k.lower() not in omitted}
        return self._send(method, sent, payload, stream, request_id)

    def _send(self, method: str, headers: dict[str, str], payload: bytes, stream: bool, request_id: str):
        if isinstance(self.target, str):
            import requests

            wire = {k: (v.encode("utf-8") if not v.isascii() else v) for k, v in headers.items()}
            response = requests.request(
                method,
                self.target.rstrip("/") + self.path,
                data=payload if method != "GET" else None,
                headers=wire,
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
            )
            with response:
                body = b"".join(response.iter_content(chunk_size=None))
            return GatewayReply(
                response.status_code, {k.lower(): v for k, v in response.headers.items()}, body, stream, request_id
            )
        # Django's test client: headers arrive as WSGI would decode them (Latin-1).
        django_headers = {k: v.encode("utf-8").decode("latin-1") for k, v in headers.items()}
        content_type = django_headers.pop("Content-Type", "application/json")
        if method == "GET":
            response = self.target.generic("GET", self.path, headers=django_headers)
        else:
            response = self.target.generic(
                method, self.path, data=payload, content_type=content_type, headers=django_headers
            )
        body = b"".join(response.streaming_content) if response.streaming else response.content
        return GatewayReply(
            response.status_code, {k.lower(): v for k, v in response.headers.items()}, body, stream, request_id
        )
