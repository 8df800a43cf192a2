"""Provisioning jobs: written with the state change, run by Celery, retried, swept (house style 6).

- `job_add` writes the row in the caller's transaction and enqueues it once that commits. If the
  broker is down the row simply stays pending: nothing is lost.
- `job_run` (the Celery task's body) claims the job with a lease, runs it outside any
  transaction (Query Order, the provisioner), and records the outcome under the instance's row
  lock. Jobs of one instance run one at a time, oldest first: a freeze queued behind a
  provisioning waits for it, and each finished job enqueues the next.
- A retryable failure leaves the job in `retry` and raises `RetryJob`, so Celery retries it with
  backoff; after ORDERS_JOB_MAX_ATTEMPTS attempts the job is `failed`, the instance's
  provisioning state says so and operators get an alert.
- `jobs_sweep` (periodic) re-enqueues jobs that never started, whose retry is due, or whose lease
  expired because the worker running them died. Claiming is atomic, so a duplicate message is a
  no-op, and every provisioner operation is idempotent, so a job run twice applies once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from config.celery import enqueue_on_commit, send_now
from marketplace_isv import openapi

from . import alerts, orderinfo, provisioners
from .models import Instance, InstanceOrder, Job, OrderNotification, Provisioning, Status
from .provisioners import AppInfo, ProvisionerError, ProvisionRefused
from .specs import spec_of
from .states import ACTOR_SYSTEM, transition

logger = logging.getLogger(__name__)

RETRY_BACKOFF = 5  # seconds, doubled per retry (the task decorator uses the same numbers)
RETRY_BACKOFF_MAX = 900
SWEEP_BATCH = 500
SPEC_FIELDS = {"product_id", "sku_code", "quantity", "charging_mode", "period_type", "period_number"}


class RetryJob(Exception):
    """Raised by `job_run` when the job should be retried with backoff (Celery autoretry)."""


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def max_attempts() -> int:
    return int(_setting("ORDERS_JOB_MAX_ATTEMPTS", 10))


def backoff_bound(retries: int) -> int:
    """The longest countdown Celery's retry_backoff can pick for this retry (jitter picks below)."""
    return min(RETRY_BACKOFF_MAX, RETRY_BACKOFF * 2**retries)


def _grace() -> timedelta:
    return timedelta(seconds=_setting("ORDERS_JOB_SWEEP_GRACE_SECONDS", 30))


# --- writing jobs (inside the caller's transaction) ----------------------------------------------


def enqueue(job_id: int) -> None:
    from .tasks import run_job

    enqueue_on_commit(run_job, job_id)


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
        order_id=order_id,
        order_line_id=order_line_id,
        fetch_order=fetch_order,
        is_test=instance.is_test if instance is not None else bool(is_test),
        next_run_at=timezone.now() + _grace(),
        delivery_id=delivery_id,
        actor=actor[:160],
    )
    enqueue(job.pk)
    return job


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


def provisioning_state_of(instance: Instance) -> str:
    states = set(instance.jobs.filter(state__in=(*Job.OPEN, Job.State.FAILED)).values_list("state", flat=True))
    if states & set(Job.OPEN):
        return Provisioning.PENDING
    return Provisioning.FAILED if Job.State.FAILED in states else Provisioning.READY


# --- running a job (the Celery task's body) ------------------------------------------------------


def job_run(job_id: int, *, retries: int = 0) -> str:
    """Run one job. Returns done / failed / skipped; raises RetryJob to be retried."""
    job = _claim(job_id)
    if job is None:
        return "skipped"
    try:
        app_info = _execute(job)
    except ProvisionRefused as exc:
        _finish(job, Job.State.FAILED, error=str(exc), code=exc.code)
        return "failed"
    except Exception as exc:  # ProvisionerError, OpenApiError, a bug in a provisioner: retry, bounded
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if job.attempts >= max_attempts():
            _finish(job, Job.State.FAILED, error=error)
            return "failed"
        _mark_retry(job, error, backoff_bound(retries))
        if not isinstance(exc, (ProvisionerError, openapi.OpenApiError)):
            logger.exception("orders.job_error job=%s kind=%s", job.pk, job.kind)
        raise RetryJob(error) from exc
    _finish(job, Job.State.DONE, app_info=app_info)
    return "done"


def _claim(job_id: int) -> Job | None:
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            return None
        lease_expired = job.state == Job.State.RUNNING and job.lease_until is not None and job.lease_until <= now
        if job.state not in (Job.State.PENDING, Job.State.RETRY) and not lease_expired:
            return None
        if (
            job.instance_id
            and Job.objects.filter(instance_id=job.instance_id, pk__lt=job.pk, state__in=Job.OPEN).exists()
        ):
            return None  # an older job of this instance goes first; its completion enqueues this one
        if lease_expired:
            logger.warning("orders.job_lease_expired job=%s attempts=%s", job.pk, job.attempts)
        job.state = Job.State.RUNNING
        job.attempts += 1
        job.lease_until = now + timedelta(seconds=_setting("ORDERS_JOB_LEASE_SECONDS", 300))
        job.started_at = job.started_at or now
        job.save(update_fields=["state", "attempts", "lease_until", "started_at"])
    logger.info("orders.job_started job=%s kind=%s attempt=%s", job.pk, job.kind, job.attempts)
    return job


def _mark_retry(job: Job, error: str, countdown: int) -> None:
    Job.objects.filter(pk=job.pk, state=Job.State.RUNNING, attempts=job.attempts).update(
        state=Job.State.RETRY,
        last_error=error,
        lease_until=None,
        next_run_at=timezone.now() + timedelta(seconds=countdown) + _grace(),
    )
    logger.warning("orders.job_retry job=%s kind=%s attempt=%s", job.pk, job.kind, job.attempts)


def _execute(job: Job) -> AppInfo | None:
    if job.kind == Job.Kind.FETCH_ORDER:
        _fetch_for_notification(job)
        return None
    instance = Instance.objects.get(pk=job.instance_id)
    spec_changed = False
    if job.fetch_order or (
        job.kind == Job.Kind.PROVISION and instance.generation == 2 and instance.query_order is None
    ):
        instance, spec_changed = _fetch_for_instance(job, instance)
    provisioner = provisioners.for_instance(instance.is_test)
    spec = spec_of(instance)
    if job.kind == Job.Kind.PROVISION:
        return _checked(provisioner.provision(spec))
    if job.kind == Job.Kind.RELEASE:
        if provision_attempted(instance):
            provisioner.release(spec)
        return None
    if instance.provisioned_at is None:
        return None  # never provisioned: the provisioning, when it runs, applies the current state
    if job.kind == Job.Kind.RENEW:
        if spec_changed:  # RENEWAL_CHANGE: a renewal into another spec (§4.1.3)
            provisioner.upgrade(spec)
        provisioner.renew(spec)
        return None
    if job.kind == Job.Kind.UPGRADE:
        return _checked(provisioner.upgrade(spec))
    if job.kind == Job.Kind.FREEZE:
        provisioner.freeze(spec)
    elif job.kind == Job.Kind.UNFREEZE:
        provisioner.unfreeze(spec)
    return None


def _checked(app_info: AppInfo | None) -> AppInfo | None:
    return app_info.checked() if app_info is not None else None


def _fetch_for_instance(job: Job, instance: Instance) -> tuple[Instance, bool]:
    """Query Order first (§4.1.1, §4.1.3, §4.1.6). Test traffic carries on without it when the
    open API cannot answer: a debug order id need not exist, and dial tests must keep passing."""
    order_id = job.order_id or instance.order_id
    line_id = job.order_line_id or instance.order_line_id
    try:
        answer = openapi.query_order(order_id, line_id or None)
    except openapi.OpenApiError as exc:
        if not instance.is_test:
            raise
        logger.info("orders.query_order_skipped job=%s code=%s", job.pk, exc.code)
        Instance.objects.filter(pk=instance.pk).update(query_order_error=str(exc)[:2000])
        return instance, False
    details = orderinfo.parse(answer, line_id)
    purchase = job.kind == Job.Kind.PROVISION
    now = timezone.now()
    with transaction.atomic():
        instance = Instance.objects.select_for_update().get(pk=instance.pk)
        changed = orderinfo.apply_to_instance(instance, details, purchase=purchase)
        if purchase:
            instance.query_order, instance.query_order_at, instance.query_order_error = answer, now, ""
            instance.save(update_fields=[*changed, "query_order", "query_order_at", "query_order_error", "updated_at"])
        else:
            InstanceOrder.objects.filter(instance=instance, order_id=order_id, order_line_id=line_id).update(
                query_order=answer, query_order_at=now
            )
            if changed:
                instance.save(update_fields=[*changed, "updated_at"])
                transition(
                    instance,
                    "order_details",
                    note=True,
                    reason=f"Query Order {order_id}: {', '.join(sorted(changed))}",
                    actor=ACTOR_SYSTEM,
                )
    return instance, bool(SPEC_FIELDS & set(changed))


def _fetch_for_notification(job: Job) -> None:
    notification = job.notification
    try:
        answer = openapi.query_order(notification.order_id, notification.order_line_id or None)
    except openapi.OpenApiError as exc:
        OrderNotification.objects.filter(pk=notification.pk).update(query_order_error=str(exc)[:2000])
        if notification.is_test:
            return
        raise
    OrderNotification.objects.filter(pk=notification.pk).update(
        query_order=answer, query_order_at=timezone.now(), query_order_error=""
    )


def _finish(job: Job, state: str, *, app_info: AppInfo | None = None, error: str = "", code: str = "") -> None:
    now = timezone.now()
    with transaction.atomic():
        # Lock order everywhere: the instance row, then its jobs.
        instance = Instance.objects.select_for_update().get(pk=job.instance_id) if job.instance_id else None
        current = Job.objects.select_for_update().get(pk=job.pk)
        if current.state != Job.State.RUNNING or current.attempts != job.attempts:
            logger.warning("orders.job_superseded job=%s attempt=%s", job.pk, job.attempts)
            return  # its lease expired and another run took over: that run records the outcome
        current.state, current.finished_at, current.lease_until = state, now, None
        current.last_error = error if state == Job.State.FAILED else current.last_error
        current.result_code = (code or "000005") if state == Job.State.FAILED else ""
        current.save(update_fields=["state", "finished_at", "lease_until", "last_error", "result_code"])
        if instance is not None:
            _settle(instance, current, app_info)
        elif state == Job.State.FAILED and not current.is_test:
            alerts.raise_alert(
                alerts.Alert.Kind.JOB_FAILED,
                instance_ref=f"order {current.order_id}",
                message=f"{current.kind} job #{current.pk} failed: {error}",
            )
    logger.info("orders.job_finished job=%s kind=%s state=%s", job.pk, job.kind, state)


def _settle(instance: Instance, job: Job, app_info: AppInfo | None) -> None:
    fields: list[str] = []
    done = job.state == Job.State.DONE
    if done and app_info is not None:
        for source, target in (
            ("front_end_url", "front_end_url"),
            ("admin_url", "admin_url"),
            ("user_name", "app_user_name"),
            ("password", "app_password"),
            ("memo", "app_memo"),
        ):
            value = getattr(app_info, source)
            if value is not None and getattr(instance, target) != value:
                setattr(instance, target, value)
                fields.append(target)
    first_provisioning = done and job.kind == Job.Kind.PROVISION and instance.provisioned_at is None
    if first_provisioning:
        instance.provisioned_at = timezone.now()
        instance.failure_code, instance.failure_reason = "", ""
        fields += ["provisioned_at", "failure_code", "failure_reason"]
    if not done and job.kind == Job.Kind.PROVISION and instance.provisioned_at is None:
        instance.failure_code, instance.failure_reason = job.result_code, job.last_error
        fields += ["failure_code", "failure_reason"]
    event = "provisioned" if first_provisioning else f"{job.kind}_{'done' if done else 'failed'}"
    transition(
        instance,
        event,
        provisioning=provisioning_state_of(instance),
        reason=f"job #{job.pk}" + ("" if done else f": {job.last_error}"),
        actor=ACTOR_SYSTEM,
        save_fields=tuple(fields),
        note=not done,
    )
    if not done and not instance.is_test:
        alerts.raise_alert(
            alerts.Alert.Kind.JOB_FAILED,
            instance=instance,
            message=f"{job.kind} job #{job.pk} failed for good: {job.last_error}",
        )
    following = instance.jobs.filter(state__in=(Job.State.PENDING, Job.State.RETRY)).order_by("pk").first()
    if following is not None:
        enqueue(following.pk)


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
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    from .tasks import run_job

    sent = [job_id for job_id in due if send_now(run_job, job_id)]
    if sent:
        # Not again before another grace period: a backlog is not multiplied in the queue.
        Job.objects.filter(pk__in=sent, state__in=(Job.State.PENDING, Job.State.RETRY)).update(
            next_run_at=timezone.now() + _grace()
        )
        logger.info("orders.jobs_swept count=%d", len(sent))
    return len(sent)
