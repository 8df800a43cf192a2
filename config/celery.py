"""The Celery app, and how the domain apps hand work to it (house style 6).

`enqueue_on_commit(task, *ids)` publishes after the surrounding transaction commits. A broker
outage is logged and swallowed: the job row the caller wrote in the same transaction stays
pending and the periodic sweep re-enqueues it, so a broker outage delays work but loses none.

Embedded mode (REDIS_URL unset) has no broker: tasks run in a small in-process thread pool after
commit, and the beat schedule runs in a daemon thread of the web process (`start_embedded_beat`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Every worker also drains the orders outbox: it publishes the jobs the web process committed
# (orders/outbox.py). The step is resolved when a worker builds its bootsteps; nowhere else.
app.steps["worker"].add("orders.outbox:DispatcherStep")

logger = logging.getLogger(__name__)

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def dispatch_mode() -> str:
    """`broker` (Celery), `thread` (embedded: in-process pool) or `inline` (tests)."""
    from django.conf import settings

    return getattr(settings, "ISV_JOB_DISPATCH", None) or ("thread" if settings.EMBEDDED else "broker")


def _run_in_process(task, args, kwargs, *, own_thread: bool = True) -> None:
    from django.db import close_old_connections

    try:
        task.apply(args=args, kwargs=kwargs)
    except Exception:
        logger.exception("jobs.in_process_failed task=%s", task.name)
    finally:
        # Only a thread of our own may close its connection: inline jobs run on the caller's
        # thread and connection (tests), where closing it would end the caller's transaction.
        if own_thread:
            close_old_connections()


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="isv-job")
        return _executor


def send_now(task, *args, **kwargs) -> bool:
    """Publish (or run, outside broker mode) right away. Returns False if the broker refused."""
    mode = dispatch_mode()
    if mode == "inline":
        _run_in_process(task, args, kwargs, own_thread=False)
        return True
    if mode == "thread":
        _pool().submit(_run_in_process, task, args, kwargs)
        return True
    try:
        task.apply_async(args=args, kwargs=kwargs, retry=False)
    except Exception as exc:
        logger.warning("jobs.enqueue_failed task=%s error=%s", task.name, type(exc).__name__)
        return False
    return True


def enqueue_on_commit(task, *args, **kwargs) -> None:
    from django.db import transaction

    transaction.on_commit(lambda: send_now(task, *args, **kwargs))


_beat_started = False


def start_embedded_beat() -> None:
    """Run CELERY_BEAT_SCHEDULE's periodic tasks in a daemon thread (embedded mode only)."""
    global _beat_started
    from django.conf import settings

    if _beat_started or not settings.EMBEDDED:
        return
    _beat_started = True
    schedule = dict(settings.CELERY_BEAT_SCHEDULE)
    if not schedule:
        return
    # autodiscover_tasks is lazy: a web process has not imported the apps' tasks modules, so the
    # beat's tasks would be NotRegistered. Import them now, as a worker does at start-up.
    app.loader.import_default_modules()

    def loop() -> None:
        due = {name: time.monotonic() + 5 for name in schedule}
        while True:
            time.sleep(1)
            now = time.monotonic()
            for name, entry in schedule.items():
                if now >= due[name]:
                    due[name] = now + float(entry["schedule"])
                    _run_in_process(app.tasks[entry["task"]], (), {})

    threading.Thread(target=loop, name="isv-embedded-beat", daemon=True).start()
    logger.info("jobs.embedded_beat_started tasks=%s", ",".join(sorted(schedule)))
