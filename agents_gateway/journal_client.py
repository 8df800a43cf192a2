"""Report a forwarded call to the usage journal (POST /agents/usage) from the seller's own AI
service, which need not be Django: standard library only.

    from agents_gateway.journal_client import report_usage
    report_usage("https://isv.example.com/agents/usage", JOURNAL_TOKEN, headers=request.headers,
                 agent="translator", usage=answer["usage"])

Idempotent per X-Request-Id: reporting the same call twice (a retry) records it once.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from .verifier import header_value


class JournalError(RuntimeError):
    def __init__(self, status: int, body: str):
        super().__init__(f"the usage journal answered HTTP {status}: {body[:200]}")
        self.status = status
        self.retryable = status >= 500 or status == 429


def report_usage(
    url: str,
    token: str,
    *,
    agent: str,
    usage: Mapping[str, Any] | None,
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
    status: str = "ok",
    timeout: float = 5.0,
    **fields: Any,
) -> dict[str, Any]:
    """Journal one call; the gateway's X-Request-Id / X-Customer-* are read from `headers` (the
    forwarded request's) unless given. Returns the journal's answer (`created` false on a repeat)."""
    headers = headers or {}
    body = {
        "request_id": request_id or header_value(headers, "X-Request-Id") or "",
        "customer_id": fields.pop("customer_id", None) or header_value(headers, "X-Customer-Id") or "",
        "customer_name": fields.pop("customer_name", None) or header_value(headers, "X-Customer-Name") or "",
        "agent": agent,
        "status": status,
        "usage": dict(usage) if usage is not None else None,
        **fields,
    }
    request = urllib.request.Request(  # noqa: S310 - the seller's own journal URL
        url,
        data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise JournalError(exc.code, exc.read().decode("utf-8", errors="replace")) from exc
