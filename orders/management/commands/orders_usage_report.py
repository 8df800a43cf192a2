"""Record one usage window of a pay-per-use instance, to be pushed to KooGallery (§7.2).

The push is the service's: with a broker (REDIS_URL) the worker is asked at once; in embedded mode
the web process's periodic push sends it within ORDERS_USAGE_PUSH_SECONDS. This process never
calls KooGallery itself, so it needs only the database settings.

python manage.py orders_usage_report <instance_id> <value> --begin 20250101T080000Z --end 20250101T090000Z
    [--sn <metering_sn>] [--package <package instance id>]
"""

from django.core.management.base import BaseCommand, CommandError

from config.celery import dispatch_mode
from orders import usage


class Command(BaseCommand):
    help = "Record a usage window of a pay-per-use instance; the push task sends it to KooGallery (§7.2)."

    def add_arguments(self, parser):
        parser.add_argument("instance_id")
        parser.add_argument("value", help="usage in the window: > 0, up to 4 decimals")
        parser.add_argument("--begin", required=True, help="window start, UTC yyyyMMdd'T'HHmmss'Z'")
        parser.add_argument("--end", required=True, help="window end, UTC yyyyMMdd'T'HHmmss'Z'")
        parser.add_argument("--sn", default="", help="metering_sn (default: a random one)")
        parser.add_argument("--package", default="", help="relate_pkg_instance: the package instance consumed")

    def handle(self, *args, **options):
        try:
            reported = usage.usage_record(
                instance_id=options["instance_id"],
                begin=usage.parse_time(options["begin"], "--begin"),
                end=usage.parse_time(options["end"], "--end"),
                value=usage.parse_value(options["value"]),
                metering_sn=options["sn"],
                package_instance_id=options["package"],
                actor="isv:command",
                push=dispatch_mode() == "broker",
            )
        except usage.UsageRefused as exc:
            raise CommandError(str(exc)) from None
        record = reported.record
        verb = "recorded" if reported.created else "already recorded"
        self.stdout.write(f"{record.metering_sn}: {verb}, {usage.wire_value(record.value)} ({record.state})")
