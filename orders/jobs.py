"""Provisioning jobs: written with the state change, run by Celery, retried, swept (house style 6).

- `job_add` writes the row in the caller's transaction. With a broker (ISV_JOB_DISPATCH =
  "broker") the row is the message: the outbox dispatcher of the Celery workers publishes it once
  the transaction commits (orders.outbox). In-process modes ("inline" in tests, "thread" in
  embedded mode) run it right after the commit.
- orders.execution runs a job (the Celery task's body): claim with a lease, work outside any
  transaction, record the outcome under the instance's row lock; retries with backoff; failed
  after ORDERS_JOB_MAX_ATTEMPTS.
- `jobs_sweep` (periodic) re-enqueues jobs that never started, whose retry is due, or whose lease
  expired because the worker running them died. Claiming is atomic, so a duplicate message is a
  no-op, and every provisioner operation is idempotent, so a job run twice applies once.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from config.celery import dispatch_mode, enqueue_on_commit, send_now

from . import outbox
from .inserts import fitted
from .models import Instance, Job, OrderNotification, Provisioning, Status

logger = logging.getLogger(__name__)

RETRY_BACKOFF = 5  # seconds, doubled per retry (ORDERS_JOB_RETRY_BACKOFF_SECONDS)
RETRY_BACKOFF_MAX = 900
SWEEP_BATCH = 500


def setting_seconds(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def max_attempts() -> int:
    return int(setting_seconds("ORDERS_JOB_MAX_ATTEMPTS", 10))


def backoff_bound(retries: int) -> float:
    """The longest countdown before retry number `retries` + 1 (5 s, 10 s, 20 s … 900 s)."""
    return min(RETRY_BACKOFF_MAX, setting_seconds("ORDERS_JOB_RETRY_BACKOFF_SECONDS", RETRY_BACKOFF) * 2**retries)


def backoff_countdown(attempts: int) -> float:
    """Seconds before the next try of a job that failed its `attempts`-th attempt: the backoff
    bound, less up to half of it at random (jitter spreads retries of jobs that failed together)."""
    bound = backoff_bound(max(0, attempts - 1))
    return random.uniform(bound / 2, bound)


def grace() -> timedelta:
    return timedelta(seconds=setting_seconds("ORDERS_JOB_SWEEP_GRACE_SECONDS", 30))


# --- writing jobs (inside the caller's transaction) ----------------------------------------------


def through_outbox() -> bool:
    """True when jobs reach the workers through the outbox (a broker), not in-process."""
    return dispatch_mode() == "broker"


def written(job_id: int, *, notified: bool = False) -> None:
    """A job row was written in the caller's transaction: have it run once that commits."""
    if through_outbox():
        if not notified:
            outbox.notify()
        return
    from .tasks import run_job

    enqueue_on_commit(run_job, job_id)


def enqueue(job_id: int, *, after_attempt: int | None = None) -> None:
    """Have an existing job (one that waited behind another) run once the caller commits.
    `after_attempt`: the message is dropped if the job runs again before it arrives (the outbox
    stamps its messages so itself, from the row)."""
    if through_outbox():
        outbox.owe(job_id)
        return
    from .tasks import run_job

    enqueue_on_commit(run_job, job_id, after_attempt=after_attempt)


def job_add(
    instance: Instance | None,
    kind: str,
    *,
    actor: str,
    delivery_id=None,
    order_id: str = "",
    order_line_id: str = "",
    fetch_order: bool = False,
    notification: OrderNotification | None = None,
    is_test: bool | None = None,
) -> Job:
    job = Job.objects.create(
        instance=instance,
        notification=notification,
        kind=kind,
        **fitted(Job, order_id=order_id, order_line_id=order_line_id),
        fetch_order=fetch_order,
        is_test=instance.is_test if instance is not None else bool(is_test),
        next_run_at=timezone.now() + grace(),
        enqueued_at=None if through_outbox() else timezone.now(),
        delivery_id=delivery_id,
        actor=actor[:160],
    )
    written(job.pk)
    return job


def order_fetch_add(
    notification: OrderNotification, *, actor: str, delivery_id=None, is_test: bool | None = None
) -> Job:
    """The job that fetches an orderNotify's order with Query Order (§4.1.8, §7.1)."""
    return job_add(
        None,
        Job.Kind.FETCH_ORDER,
        actor=actor,
        delivery_id=delivery_id,
        notification=notification,
        order_id=notification.order_id,
        order_line_id=notification.order_line_id,
        is_test=notification.is_test if is_test is None else is_test,
    )


def provision_values(*, is_test: bool, delivery_id, actor: str, now) -> dict:
    """The columns of a new instance's provisioning job (orders.statements writes it in the
    instance's own statement; `job_add` writes every other job)."""
    return {
        "is_test": is_test,
        "next_run_at": now + grace(),
        "enqueued_at": None if through_outbox() else now,
        "delivery_id": delivery_id,
        "actor": actor[:160],
    }


def cancel_unstarted(instance: Instance) -> int:
    """A release supersedes the instance's queued work. Running jobs finish; the release follows."""
    return Job.objects.filter(instance=instance, state__in=(Job.State.PENDING, Job.State.RETRY)).update(
        state=Job.State.CANCELLED, finished_at=timezone.now(), lease_until=None
    )


def provision_attempted(instance: Instance) -> bool:
    """Did a provisioner ever act (or start to act) for this instance?"""
    return instance.provisioned_at is not None or instance.jobs.filter(kind=Job.Kind.PROVISION, attempts__gt=0).exists()


def rearm_failed(instance: Instance, *, actor: str, delivery_id=None) -> int:
    """Queue the instance's failed work again (operator retry, repeated newInstance).

    Failed jobs are not re-run in place: a freeze that failed before a later unfreeze succeeded
    must not run after it. Each failed job is closed as superseded and the work is queued anew at
    the end of the line, as what the instance needs *now*: provisioning if it never got
    provisioned, a freeze or unfreeze matching its current status, and renewals and upgrades
    (which apply the current expiry and spec) as they were. Returns the number of jobs queued.
    """
    failed = list(instance.jobs.filter(state=Job.State.FAILED).order_by("pk"))
    if not failed:
        return 0
    Job.objects.filter(pk__in=[job.pk for job in failed]).update(state=Job.State.CANCELLED)
    wanted: list[Job] = []
    if instance.status == Status.RELEASED:
        if provision_attempted(instance):
            wanted.append(Job(kind=Job.Kind.RELEASE))
    elif instance.provisioned_at is None or any(job.kind == Job.Kind.PROVISION for job in failed):
        wanted.append(Job(kind=Job.Kind.PROVISION))
    for job in failed:
        if instance.status == Status.RELEASED:
            break
        if job.kind in (Job.Kind.RENEW, Job.Kind.UPGRADE):
            wanted.append(job)
        elif job.kind in (Job.Kind.FREEZE, Job.Kind.UNFREEZE):
            wanted.append(Job(kind=Job.Kind.FREEZE if instance.status == Status.FROZEN else Job.Kind.UNFREEZE))
    queued, seen = 0, set()
    for job in wanted:
        key = (job.kind, job.order_id, job.order_line_id)
        if key in seen:
            continue
        seen.add(key)
        job_add(
            instance,
            job.kind,
            actor=actor,
            delivery_id=delivery_id,
            order_id=job.order_id,
            order_line_id=job.order_line_id,
            fetch_order=job.fetch_order,
        )
        queued += 1
    return queued


RUN_NOW_SPACING = timedelta(seconds=10)


def run_waiting_now(owner: Instance | OrderNotification) -> int:
    """Operator retry of work waiting out a retry backoff: its jobs become due now, and the
    owner's oldest waiting job is handed to a worker once the caller commits (the jobs behind it
    follow as each finishes). The Celery retry scheduled earlier names an older attempt and is
    dropped (orders.execution). Not again within RUN_NOW_SPACING of the last hand-over: a double
    click must not spend two attempts. Returns the number of jobs made due."""
    now = timezone.now()
    waiting = owner.jobs.filter(state=Job.State.RETRY).order_by("pk")
    first = waiting.select_for_update().first()  # a worker claiming it now waits, or is waited for
    if first is None or just_handed_over(first, now):
        return 0
    count = waiting.update(next_run_at=now + grace())
    Job.objects.filter(pk=first.pk).update(enqueued_at=now)  # the outbox's owe() clears it again
    enqueue(first.pk, after_attempt=first.attempts)  # a race with its own retry: one runs, one is dropped
    return count


def just_handed_over(job: Job, now) -> bool:
    """Was the job handed to a worker moments ago (or is it owed to the broker right now)?"""
    return job.enqueued_at is None or job.enqueued_at > now - RUN_NOW_SPACING


def provisioning_state_of(instance: Instance) -> str:
    states = set(instance.jobs.filter(state__in=(*Job.OPEN, Job.State.FAILED)).values_list("state", flat=True))
    if states & set(Job.OPEN):
        return Provisioning.PENDING
    return Provisioning.FAILED if Job.State.FAILED in states else Provisioning.READY


# --- the sweep -----------------------------------------------------------------------------------


def jobs_sweep() -> int:
    """Re-enqueue jobs that never started, whose retry is due, or whose lease expired."""
    now = timezone.now()
    due = list(
        Job.objects.filter(
            Q(state__in=(Job.State.PENDING, Job.State.RETRY), next_run_at__lte=now)
            | Q(state=Job.State.RUNNING, lease_until__lte=now)
        )
        .order_by("pk")
        .values_list("pk", "attempts")[:SWEEP_BATCH]
    )
    from .tasks import run_job

    # Each message names the attempt it follows: if the job runs again before it arrives (its own
    # retry came first), the message is dropped instead of spending an attempt without backoff.
    sent = [job_id for job_id, attempts in due if send_now(run_job, job_id, after_attempt=attempts)]
    if sent:
        # Not again before another grace period: a backlog is not multiplied in the queue. Nor by
        # the outbox: what the sweep sent is owed no other message.
        now = timezone.now()
        Job.objects.filter(pk__in=sent, state__in=(Job.State.PENDING, Job.State.RETRY)).update(
            next_run_at=now + grace(), enqueued_at=now
        )
        logger.info("orders.jobs_swept count=%d", len(sent))
    return len(sent)
