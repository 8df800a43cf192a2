"""Serve the simulator's fake KooGallery open API (Query Order, usage push, licence upload).

python manage.py koogallery_fake_openapi --port 8085 [--refuse-usage <instance_id>=006]
KOOGALLERY_OPENAPI_URL=http://127.0.0.1:8085 make run

Each call it receives is printed (method, path; the usage records pushed), so a local run shows
what the service sent.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from marketplace_isv.openapi import USAGE_PATH
from marketplace_isv.simulator.fake_openapi import FakeOpenApi


class Command(BaseCommand):
    help = "Serve a fake KooGallery open API on 127.0.0.1 for local runs (APIG signatures checked)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8085)
        parser.add_argument("--strict", action="store_true", help="unknown order ids answer MKT.0101")
        parser.add_argument(
            "--refuse-usage",
            action="append",
            default=[],
            metavar="INSTANCE_ID=CODE",
            help="refuse usage records of this instance with this per-record code (§7.2), e.g. 006",
        )

    def handle(self, *args, **options):
        fake = FakeOpenApi(
            ak=settings.KOOGALLERY_OPENAPI_AK or "fake-ak",
            sk=settings.KOOGALLERY_OPENAPI_SK or "fake-sk",
            access_key=settings.KOOGALLERY_ACCESS_KEY,
            strict=options["strict"],
            port=options["port"],
        )
        for rule in options["refuse_usage"]:
            instance_id, _, code = rule.rpartition("=")
            if not instance_id or not code:
                raise CommandError("--refuse-usage takes INSTANCE_ID=CODE")
            fake.usage_refusals[instance_id] = code
        fake.start()
        self.stdout.write(f"fake KooGallery open API on {fake.url} (AK {fake.ak!r}); Ctrl-C to stop")
        shown = 0
        try:
            while True:
                time.sleep(0.5)
                calls = fake.calls()
                for call in calls[shown:]:
                    self.stdout.write(self._describe(call))
                shown = len(calls)
        except KeyboardInterrupt:
            fake.stop()

    @staticmethod
    def _describe(call) -> str:
        line = f"{call.method} {call.path}"
        if call.query:
            line += " " + " ".join(f"{k}={v}" for k, v in call.query.items())
        if call.path == USAGE_PATH and isinstance(call.json, dict):
            for record in call.json.get("usage_records") or []:
                line += (
                    f"\n  usage {record.get('metering_sn')} instance={record.get('instance_id')}"
                    f" {record.get('begin_time')}..{record.get('end_time')} value={record.get('usage_value')}"
                )
        return line
