"""Export the Agents gateway usage journal as CSV, by customer and period.

python manage.py agents_gateway_export --customer 0a1b2c… --since 2025-05-01 --until 2025-06-01
python manage.py agents_gateway_export --since 2025-05-01T00:00+08:00 --totals --output may.csv

Periods are half-open [since, until); a bare date is midnight UTC — Huawei bills by Beijing time,
so give `+08:00` to match its bills.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from agents_gateway import export
from agents_gateway.models import UsageRecord


def moment(text: str | None, option: str) -> datetime | None:
    if not text:
        return None
    parsed = parse_datetime(text)
    if parsed is None:
        day = parse_date(text)
        if day is None:
            raise CommandError(f"{option} wants a date (2025-05-01) or an ISO datetime, not {text!r}")
        parsed = datetime.combine(day, time.min)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Write the usage journal as CSV: one row per call, or totals per customer and agent (--totals)."

    def add_arguments(self, parser):
        parser.add_argument("--customer", help="X-Customer-Id to export (default: every customer)")
        parser.add_argument("--agent", help="only this agent")
        parser.add_argument("--since", help="start, inclusive (date or ISO datetime)")
        parser.add_argument("--until", help="end, exclusive (date or ISO datetime)")
        parser.add_argument("--status", choices=UsageRecord.Status.values, help="only calls with this status")
        parser.add_argument("--totals", action="store_true", help="totals per customer and agent")
        parser.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, *args, **options):
        since, until = moment(options["since"], "--since"), moment(options["until"], "--until")
        if since and until and until <= since:
            raise CommandError("--until must be after --since")
        records = export.usage_select(
            customer_id=options["customer"],
            agent=options["agent"],
            since=since,
            until=until,
            status=options["status"],
        ).order_by("received_at", "id")
        out = open(options["output"], "w", newline="", encoding="utf-8") if options["output"] else self.stdout  # noqa: SIM115
        try:
            if options["totals"]:
                count = export.write_totals(records, out)
            else:
                count = export.write_calls(records.iterator(), out)
        finally:
            if options["output"]:
                out.close()
        self.stderr.write(f"{count} row(s) written")
