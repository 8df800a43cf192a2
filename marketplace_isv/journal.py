"""Writing the delivery journal: one `Delivery` row per inbound call (house style 2).

A `Draft` collects what is known as the call proceeds (raw request, the caller once verified,
the result) and `write()` stores it in one INSERT. Secrets are redacted here and nowhere else.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from .envelope import Result
from .inbound import Inbound
from .models import Delivery
from .schemes import Caller

logger = logging.getLogger(__name__)

REDACTED = "[redacted]"
_SECRET_QUERY = re.compile(r"(^|&)(authToken|signature)=[^&]*")
KEPT_HEADERS = (
    "content-type",
    "content-length",
    "user-agent",
    "x-timestamp",
    "x-nonce",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-request-id",
)
SECRET_HEADERS = ("authtoken", "x-sign")


def redact_query(raw_query: str) -> str:
    return _SECRET_QUERY.sub(lambda m: f"{m.group(1)}{m.group(2)}={REDACTED}", raw_query)


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    kept = {name: headers[name] for name in KEPT_HEADERS if name in headers}
    kept.update({name: REDACTED for name in SECRET_HEADERS if name in headers})
    return kept


def _text(value: Any, limit: int = 255) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)[:limit]


@dataclass
class Draft:
    scheme: str
    method: str
    path: str
    raw_query: str
    headers: dict[str, str]
    remote_addr: str
    received_at: datetime = field(default_factory=timezone.now)
    started: float = field(default_factory=time.perf_counter)
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    activity: str = ""
    body: bytes = b""
    body_bytes: int = 0
    body_omitted: bool = False
    caller: Caller | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    actor: str = "marketplace"
    replay_of_id: uuid.UUID | None = None

    def take_inbound(self, inbound: Inbound) -> None:
        self.body = inbound.body
        self.body_bytes = len(inbound.body)

    def take_fields(self, fields: dict[str, Any] | None) -> None:
        """Business identifiers for operators' searches, from the verified payload or, when
        verification failed, from whatever could be read (the row then says unverified)."""
        if fields:
            self.fields = fields

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def build(self, result: Result, response_body: bytes, error: str = "") -> Delivery:
        f = self.fields
        test_flag = _text(f.get("testFlag")) == "1"
        return Delivery(
            id=self.id,
            received_at=self.received_at,
            scheme=self.scheme,
            method=self.method[:8],
            path=self.path[:512],
            activity=(self.activity or _text(f.get("activity"), 64))[:64],
            raw_query=redact_query(self.raw_query),
            raw_headers=redact_headers(self.headers),
            raw_body="" if self.body_omitted else self.body.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
            body_bytes=self.body_bytes,
            body_omitted=self.body_omitted,
            remote_addr=self.remote_addr[:64],
            verified=self.caller is not None,
            key_name=self.caller.key.name if self.caller else "",
            auth_variant=self.caller.variant if self.caller else "",
            test_flag=test_flag,
            order_id=_text(f.get("orderId")),
            instance_id=_text(f.get("instanceId")),
            tenant_id=_text(f.get("tenantId")),
            result_code=result.code,
            result_msg=result.message,
            response_body=response_body.decode("ascii"),
            error=error[:2000],
            latency_ms=round(self.elapsed_ms(), 3),
            actor=self.actor[:150],
            replay_of_id=self.replay_of_id,
        )

    def write(self, result: Result, response_body: bytes, error: str = "") -> Delivery:
        delivery = self.build(result, response_body, error)
        delivery.save(force_insert=True)
        return delivery
