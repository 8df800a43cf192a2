"""The journal's batch writer: rows of calls that changed nothing, inserted in batches by a
thread of each process (see JournalWriter)."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction

from .journal import _SQL, COLUMNS, row_params

logger = logging.getLogger(__name__)


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
    BATCH = 500  # wake the thread early once this many rows wait
    BATCH_ROWS = 2000
    BATCH_BYTES = 4 * 1024 * 1024
    MAX_PENDING = 20_000

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.rows: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        self.dropped = 0
        self.thread: threading.Thread | None = None
        self.flushing = False
        self.stopping = False
        self.configured = False
        self.hurry = False  # flush() asked for the rows now

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
            self.hurry = True
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
        """The next batch: at most BATCH_ROWS rows or about BATCH_BYTES of text."""
        with self.cond:
            # Gather for up to FLUSH_SECONDS (less once BATCH rows wait, or when asked to flush):
            # taking each row as it comes would make every batch a single row again.
            deadline = time.monotonic() + self.FLUSH_SECONDS
            while len(self.rows) < self.BATCH and not self.stopping and not self.hurry:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            self.hurry = False
            size = count = 0
            for row in self.rows[: self.BATCH_ROWS]:
                size += len(row["raw_body"]) + len(row["response_body"]) + len(row["raw_query"]) + 512
                count += 1
                if size >= self.BATCH_BYTES:
                    break
            batch, self.rows = self.rows[:count], self.rows[count:]
            self.flushing = bool(batch)
            return batch

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        holders = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
        sql = _SQL + ", ".join([holders] * len(rows))
        if connection.vendor == "postgresql" and settings.ISV_DB_TRANSACTION_POOLER:
            # No session of our own behind the pooler: asynchronous commit for this transaction only.
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
                cursor.execute(sql, row_params(rows))
            return
        with connection.cursor() as cursor:
            if not self.configured and connection.vendor == "postgresql":
                cursor.execute("SET synchronous_commit TO OFF")  # rows of calls that changed nothing
                self.configured = True
            cursor.execute(sql, row_params(rows))

    def _reset_connection(self) -> None:
        from django.db import close_old_connections

        self.configured = False
        close_old_connections()
        with contextlib.suppress(Exception):  # the connection is broken anyway
            connection.close()

    def _write(self, batch: list[dict[str, Any]]) -> bool:
        """Insert the batch; False if the database is unreachable (the rows are to be kept).
        A row the database refuses on its own (it should not happen: values are cleaned) is
        dropped and logged, so one bad row can never hold up the others."""
        try:
            self._insert(batch)
            return True
        except Exception as exc:
            logger.warning("journal.batch_failed rows=%d error=%s", len(batch), type(exc).__name__)
            self._reset_connection()
        for row in batch:
            try:
                self._insert([row])
            except OperationalError:
                self._reset_connection()
                return False  # unreachable, not this row's fault
            except Exception as exc:
                logger.error("journal.row_dropped delivery=%s error=%s", row.get("id"), type(exc).__name__)
                self.dropped += 1
                self._reset_connection()
        return True

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                if self.stopping:
                    connection.close()
                    return
                continue
            written = self._write(batch)
            with self.cond:
                if not written:
                    self.rows[:0] = batch[: max(0, self.MAX_PENDING - len(self.rows))]
                self.flushing = False
            if not written:
                time.sleep(1.0)


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
