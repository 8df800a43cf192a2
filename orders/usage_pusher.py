"""Pushing usage records to KooGallery's usage API (§7.2); orders.usage records them.

`usage_push` claims due records, at most 100 per call, each with the `metering_sn` it keeps across
retries, and settles each by the answer:
- accepted (`MKT.0000`; a record answered `005`/`010` — a duplicate — on a retry was taken by an
  earlier try whose answer was lost; on the record's first push the same codes mean its
  `metering_sn` is another record's, and it is rejected);
- the call failed (network, 5xx, rate limit, authentication, an answer not about the records):
  the records go back to pending with backoff, and are `failed` for operators once out of attempts;
- records named as refused are `rejected` with KooGallery's code and an operator alert; a batch
  refused as a whole with no word on which record is split, each record pushed on its own, so one
  bad record cannot hold back the others.
The answer's per-record shape is undocumented: any list of objects carrying `metering_sn` and a
code is read (README, protocol notes).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from marketplace_isv import openapi

from . import alerts
from .models import Alert, UsageRecord
from .usage import code_meaning, wire_time, wire_value

logger = logging.getLogger(__name__)

State = UsageRecord.State
DUPLICATE_CODES = {"005", "010"}  # duplicate record id / duplicate record: on a retry, taken by an earlier try
# Only these answers say something about the records (§7.2 codes); any other refusal (a 404 from a
# wrong URL, a gateway's 429 or 408, a page that is not JSON) is retried like a network failure.
_ABOUT_RECORDS = re.compile(r"^MKT\.(01\d\d|900\d)$")


@dataclass
class PushReport:
    accepted: int = 0
    retrying: int = 0
    rejected: int = 0
    failed: int = 0
    calls: int = 0
    codes: dict[str, int] = field(default_factory=dict)


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
        claimed_at = timezone.now()
        ids = _claim(claimed_at)
        if not ids:
            break
        report.calls += 1
        _push(ids, report, claimed_at)
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


def _sent_before(record: UsageRecord, claimed_at: datetime) -> bool:
    """Whether KooGallery may have taken the record already: an earlier claim sent it (or may have,
    before its pusher died) and no answer said its metering_sn belongs to another record."""
    return (
        record.first_sent_at is not None and record.first_sent_at < claimed_at and not _is_duplicate(record.record_code)
    )


def _push(ids: list[int], report: PushReport, claimed_at: datetime) -> None:
    records = list(UsageRecord.objects.filter(pk__in=ids).select_related("instance").order_by("id"))
    try:
        answer = openapi.push_usage([wire_record(r) for r in records])
    except openapi.OpenApiError as exc:
        codes = record_codes(exc.payload)
        named = [r for r in records if r.metering_sn in codes]
        if named:  # the answer says which records it refused; the others are not taken either
            for record in named:
                _settle(record, codes[record.metering_sn], report, retry=_sent_before(record, claimed_at))
            for record in records:
                if record.metering_sn not in codes:
                    _again(record, f"pushed with refused records ({exc.code})", report, at_once=True)
        elif exc.status not in (200, 400) or not _ABOUT_RECORDS.match(exc.code):
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
        _settle(record, codes.get(record.metering_sn, openapi.SUCCESS), report, retry=_sent_before(record, claimed_at))
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


def _settle(record: UsageRecord, code: str, report: PushReport, *, retry: bool) -> None:
    report.codes[code] = report.codes.get(code, 0) + 1
    if _is_duplicate(code) and not retry:
        # §7.2: a duplicate means "already accepted" on a retry only. On the record's first push it
        # means another record already holds this metering_sn, and this one would never be billed.
        _reject(
            record,
            code,
            f"KooGallery refused the record: {code} ({code_meaning(code)}) on its first push: another record "
            "already holds this metering_sn",
            report,
        )
        return
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
