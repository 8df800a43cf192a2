"""The jobs outbox: a job row is its own message (ISV_JOB_DISPATCH = "broker").

A KooGallery call that queues work commits the job row with `enqueued_at` empty — and, on
PostgreSQL, a `NOTIFY isv_jobs` in the same transaction — and publishes nothing itself. The
`Dispatcher`, a thread of every Celery worker (`DispatcherStep`, registered by orders.apps), wakes
on that notification (or every ORDERS_JOB_DISPATCH_POLL_SECONDS), claims what is owed with
`UPDATE … SET enqueued_at = now() … FOR UPDATE SKIP LOCKED … RETURNING id` and publishes
`orders.run_job` for each. Several workers may dispatch at once: each job is claimed by one.

Why not publish on commit (house style 6)? The publish was half of the CPU a fresh newInstance
cost the web process (kombu and redis-py build a client per publish), and during a Redis outage
each answer waited for the connection attempt to fail. A job whose row committed is now always
dispatched, by a process that keeps its broker connection: a Redis outage delays work and loses
none (the claim is undone when the publish fails; the sweep in orders.jobs still re-enqueues jobs
that never started or whose worker died).
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
import time

from celery import bootsteps
from django.conf import settings
from django.db import connection
from django.utils import timezone

from .models import Job

logger = logging.getLogger("orders.jobs")

CHANNEL = "isv_jobs"  # NOTIFY / LISTEN
BATCH = 100


def notify() -> None:
    """Wake the dispatchers when the caller's transaction commits (PostgreSQL; elsewhere they poll)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])


def owe(job_id: int) -> None:
    """Have an existing job published again once the caller's transaction commits."""
    Job.objects.filter(pk=job_id).update(enqueued_at=None)
    notify()


def _claim(limit: int) -> list[tuple[int, int]]:
    """Mark up to `limit` owed jobs as published (committed at once) and return those still to
    run, as (job id, its attempts so far). Rows another dispatcher holds are skipped, not waited
    for."""
    table = connection.ops.quote_name(Job._meta.db_table)
    lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    sql = (
        f"UPDATE {table} SET enqueued_at = %s WHERE id IN "
        f"(SELECT id FROM {table} WHERE enqueued_at IS NULL ORDER BY id LIMIT %s{lock}) RETURNING id, state, attempts"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [timezone.now(), limit])
        rows = cursor.fetchall()
    runnable = {Job.State.PENDING, Job.State.RETRY}  # a job cancelled meanwhile needs no message
    return sorted((job_id, attempts) for job_id, state, attempts in rows if state in runnable)


def dispatch_owed(limit: int = BATCH) -> tuple[int, bool]:
    """Publish one batch of owed jobs. Returns (published, more may be owed). A broker failure
    hands the unpublished jobs back to the outbox and is raised."""
    from config.celery import app

    from .tasks import run_job

    claimed = _claim(limit)
    published = 0
    try:
        if claimed:
            with app.producer_or_acquire() as producer:
                for job_id, attempts in claimed:
                    # The message names the attempt it follows, as the sweep's and Celery's retries
                    # do: if the job runs before it arrives (an operator's "run now" racing the
                    # job's own retry), it is dropped instead of running an attempt without backoff.
                    run_job.apply_async(
                        args=(job_id,), kwargs={"after_attempt": attempts}, producer=producer, retry=False
                    )
                    published += 1
    except Exception:
        Job.objects.filter(pk__in=[job_id for job_id, _ in claimed[published:]]).update(enqueued_at=None)
        raise
    if published:
        logger.info("orders.jobs_dispatched count=%d", published)
    return published, len(claimed) >= limit


class Dispatcher(threading.Thread):
    """Publishes owed jobs until stopped: after each NOTIFY, and every `poll` seconds."""

    def __init__(self, poll: float | None = None):
        super().__init__(name="isv-job-dispatcher", daemon=True)
        self.poll = poll if poll is not None else float(getattr(settings, "ORDERS_JOB_DISPATCH_POLL_SECONDS", 1.0))
        self.stopping = threading.Event()
        self.listening = None  # the driver connection LISTENing, if any

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        failures = 0
        logger.info("orders.dispatcher_started poll=%s", self.poll)
        try:
            while not self.stopping.is_set():
                try:
                    self._listen()
                    more = True
                    while more and not self.stopping.is_set():
                        _, more = dispatch_owed()
                    failures = 0
                    self._wait(self.poll)
                except Exception as exc:  # database or broker down: keep trying, a little slower each time
                    failures += 1
                    logger.warning("orders.dispatch_failed error=%s attempt=%d", type(exc).__name__, failures)
                    self._reset()
                    self.stopping.wait(min(10.0, 0.5 * 2 ** min(failures, 5)))
        finally:
            self._reset()
            logger.info("orders.dispatcher_stopped")

    def _listen(self) -> None:
        connection.ensure_connection()
        if settings.ISV_DB_TRANSACTION_POOLER:
            return  # a LISTEN needs a session of its own: behind a transaction pooler, poll
        raw = connection.connection
        if connection.vendor == "postgresql" and raw is not self.listening:
            with connection.cursor() as cursor:
                cursor.execute(f"LISTEN {CHANNEL}")
            self.listening = raw

    def _wait(self, timeout: float) -> None:
        raw = self.listening
        if raw is None:
            self.stopping.wait(timeout)
            return
        if not raw.notifies:  # a notification that arrived with the last statement needs no wait
            deadline = time.monotonic() + timeout
            while not self.stopping.is_set() and time.monotonic() < deadline:
                ready, _, _ = select.select([raw], [], [], min(0.25, max(0.0, deadline - time.monotonic())))
                if ready:
                    raw.poll()
                    if raw.notifies:
                        break
        raw.notifies.clear()

    def _reset(self) -> None:
        self.listening = None
        with contextlib.suppress(Exception):  # a broken connection is closed anyway
            connection.close()


def enabled() -> bool:
    from config.celery import dispatch_mode

    return bool(getattr(settings, "ORDERS_JOB_DISPATCHER", True)) and dispatch_mode() == "broker"


class DispatcherStep(bootsteps.StartStopStep):
    """Runs a Dispatcher in the Celery worker's main process (`celery -A config worker`)."""

    label = "orders job dispatcher"
    requires = ("celery.worker.components:Pool",)

    def include_if(self, worker) -> bool:
        return enabled()

    def create(self, worker):
        self.obj = Dispatcher()
        return self.obj

    def stop(self, worker) -> None:
        if self.obj is not None:
            self.obj.stop()
