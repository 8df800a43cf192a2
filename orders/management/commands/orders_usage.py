"""Record a pay-per-use instance's running usage total, answered in queryInstance's usageInfo.

python manage.py orders_usage <instance_id> <value> [--at yyyyMMddHHmmss]
"""

from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from marketplace_isv.envelope import ParamError
from marketplace_isv.fields import parse_utc
from orders.models import Instance
from orders.services import instance_usage_record


class Command(BaseCommand):
    help = "Set the running usage total of a pay-per-use instance (queryInstance usageInfo, §4.1.2)."

    def add_arguments(self, parser):
        parser.add_argument("instance_id")
        parser.add_argument("value", help="the running total, up to 4 decimals")
        parser.add_argument("--at", help="statistical time, UTC yyyyMMddHHmmss (default: now)")

    def handle(self, *args, **options):
        try:
            value = Decimal(options["value"]).quantize(Decimal("0.0001"))
        except InvalidOperation:
            raise CommandError("value must be a number") from None
        if value < 0:
            raise CommandError("value must not be negative")
        try:
            at = parse_utc(options["at"], name="--at") if options["at"] else None
        except ParamError as exc:
            raise CommandError(str(exc)) from None
        try:
            with transaction.atomic():
                instance = instance_usage_record(instance_id=options["instance_id"], value=value, at=at)
        except Instance.DoesNotExist:
            raise CommandError(f"no instance {options['instance_id']!r}") from None
        self.stdout.write(
            f"{instance.instance_id}: usage {instance.usage_value} at {instance.usage_at:%Y-%m-%d %H:%M:%S}"
        )
