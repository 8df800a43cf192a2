"""Writing the delivery journal: one `Delivery` row per inbound call (house style 2).

A `Draft` collects what is known as the call proceeds (raw request, the caller once verified,
the result) and `write()` stores it in one INSERT. Secrets are redacted here and nowhere else.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from django.conf import settings
from django.db import connection
from django.utils import timezone

from .envelope import Result
from .fields import key_fit
from .inbound import Inbound
from .models import Delivery
from .schemes import Caller

logger = logging.getLogger(__name__)

REDACTED = "[redacted]"
SECRET_PARAMS = {"authToken", "signature"}
SECRET_ANSWER_MEMBERS = ("password",)  # appInfo.password: the buyer's initial admin password
UNVERIFIED_BODY_LIMIT = 64 * 1024  # what is kept of a body nobody authenticated
MAX_INT = 2**31 - 1
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


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): journal rows land at the end of the primary key
    index instead of at random places in it. The id is no secret, so its random bits come from
    `random` (reseeded in every forked worker) rather than a system call per call."""
    ms = time.time_ns() // 1_000_000
    value = (ms & ((1 << 48) - 1)) << 80 | random.getrandbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return uuid.UUID(int=value)


def clean(text: str) -> str:
    """Text the database can store: no NUL, no lone surrogates (from hostile input)."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", errors="replace").decode("utf-8")
    return text


def redact_query(raw_query: str) -> str:
    """Secret parameters replaced, recognised however their names are percent-encoded."""
    pieces = raw_query.split("&")
    for i, piece in enumerate(pieces):
        name, sep, _ = piece.partition("=")
        if sep and unquote(name) in SECRET_PARAMS:
            pieces[i] = f"{name}={REDACTED}"
    return "&".join(pieces)


def redact_answer(body: bytes) -> str:
    """Our answer as journaled: secret members (the initial password of appInfo) redacted."""
    text = body.decode("ascii", errors="replace")
    if not any(f'"{member}"' in text for member in SECRET_ANSWER_MEMBERS):
        return text
    data = json.loads(text)

    def walk(value):
        if isinstance(value, dict):
            return {k: (REDACTED if k in SECRET_ANSWER_MEMBERS else walk(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return json.dumps(walk(data), separators=(",", ":"))


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    kept = {name: headers[name] for name in KEPT_HEADERS if name in headers}
    kept.update({name: REDACTED for name in SECRET_HEADERS if name in headers})
    return kept


def _text(value: Any, limit: int = 255) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)[:limit]


def _key(value: Any) -> str:
    """An order or tenant id as the rows it names store it (fields.key_fit), so a search by the
    stored id finds the calls."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    return key_fit(str(value))


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
    id: uuid.UUID = field(default_factory=lambda: uuid7())
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
            if not self.activity and isinstance(fields.get("activity"), str):
                self.activity = fields["activity"][:64]

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def values(self, result: Result, response_body: bytes, error: str = "") -> dict[str, Any]:
        """The journal row, column by column, ready for the database driver."""
        f = self.fields
        caller = self.caller
        if self.body_omitted:
            body = ""
        else:
            kept = self.body if caller is not None else self.body[:UNVERIFIED_BODY_LIMIT]
            body = clean(kept.decode("utf-8", errors="replace"))
        return {
            "id": str(self.id),
            "received_at": self.received_at,
            "scheme": self.scheme,
            "method": self.method[:8],
            "path": clean(self.path[:512]),
            "activity": clean((self.activity or _text(f.get("activity"), 64))[:64]),
            "raw_query": clean(redact_query(self.raw_query)),
            "raw_headers": json.dumps(redact_headers(self.headers)),  # ASCII-escaped: always storable
            "raw_body": body,
            "body_bytes": min(self.body_bytes, MAX_INT),
            "body_omitted": self.body_omitted,
            "remote_addr": clean(self.remote_addr[:64]),
            "verified": caller is not None,
            "key_name": caller.key.name if caller else "",
            "auth_variant": caller.variant if caller else "",
            "test_flag": _text(f.get("testFlag")).strip() == "1",  # as the handlers read it (fields.test_flag)
            "order_id": clean(_key(f.get("orderId"))),
            # The call's instanceId, else the one the answer gives (newInstance, getLicense): so the
            # call that created an instance is found by its id, not by its order alone.
            "instance_id": clean(_text(f.get("instanceId") or result.fields.get("instanceId"))),
            "tenant_id": clean(_key(f.get("tenantId"))),
            "result_code": result.code,
            "result_msg": clean(result.message),
            "response_body": redact_answer(response_body),
            "error": clean(error[:2000]),
            "latency_ms": round(self.elapsed_ms(), 3),
            "actor": self.actor[:150],
            "replay_of_id": str(self.replay_of_id) if self.replay_of_id else None,
        }

    def write(self, result: Result, response_body: bytes, error: str = "", *, durable: bool = True) -> None:
        """Record the call. `durable`: INSERT now, in the caller's transaction (the row commits
        with the handler's state changes). Otherwise the row goes to this process's journal
        writer, which inserts rows in batches within milliseconds (journal_writer.py)."""
        values = self.values(result, response_body, error)
        # An operator's replay is read back at once by the console: never batched.
        if durable or self.replay_of_id is not None or not settings.ISV_JOURNAL_ASYNC:
            insert(values)
        else:
            from .journal_writer import writer

            writer().add(values)


COLUMNS = (
    "id", "received_at", "scheme", "method", "path", "activity", "raw_query", "raw_headers", "raw_body",
    "body_bytes", "body_omitted", "remote_addr", "verified", "key_name", "auth_variant", "test_flag",
    "order_id", "instance_id", "tenant_id", "result_code", "result_msg", "response_body", "error",
    "latency_ms", "actor", "replay_of_id",
)  # fmt: skip
_SQL = f"INSERT INTO {Delivery._meta.db_table} ({', '.join(COLUMNS)}) VALUES "


def row_params(rows: list[dict[str, Any]]) -> list[Any]:
    """The rows' values in column order. PostgreSQL takes them as they are; other databases
    (SQLite in embedded mode, which stores UUIDs as 32 hex digits) get Django's own conversion."""
    if connection.vendor == "postgresql":
        return [row[c] for row in rows for c in COLUMNS]
    fields = {f.attname: f for f in Delivery._meta.concrete_fields}
    prepared = []
    for row in rows:
        for column in COLUMNS:
            value = row[column]
            if column in ("id", "replay_of_id") and value is not None:
                value = uuid.UUID(value)
            elif column == "raw_headers":
                value = json.loads(value)
            prepared.append(fields[column].get_db_prep_save(value, connection))
    return prepared


def insert(values: dict[str, Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_SQL + "(" + ", ".join(["%s"] * len(COLUMNS)) + ")", row_params([values]))
