"""Pay-per-use usage: the ISV reports usage windows, we push them to KooGallery (§7.2, §5.7).

`usage_record` takes one window of one pay-per-use instance (from /api/usage/, the
`orders_usage_report` command, or the ISV's own code), checks what KooGallery would refuse, adds
it to the running total queryInstance answers in usageInfo, and writes a `UsageRecord`. The
`orders.push_usage` task (right after a report commits, and every ORDERS_USAGE_PUSH_SECONDS)
pushes due records, at most 100 per call, each with its own `metering_sn` kept across retries.

Outcomes per push:
- accepted (`MKT.0000`; a record answered `005`/`010` — a duplicate — was taken by an earlier try);
- the call failed (network, 5xx, rate limit, authentication): the records go back to pending
  with backoff, and are `failed` for operators once out of attempts;
- the batch was refused as a whole (4xx) with no word on which record: each record is then pushed
  on its own, so one bad record cannot hold back the others; a record refused on its own is
  `rejected` with KooGallery's code, and an operator alert is raised.
The answer's per-record shape is undocumented: any list of objects carrying `metering_sn` and a
code is read (README, protocol notes).
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from config.celery import enqueue_on_commit
from marketplace_isv import openapi

from . import alerts
from .models import Alert, ChargingMode, Instance, UsageRecord

logger = logging.getLogger(__name__)

State = UsageRecord.State
MAX_AGE = timedelta(days=21)  # KooGallery refuses records starting earlier (MKT.9004, code 007)
CLOCK_SKEW = timedelta(minutes=5)  # a window may end this far in our future
MAX_VALUE = Decimal("1e12")  # Double(12,4)
DUPLICATE_CODES = {"005", "010"}  # duplicate record id / duplicate record: taken by an earlier try
# §7.2: what KooGallery's codes mean, for operators.
CODE_MEANINGS = {
    "001": "instance not found",
    "002": "bad time format",
    "003": "bad usage value",
    "004": "missing record id",
    "005": "duplicate record id (taken by an earlier try)",
    "006": "product delisted",
    "007": "record expired (older than 21 days)",
    "009": "instance not this seller's",
    "010": "duplicate record (taken by an earlier try)",
    "011": "bad time range",
    "012": "not a pay-per-use instance",
    "013": "abnormal instance state",
    "MKT.0100": "input check failed",
    "MKT.0101": "invalid parameter",
    "MKT.9001": "instance not found",
    "MKT.9002": "invalid usage entities",
    "MKT.9003": "too many records",
    "MKT.9004": "start time older than 21 days",
}
_SN = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_WIRE_TIME = "%Y%m%dT%H%M%SZ"
_TIME_FORMS = ((re.compile(r"^\d{8}T\d{6}Z$"), _WIRE_TIME), (re.compile(r"^\d{14}$"), "%Y%m%d%H%M%S"))
# Only these answers say something about the records (§7.2 codes); any other refusal (a 404 from a
# wrong URL, a gateway's 429 or 408, a page that is not JSON) is retried like a network failure.
_ABOUT_RECORDS = re.compile(r"^MKT\.(01\d\d|900\d)$")


class UsageRefused(ValueError):
    """A report we cannot accept; the message says why (it is shown to the ISV as is)."""


@dataclass
class Reported:
    record: UsageRecord
    created: bool


@dataclass
class PushReport:
    accepted: int = 0
    retrying: int = 0
    rejected: int = 0
    failed: int = 0
    calls: int = 0
    codes: dict[str, int] = field(default_factory=dict)


# --- reporting -----------------------------------------------------------------------------------


def code_meaning(code: str) -> str:
    return CODE_MEANINGS.get(code, "")


def window_text(begin: datetime, end: datetime) -> str:
    begin, end = begin.astimezone(UTC), end.astimezone(UTC)
    tail = f"{end:%H:%M:%S}" if begin.date() == end.date() else f"{end:%Y-%m-%d %H:%M:%S}"
    return f"{begin:%Y-%m-%d %H:%M:%S} → {tail}"


def wire_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_WIRE_TIME)


def parse_time(value: Any, name: str) -> datetime:
    """`yyyyMMdd'T'HHmmss'Z'` (the push's own format) or `yyyyMMddHHmmss`, UTC."""
    text = str(value or "").strip()
    for pattern, fmt in _TIME_FORMS:
        if pattern.match(text):
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=UTC)
            except ValueError:
                break
    raise UsageRefused(f"{name} must be yyyyMMdd'T'HHmmss'Z' (UTC)")


def parse_value(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise UsageRefused("usage_value must be a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise UsageRefused("usage_value must be a number") from None
    if not number.is_finite() or number <= 0:
        raise UsageRefused("usage_value must be greater than 0")
    if number >= MAX_VALUE:
        raise UsageRefused("usage_value is too large")
    if number != number.quantize(Decimal("0.0001")):
        raise UsageRefused("usage_value has more than 4 decimals")
    return number.quantize(Decimal("0.0001"))


def wire_value(value: Decimal) -> str:
    """The value as KooGallery's CN page wants it: a string, no exponent, no trailing zeros."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _window_check(begin: datetime, end: datetime) -> None:
    for name, moment in (("begin", begin), ("end", end)):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise UsageRefused(f"{name} must be an aware datetime")
        if moment.microsecond:
            raise UsageRefused(f"{name} must be a whole second (the push carries seconds)")


def _lifetime_check(instance: Instance, begin: datetime, end: datetime, now: datetime) -> None:
    if instance.charging_mode != ChargingMode.ON_DEMAND:
        shown = instance.charging_mode or "not known yet"
        raise UsageRefused(f"instance {instance.instance_id} is not a pay-per-use instance (charging mode {shown})")
    if end <= begin:
        raise UsageRefused("end_time must be after begin_time")
    if begin < now - MAX_AGE:
        raise UsageRefused("begin_time is more than 21 days ago: KooGallery no longer takes it")
    if end > now + CLOCK_SKEW:
        raise UsageRefused("end_time is in the future")
    # §5.7: the window must lie within the resource's lifetime (give or take our clock's skew).
    start = instance.effective_at or instance.created_at
    if start and begin < start - CLOCK_SKEW:
        raise UsageRefused("the window begins before the instance did")
    if instance.released_at and end > instance.released_at + CLOCK_SKEW:
        raise UsageRefused("the window ends after the instance was released")


def _add_to_total(instance_id: str, value: Decimal, end: datetime) -> None:
    """The running total queryInstance reports (§5.7); `usage_at` only moves forward."""
    instance = Instance.objects.select_for_update().get(instance_id=instance_id)
    total = (instance.usage_value or Decimal(0)) + value
    if total >= MAX_VALUE:
        raise UsageRefused(f"the running total of {instance_id} would exceed what queryInstance can carry")
    instance.usage_value = total
    if instance.usage_at is None or end > instance.usage_at:
        instance.usage_at = end
    instance.save(update_fields=["usage_value", "usage_at", "updated_at"])


def usage_record(
    *,
    instance_id: str,
    begin: datetime,
    end: datetime,
    value: Decimal,
    metering_sn: str = "",
    package_instance_id: str = "",
    actor: str = "isv",
    push: bool = True,
) -> Reported:
    """Record one usage window of a pay-per-use instance, to be pushed to KooGallery.

    A repeat of a window already recorded (same instance, begin, end and package) with the same
    value is the same record (`created=False`); a different value replaces it only while it has
    not been sent yet. UsageRefused says what is wrong. `push=False` leaves the push to the caller
    (`push_soon()`, once for many records)."""
    if metering_sn and not _SN.match(metering_sn):
        raise UsageRefused("metering_sn must be 1-64 letters, digits or _.:-")
    value = parse_value(value)
    _window_check(begin, end)
    now = timezone.now()
    with transaction.atomic():
        instance = Instance.objects.select_for_update().filter(instance_id=instance_id).first()
        if instance is None:
            raise UsageRefused(f"no instance {instance_id!r}")
        _lifetime_check(instance, begin, end, now)
        if package_instance_id:
            package = (
                Instance.objects.filter(instance_id=package_instance_id)
                .only("charging_mode", "related_instance_id")
                .first()
            )
            if package is None or package.charging_mode != ChargingMode.ON_DEMAND_PKG:
                raise UsageRefused(f"{package_instance_id!r} is not a pay-per-use package instance of ours")
            if package.related_instance_id and package.related_instance_id != instance_id:
                raise UsageRefused(f"package {package_instance_id!r} belongs to {package.related_instance_id!r}")
        existing = (
            UsageRecord.objects.select_for_update()
            .filter(instance=instance, begin_at=begin, end_at=end, package_instance_id=package_instance_id)
            .first()
        )
        if existing is not None:
            return Reported(_repeat(existing, value, metering_sn, instance_id, package_instance_id), False)
        if metering_sn and UsageRecord.objects.filter(metering_sn=metering_sn).exists():
            raise UsageRefused(f"metering_sn {metering_sn!r} already names another window")
        try:
            with transaction.atomic():
                record = UsageRecord.objects.create(
                    instance=instance,
                    metering_sn=metering_sn or uuid.uuid4().hex,
                    begin_at=begin,
                    end_at=end,
                    recorded_at=now,
                    value=value,
                    package_instance_id=package_instance_id,
                    state=State.TEST if instance.is_test else State.PENDING,
                    next_push_at=None if instance.is_test else now,
                    actor=actor[:160],
                )
        except IntegrityError:  # a concurrent report: the same window, or the same metering_sn
            existing = (
                UsageRecord.objects.select_for_update()
                .filter(instance=instance, begin_at=begin, end_at=end, package_instance_id=package_instance_id)
                .first()
            )
            if existing is None:
                raise UsageRefused(f"metering_sn {metering_sn!r} already names another window") from None
            return Reported(_repeat(existing, value, metering_sn, instance_id, package_instance_id), False)
        _add_to_total(instance_id, value, end)
        if package_instance_id:
            _add_to_total(package_instance_id, value, end)
        if record.state == State.PENDING and push:
            push_soon()
    logger.info("orders.usage_recorded instance=%s record=%s state=%s", instance_id, record.pk, record.state)
    return Reported(record, True)


def _repeat(
    record: UsageRecord, value: Decimal, metering_sn: str, instance_id: str, package_instance_id: str
) -> UsageRecord:
    if metering_sn and metering_sn != record.metering_sn:
        raise UsageRefused(f"this window was already recorded as {record.metering_sn!r}")
    if value == record.value:
        return record
    if record.state not in (State.PENDING, State.TEST) or record.first_sent_at is not None:
        # Once sent, KooGallery may hold it (even if we never heard back): it bills what it got.
        raise UsageRefused(f"this window was already sent with usage_value {wire_value(record.value)}")
    delta = value - record.value
    record.value = value
    record.save(update_fields=["value", "updated_at"])
    _add_to_total(instance_id, delta, record.end_at)
    if package_instance_id:
        _add_to_total(package_instance_id, delta, record.end_at)
    return record


def push_soon() -> None:
    """Push due records once the caller's transaction commits (at once outside one)."""
    from .tasks import push_usage  # tasks import this module

    enqueue_on_commit(push_usage)


def usage_retry(*, record_ids: list[int], actor: str) -> int:
    """An operator pushes rejected or failed records again: a fresh set of attempts."""
    count = UsageRecord.objects.filter(pk__in=record_ids, state__in=[State.REJECTED, State.FAILED]).update(
        state=State.PENDING,
        attempts=0,
        alone=False,
        next_push_at=timezone.now(),
        lease_until=None,
        updated_at=timezone.now(),
    )
    if count:
        logger.info("orders.usage_retried count=%s actor=%s", count, actor)
        push_soon()
    return count


# --- pushing -------------------------------------------------------------------------------------


def _due(now: datetime) -> Q:
    return Q(state=State.PENDING, next_push_at__lte=now) | Q(state=State.PUSHING, lease_until__lt=now)


def _claim(now: datetime) -> list[int]:
    """Take the next batch: one record that must go alone, else up to 100 (on PostgreSQL a lease,
    so two pushers never send the same record at once, and SKIP LOCKED, so they do not wait on
    each other). A record whose pusher vanished and that is out of attempts is failed instead."""
    lease = now + timedelta(seconds=settings.ORDERS_USAGE_LEASE_SECONDS)
    _fail_abandoned(now)
    with transaction.atomic():
        due = UsageRecord.objects.filter(_due(now)).select_for_update(skip_locked=True).order_by("id")
        ids = list(due.filter(alone=True).values_list("pk", flat=True)[:1])
        if not ids:
            ids = list(due.filter(alone=False).values_list("pk", flat=True)[: openapi.USAGE_BATCH])
        if ids:
            UsageRecord.objects.filter(pk__in=ids).update(
                state=State.PUSHING, lease_until=lease, attempts=F("attempts") + 1, updated_at=now
            )
            UsageRecord.objects.filter(pk__in=ids, first_sent_at__isnull=True).update(first_sent_at=now)
    return ids


def _fail_abandoned(now: datetime) -> None:
    abandoned = UsageRecord.objects.filter(
        state=State.PUSHING, lease_until__lt=now, attempts__gte=settings.ORDERS_USAGE_MAX_ATTEMPTS
    ).select_related("instance")
    for record in abandoned:
        if UsageRecord.objects.filter(pk=record.pk, state=State.PUSHING, lease_until=record.lease_until).update(
            state=State.FAILED, last_error="the push was cut off on its last attempt", lease_until=None, updated_at=now
        ):
            _alert(record, f"usage record {record.metering_sn} not pushed after {record.attempts} attempts")


def usage_push(*, max_calls: int = 50) -> PushReport:
    """Push every due record (at most `max_calls` calls; the next run takes the rest)."""
    report = PushReport()
    while report.calls < max_calls:
        ids = _claim(timezone.now())
        if not ids:
            break
        report.calls += 1
        _push(ids, report)
    if report.calls:
        logger.info(
            "orders.usage_pushed calls=%s accepted=%s retrying=%s rejected=%s failed=%s",
            report.calls,
            report.accepted,
            report.retrying,
            report.rejected,
            report.failed,
        )
    return report


def wire_record(record: UsageRecord) -> dict[str, str]:
    body = {
        "instance_id": record.instance.instance_id,
        "record_time": wire_time(record.recorded_at),
        "begin_time": wire_time(record.begin_at),
        "end_time": wire_time(record.end_at),
        "usage_value": wire_value(record.value),
        "metering_sn": record.metering_sn,
    }
    if record.package_instance_id:
        body["relate_pkg_instance"] = record.package_instance_id
    return body


def record_codes(answer: dict[str, Any]) -> dict[str, str]:
    """metering_sn → code, from any list of objects in the answer that name records (the shape of
    the per-record part is not documented; we read it wherever it is)."""
    found: dict[str, str] = {}

    def visit(value: Any, depth: int) -> None:
        if depth > 4:
            return
        if isinstance(value, dict):
            sn = value.get("metering_sn") or value.get("meteringSn")
            code = next(
                (value[k] for k in ("error_code", "code", "result_code", "errorCode", "resultCode") if value.get(k)),
                None,
            )
            if isinstance(sn, str) and code is not None:
                found[sn] = str(code)
            for item in value.values():
                visit(item, depth + 1)
        elif isinstance(value, list):
            for item in value:
                visit(item, depth + 1)

    visit(answer, 0)
    return found


def _is_duplicate(code: str) -> bool:
    return code.rsplit(".", 1)[-1] in DUPLICATE_CODES


def _push(ids: list[int], report: PushReport) -> None:
    records = list(UsageRecord.objects.filter(pk__in=ids).select_related("instance").order_by("id"))
    try:
        answer = openapi.push_usage([wire_record(r) for r in records])
    except openapi.OpenApiError as exc:
        codes = record_codes(exc.payload)
        named = [r for r in records if r.metering_sn in codes]
        if named:  # the answer says which records it refused; the others are not taken either
            for record in named:
                _settle(record, codes[record.metering_sn], report)
            for record in records:
                if record.metering_sn not in codes:
                    _again(record, f"pushed with refused records ({exc.code})", report, at_once=True)
        elif exc.retryable or exc.status not in (200, 400) or not _ABOUT_RECORDS.match(exc.code):
            for record in records:  # network, 5xx, rate limit, keys, a wrong URL: not the records
                _again(record, str(exc), report)
        elif len(records) > 1:
            for record in records:  # refused as a whole: find the bad one by pushing each alone
                _again(record, f"batch refused ({exc.code}); pushing alone", report, at_once=True, alone=True)
        else:
            _reject(records[0], exc.code or f"HTTP {exc.status}", str(exc), report)
        return
    codes = record_codes(answer)
    for record in records:
        _settle(record, codes.get(record.metering_sn, openapi.SUCCESS), report)
    _resolve_alerts({record.instance_id for record in records})


def _resolve_alerts(instance_pks: set[int]) -> None:
    """Close the usage alerts of instances that have no refused or failed record left (an operator's
    push again went through)."""
    open_alerts = Alert.objects.filter(
        kind=Alert.Kind.USAGE_REFUSED, instance_id__in=instance_pks, resolved_at__isnull=True
    )
    pks = set(open_alerts.values_list("instance_id", flat=True))
    if not pks:
        return
    troubled = set(
        UsageRecord.objects.filter(instance_id__in=pks, state__in=[State.REJECTED, State.FAILED]).values_list(
            "instance_id", flat=True
        )
    )
    if pks - troubled:
        alerts.alert_resolve(
            alert_ids=list(open_alerts.filter(instance_id__in=pks - troubled).values_list("pk", flat=True)),
            actor="system",
        )


def _mine(record: UsageRecord):
    """The record while this pusher still holds it: a pusher whose lease ran out (and whose
    records another pusher took over) must not overwrite the newer outcome."""
    return UsageRecord.objects.filter(pk=record.pk, state=State.PUSHING, lease_until=record.lease_until)


def _settle(record: UsageRecord, code: str, report: PushReport) -> None:
    report.codes[code] = report.codes.get(code, 0) + 1
    if code == openapi.SUCCESS or _is_duplicate(code):
        now = timezone.now()
        if _mine(record).update(
            state=State.ACCEPTED,
            record_code="" if code == openapi.SUCCESS else code,
            last_error="",
            lease_until=None,
            pushed_at=now,
            updated_at=now,
        ):
            report.accepted += 1
    else:
        meaning = code_meaning(code)
        _reject(record, code, f"KooGallery refused the record: {code}" + (f" ({meaning})" if meaning else ""), report)


def _reject(record: UsageRecord, code: str, error: str, report: PushReport) -> None:
    if _mine(record).update(
        state=State.REJECTED,
        record_code=code[:16],
        last_error=error[:2000],
        lease_until=None,
        updated_at=timezone.now(),
    ):
        report.rejected += 1
        meaning = code_meaning(code)
        _alert(
            record,
            f"usage record {record.metering_sn} refused by KooGallery: {code}" + (f" ({meaning})" if meaning else ""),
        )


def _again(
    record: UsageRecord, error: str, report: PushReport, *, at_once: bool = False, alone: bool | None = None
) -> None:
    now = timezone.now()
    if record.attempts >= settings.ORDERS_USAGE_MAX_ATTEMPTS:
        if _mine(record).update(state=State.FAILED, last_error=error[:2000], lease_until=None, updated_at=now):
            report.failed += 1
            _alert(record, f"usage record {record.metering_sn} not pushed after {record.attempts} attempts: {error}")
        return
    # 1, 2, 4 … 60 minutes between attempts: about 6 hours over the default 12 attempts.
    backoff = timedelta(seconds=0 if at_once else min(60 * 2 ** max(record.attempts - 1, 0), 3600))
    changes: dict[str, Any] = {"state": State.PENDING, "next_push_at": now + backoff, "lease_until": None}
    if alone is not None:
        changes["alone"] = alone
    if _mine(record).update(last_error=error[:2000], updated_at=now, **changes):
        report.retrying += 1


def _alert(record: UsageRecord, message: str) -> None:
    alerts.raise_alert(Alert.Kind.USAGE_REFUSED, instance=record.instance, message=message)
