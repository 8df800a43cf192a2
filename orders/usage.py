"""Pay-per-use usage, reported by the ISV (§7.2, §5.7); orders.usage_pusher sends it to KooGallery.

`usage_record` takes one window of one pay-per-use instance (from /api/usage/, the
`orders_usage_report` command, or the ISV's own code), checks what KooGallery would refuse, adds
it to the running total queryInstance answers in usageInfo, and writes a `UsageRecord`, which the
`orders.push_usage` task pushes (right after a report commits, and every ORDERS_USAGE_PUSH_SECONDS).
`usage_retry` is the operators' *push again*.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from config.celery import enqueue_on_commit
from marketplace_isv.envelope import ParamError
from marketplace_isv.fields import parse_utc

from .models import ChargingMode, Instance, UsageRecord

logger = logging.getLogger(__name__)

State = UsageRecord.State
MAX_AGE = timedelta(days=21)  # KooGallery refuses records starting earlier (MKT.9004, code 007)
CLOCK_SKEW = timedelta(minutes=5)  # a window may end this far in our future
MAX_VALUE = Decimal("1e12")  # Double(12,4)
# §7.2: what KooGallery's codes mean, for operators.
CODE_MEANINGS = {
    "001": "instance not found",
    "002": "bad time format",
    "003": "bad usage value",
    "004": "missing record id",
    "005": "duplicate record id",
    "006": "product delisted",
    "007": "record expired (older than 21 days)",
    "009": "instance not this seller's",
    "010": "duplicate record",
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
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]{1,40}(?:\.[0-9]{1,40})?")
_SN = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_WIRE_TIME = "%Y%m%dT%H%M%SZ"
_WIRE_FORM = re.compile(r"[0-9]{8}T[0-9]{6}Z")  # used with fullmatch: ASCII digits only


class UsageRefused(ValueError):
    """A report we cannot accept; the message says why (it is shown to the ISV as is)."""


@dataclass
class Reported:
    record: UsageRecord
    created: bool


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
    """`yyyyMMdd'T'HHmmss'Z'` (the push's own format) or the basic interfaces' `yyyyMMddHHmmss`, UTC."""
    text = str(value or "").strip()
    if _WIRE_FORM.fullmatch(text):
        try:
            return datetime.strptime(text, _WIRE_TIME).replace(tzinfo=UTC)
        except ValueError:  # no such date (Feb 30, hour 25)
            raise UsageRefused(f"{name} is not a real UTC time") from None
    if text.isascii() and text.isdigit():
        try:
            return parse_utc(text, name=name)
        except ParamError:
            pass
    raise UsageRefused(f"{name} must be yyyyMMdd'T'HHmmss'Z' (UTC)")


def parse_value(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise UsageRefused("usage_value must be a number")
    text = str(value).strip()
    if not _PLAIN_NUMBER.fullmatch(text):  # Decimal() would read "١٢", "1_0" and "1e5" too
        raise UsageRefused("usage_value must be a number (ASCII digits, an optional decimal point)")
    try:
        number = Decimal(text)
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
                Instance.objects.select_for_update()  # after the instance's lock, like every report
                .filter(instance_id=package_instance_id)
                .only("charging_mode", "related_instance_id")
                .first()
            )
            if package is None or package.charging_mode != ChargingMode.ON_DEMAND_PKG:
                raise UsageRefused(f"{package_instance_id!r} is not a pay-per-use package instance of ours")
            if package.related_instance_id and package.related_instance_id != instance_id:
                raise UsageRefused(f"package {package_instance_id!r} belongs to {package.related_instance_id!r}")
            if not package.related_instance_id:
                # §5.7: the package is consumed by this pay-per-use instance from now on; its
                # queryInstance usageInfo names it (relatedInstanceId).
                Instance.objects.filter(pk=package.pk).update(related_instance_id=instance_id, updated_at=now)
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
