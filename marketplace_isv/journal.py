"""Writing the delivery journal: one `Delivery` row per inbound call (house style 2).

A `Draft` collects what is known as the call proceeds (raw request, the caller once verified,
the result) and `write()` stores it in one INSERT. Secrets are redacted here and nowhere else.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
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


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): journal rows land at the end of the primary key
    index instead of at random places in it."""
    ms = time.time_ns() // 1_000_000
    value = (ms & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10), "big") & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return uuid.UUID(int=value)


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
        return {
            "id": str(self.id),
            "received_at": self.received_at,
            "scheme": self.scheme,
            "method": self.method[:8],
            "path": self.path[:512],
            "activity": (self.activity or _text(f.get("activity"), 64))[:64],
            "raw_query": redact_query(self.raw_query),
            "raw_headers": json.dumps(redact_headers(self.headers)),
            "raw_body": ""
            if self.body_omitted
            else self.body.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
            "body_bytes": self.body_bytes,
            "body_omitted": self.body_omitted,
            "remote_addr": self.remote_addr[:64],
            "verified": caller is not None,
            "key_name": caller.key.name if caller else "",
            "auth_variant": caller.variant if caller else "",
            "test_flag": _text(f.get("testFlag")) == "1",
            "order_id": _text(f.get("orderId")),
            "instance_id": _text(f.get("instanceId")),
            "tenant_id": _text(f.get("tenantId")),
            "result_code": result.code,
            "result_msg": result.message,
            "response_body": response_body.decode("ascii"),
            "error": error[:2000],
            "latency_ms": round(self.elapsed_ms(), 3),
            "actor": self.actor[:150],
            "replay_of_id": str(self.replay_of_id) if self.replay_of_id else None,
        }

    def write(self, result: Result, response_body: bytes, error: str = "", *, durable: bool = True) -> None:
        """Record the call. `durable`: INSERT now, in the caller's transaction (the row commits
        with the handler's state changes). Otherwise the row goes to this process's journal
        writer, which inserts rows in batches within milliseconds (see `JournalWriter`)."""
        values = self.values(result, response_body, error)
        if durable or not settings.ISV_JOURNAL_ASYNC:
            insert(values)
        else:
            writer().add(values)


COLUMNS = (
    "id", "received_at", "scheme", "method", "path", "activity", "raw_query", "raw_headers", "raw_body",
    "body_bytes", "body_omitted", "remote_addr", "verified", "key_name", "auth_variant", "test_flag",
    "order_id", "instance_id", "tenant_id", "result_code", "result_msg", "response_body", "error",
    "latency_ms", "actor", "replay_of_id",
)  # fmt: skip
_SQL = f"INSERT INTO {Delivery._meta.db_table} ({', '.join(COLUMNS)}) VALUES "


def insert(values: dict[str, Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_SQL + "(" + ", ".join(["%s"] * len(COLUMNS)) + ")", [values[c] for c in COLUMNS])


class JournalWriter:
    """Per-process batch writer for journal rows of calls that changed no business state
    (read-only interfaces and every refused or failed call).

    Inserting each such row in its own transaction cost more than the rest of the protocol layer
    together; a background thread instead inserts whatever accumulated, every FLUSH_SECONDS or
    BATCH rows, in one multi-row INSERT on its own connection with asynchronous commit. Rows
    wait in memory for milliseconds: a killed worker process loses at most those. If the database
    is down the rows are kept (up to MAX_PENDING, oldest dropped first, counted and logged) and
    written once it is back. State-changing calls never come here: their row commits with them.
    """

    FLUSH_SECONDS = 0.05
    BATCH = 500
    MAX_PENDING = 20_000

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.rows: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        self.dropped = 0
        self.thread: threading.Thread | None = None
        self.flushing = False
        self.stopping = False

    def add(self, values: dict[str, Any]) -> None:
        with self.cond:
            if len(self.rows) >= self.MAX_PENDING:
                self.rows.pop(0)
                self.dropped += 1
                if self.dropped % 1000 == 1:
                    logger.error("journal.rows_dropped total=%d reason=backlog_full", self.dropped)
            self.rows.append(values)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="isv-journal-writer", daemon=True)
                self.thread.start()
            if len(self.rows) >= self.BATCH:
                self.cond.notify()

    def pending(self) -> int:
        with self.cond:
            return len(self.rows) + (1 if self.flushing else 0)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row added so far is written (tests, shutdown). True if done."""
        deadline = time.monotonic() + timeout
        with self.cond:
            self.cond.notify_all()
        while time.monotonic() < deadline:
            if self.pending() == 0:
                return True
            time.sleep(0.01)
        return False

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is pending, then end the thread and close its database connection."""
        self.flush(timeout)
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        if self.thread is not None:
            self.thread.join(timeout)

    def _take(self) -> list[dict[str, Any]]:
        with self.cond:
            if not self.rows:
                self.cond.wait(self.FLUSH_SECONDS)
            batch, self.rows = self.rows[: self.BATCH * 4], self.rows[self.BATCH * 4 :]
            self.flushing = bool(batch)
            return batch

    def _run(self) -> None:
        from django.db import close_old_connections

        configured = False
        while True:
            batch = self._take()
            if not batch:
                if self.stopping:
                    connection.close()
                    return
                continue
            try:
                with connection.cursor() as cursor:
                    if not configured and connection.vendor == "postgresql":
                        cursor.execute("SET synchronous_commit TO OFF")  # rows of calls that changed nothing
                        configured = True
                    holders = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
                    params = [row[c] for row in batch for c in COLUMNS]
                    cursor.execute(_SQL + ", ".join([holders] * len(batch)), params)
            except Exception as exc:
                logger.warning("journal.batch_failed rows=%d error=%s", len(batch), type(exc).__name__)
                configured = False
                close_old_connections()
                with contextlib.suppress(Exception):  # the connection is broken anyway
                    connection.close()
                with self.cond:
                    self.rows[:0] = batch[: max(0, self.MAX_PENDING - len(self.rows))]
                    self.flushing = False
                time.sleep(1.0)
                continue
            with self.cond:
                self.flushing = False


_writer: JournalWriter | None = None
_writer_lock = threading.Lock()


def writer() -> JournalWriter:
    """This process's writer (a new one after a fork: threads do not survive it)."""
    global _writer
    with _writer_lock:
        if _writer is None or _writer.pid != os.getpid():
            _writer = JournalWriter()
            atexit.register(_writer.stop, 5.0)
        return _writer
