"""Running one job: the body of the `orders.run_job` Celery task (orders.jobs writes and sweeps).

The job is claimed with a lease, worked on outside any database transaction (Query Order, the
provisioner), and its outcome recorded under the instance's row lock — only by the claim that is
still current. Jobs of one instance run one at a time, oldest first: a freeze queued behind a
provisioning waits for it, and each finished job enqueues the next. A retryable failure leaves the
job in `retry` and raises `RetryJob`, so Celery retries it with backoff; after
ORDERS_JOB_MAX_ATTEMPTS attempts the job is `failed`, the instance's provisioning state says so and
operators get an alert. A Query Order answer that retrying cannot change (§7.1: a 401 configuration
error, a 400 refused parameter) fails the job at once, the same way.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from marketplace_isv import openapi, strict_json
from marketplace_isv.fields import key_fit
from marketplace_isv.models import Delivery

from . import alerts, orderinfo, provisioners
from .jobs import (
    backoff_countdown,
    enqueue,
    grace,
    max_attempts,
    provision_attempted,
    provisioning_state_of,
    setting_seconds,
)
from .models import Instance, InstanceOrder, Job, OrderNotification
from .provisioners import AppInfo, ProvisionerError, ProvisionRefused
from .specs import spec_of
from .states import ACTOR_SYSTEM, transition

logger = logging.getLogger("orders.jobs")

ID_COLUMN = Instance._meta.get_field("order_id").max_length

SPEC_FIELDS = {"product_id", "sku_code", "quantity", "charging_mode", "period_type", "period_number"}


class RetryJob(Exception):
    """Raised by `job_run` when the job should be retried after `countdown` seconds; `attempts`
    is the attempt that failed (the retry message names it, see orders.tasks.run_job)."""

    def __init__(self, error: str, *, attempts: int, countdown: float):
        super().__init__(error)
        self.attempts, self.countdown = attempts, countdown


def job_run(job_id: int, *, after_attempt: int | None = None) -> str:
    """Run one job. Returns done / failed / skipped; raises RetryJob to be retried.
    `after_attempt`: this run is the retry of that attempt, skipped if the job ran again since."""
    job = _claim(job_id, after_attempt=after_attempt)
    if job is None:
        return "skipped"
    try:
        app_info = _execute(job)
    except ProvisionRefused as exc:
        _finish(job, Job.State.FAILED, error=str(exc), code=exc.code)
        return "failed"
    except Exception as exc:  # ProvisionerError, OpenApiError, a bug in a provisioner: retry, bounded
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if isinstance(exc, openapi.OpenApiError) and not exc.retryable:
            # §7.1: a 401 is a configuration error, a 400 a refused parameter: retrying cannot help.
            # The job fails now, with an alert saying what to fix; operators retry it once fixed.
            _finish(job, Job.State.FAILED, error=exc.operator_text()[:2000])
            return "failed"
        if job.attempts >= max_attempts():
            _finish(job, Job.State.FAILED, error=error)
            return "failed"
        countdown = backoff_countdown(job.attempts)
        _mark_retry(job, error, countdown)
        if not isinstance(exc, (ProvisionerError, openapi.OpenApiError)):
            logger.exception("orders.job_error job=%s kind=%s", job.pk, job.kind)
        raise RetryJob(error, attempts=job.attempts, countdown=countdown) from exc
    _finish(job, Job.State.DONE, app_info=app_info)
    return "done"


def _claim(job_id: int, *, after_attempt: int | None = None) -> Job | None:
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            return None
        if after_attempt is not None and job.attempts != after_attempt:
            return None  # a retry of an attempt that is no longer the last: the job ran again since
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
        job.lease_until = now + timedelta(seconds=setting_seconds("ORDERS_JOB_LEASE_SECONDS", 300))
        job.started_at = job.started_at or now
        job.save(update_fields=["state", "attempts", "lease_until", "started_at"])
    logger.info("orders.job_started job=%s kind=%s attempt=%s", job.pk, job.kind, job.attempts)
    return job


def _mark_retry(job: Job, error: str, countdown: float) -> None:
    Job.objects.filter(pk=job.pk, state=Job.State.RUNNING, attempts=job.attempts).update(
        state=Job.State.RETRY,
        last_error=error,
        lease_until=None,
        next_run_at=timezone.now() + timedelta(seconds=countdown) + grace(),
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
        answer = openapi.query_order(*_as_sent(order_id, line_id, _instance_params(instance)))
    except openapi.OpenApiError as exc:
        if not instance.is_test:
            raise
        logger.info("orders.query_order_skipped job=%s code=%s", job.pk, exc.code)
        Instance.objects.filter(pk=instance.pk).update(query_order_error=exc.operator_text()[:2000])
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


def _as_sent(order_id: str, line_id: str, candidates) -> tuple[str, str | None]:
    """The ids as KooGallery sent them, for Query Order: a key over its column is stored fitted
    (marketplace_isv.fields.key_fit), which the open API does not know; the calls' parameters
    (`candidates`, read only for such a key) hold them whole."""
    sent_order, sent_line = order_id, line_id
    if max(len(order_id), len(line_id)) >= ID_COLUMN:
        for params in candidates():
            if not isinstance(params, dict):
                continue
            raw_order, raw_line = str(params.get("orderId") or ""), str(params.get("orderLineId") or "")
            if raw_order and key_fit(raw_order, ID_COLUMN) == order_id:
                sent_order = raw_order
                if raw_line and key_fit(raw_line, ID_COLUMN) == line_id:
                    sent_line = raw_line
                break
    return sent_order, sent_line or None


def _instance_params(instance: Instance):
    """The purchase's parameters, then each later order's."""
    return lambda: (instance.request_params, *instance.orders.values_list("params", flat=True))


def _journaled_params(*delivery_ids):
    """The bodies of the journaled calls (an orderNotify keeps no parameters of its own)."""

    def read():
        for body in Delivery.objects.filter(pk__in=[d for d in delivery_ids if d]).values_list("raw_body", flat=True):
            try:
                yield strict_json.loads(body)
            except ValueError:
                continue

    return read


def _fetch_for_notification(job: Job) -> None:
    notification = job.notification
    order_id, line_id = _as_sent(
        notification.order_id, notification.order_line_id, _journaled_params(job.delivery_id, notification.delivery_id)
    )
    try:
        answer = openapi.query_order(order_id, line_id)
    except openapi.OpenApiError as exc:
        OrderNotification.objects.filter(pk=notification.pk).update(query_order_error=exc.operator_text()[:2000])
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
                message=f"{current.kind} job #{current.pk} failed after {current.attempts} attempt(s): {error}",
            )
        elif (
            state == Job.State.DONE
            and not Job.objects.filter(notification__order_id=current.order_id, state=Job.State.FAILED).exists()
        ):
            # The order's failed fetch was retried and succeeded: its alert is answered.
            alerts.alert_resolve_open(
                alerts.Alert.Kind.JOB_FAILED, instance_ref=f"order {current.order_id}", actor=_resolver(current)
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
    provisioning = provisioning_state_of(instance)
    transition(
        instance,
        event,
        provisioning=provisioning,
        reason=f"job #{job.pk}" + ("" if done else f": {job.last_error}"),
        actor=ACTOR_SYSTEM,
        save_fields=tuple(fields),
        note=not done,
    )
    if not done and not instance.is_test:
        alerts.raise_alert(
            alerts.Alert.Kind.JOB_FAILED,
            instance=instance,
            message=f"{job.kind} job #{job.pk} failed after {job.attempts} attempt(s): {job.last_error}",
        )
    if done and not instance.jobs.filter(state=Job.State.FAILED).exists():
        # No job of the instance is failed any more (its failed jobs were retried and succeeded):
        # the alert raised for them is answered. (Not the provisioning state: it says "pending"
        # while anything is queued, even beside a failed job.)
        alerts.alert_resolve_open(alerts.Alert.Kind.JOB_FAILED, instance_ref=instance.instance_id, actor=_resolver(job))
    following = instance.jobs.filter(state__in=(Job.State.PENDING, Job.State.RETRY)).order_by("pk").first()
    if following is not None:
        enqueue(following.pk)


def _resolver(job: Job) -> str:
    return f"{ACTOR_SYSTEM} (job #{job.pk} done)"
