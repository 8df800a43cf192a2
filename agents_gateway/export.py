"""CSV exports of the usage journal, by customer and period, to reconcile Huawei's bills (§12).

Two shapes: one row per call (`write_calls`), or totals per customer and agent (`write_totals`).
Periods are half-open [since, until). Text cells that a spreadsheet would run as a formula are
prefixed with an apostrophe (customer names come from buyers).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import datetime
from typing import IO, Any

from django.db.models import Count, Max, Q, QuerySet, Sum

from .models import UsageRecord

CALL_COLUMNS = (
    "request_id",
    "received_at",
    "customer_id",
    "customer_name",
    "agent",
    "model",
    "stream",
    "status",
    "http_status",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "input_tokens",
    "output_tokens",
    "image_count",
    "video_duration",
)
SUMMED = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "input_tokens",
    "output_tokens",
    "image_count",
    "video_duration",
)
TOTAL_COLUMNS = ("customer_id", "customer_name", "agent", "calls", "billed_calls", *SUMMED)


def usage_select(
    *,
    customer_id: str | None = None,
    agent: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    status: str | None = None,
) -> QuerySet[UsageRecord]:
    records = UsageRecord.objects.all()
    if customer_id:
        records = records.filter(customer_id=customer_id)
    if agent:
        records = records.filter(agent=agent)
    if since:
        records = records.filter(received_at__gte=since)
    if until:
        records = records.filter(received_at__lt=until)
    if status:
        records = records.filter(status=status)
    return records


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def write_calls(records: Iterable[UsageRecord], out: IO[str]) -> int:
    writer = csv.writer(out)
    writer.writerow(CALL_COLUMNS)
    count = 0
    for record in records:
        writer.writerow([_cell(getattr(record, column)) for column in CALL_COLUMNS])
        count += 1
    return count


def write_totals(records: QuerySet[UsageRecord], out: IO[str]) -> int:
    """One row per (customer, agent): calls, calls answered with usage, and the summed usage."""
    rows = (
        records.order_by()
        .values("customer_id", "agent")
        .annotate(
            customer_name=Max("customer_name"),
            calls=Count("id"),
            billed_calls=Count("id", filter=Q(status=UsageRecord.Status.OK)),
            **{name: Sum(name) for name in SUMMED},
        )
        .order_by("customer_id", "agent")
    )
    writer = csv.writer(out)
    writer.writerow(TOTAL_COLUMNS)
    count = 0
    for row in rows:
        writer.writerow([_cell(row[column]) for column in TOTAL_COLUMNS])
        count += 1
    return count
