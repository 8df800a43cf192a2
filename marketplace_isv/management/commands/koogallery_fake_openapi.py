"""Serve the simulator's fake KooGallery open API (Query Order, usage push, licence upload).

python manage.py koogallery_fake_openapi --port 8085
KOOGALLERY_OPENAPI_URL=http://127.0.0.1:8085 make run
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand

from marketplace_isv.simulator.fake_openapi import FakeOpenApi


class Command(BaseCommand):
    help = "Serve a fake KooGallery open API on 127.0.0.1 for local runs (APIG signatures checked)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8085)
        parser.add_argument("--strict", action="store_true", help="unknown order ids answer MKT.0101")

    def handle(self, *args, **options):
        fake = FakeOpenApi(
            ak=settings.KOOGALLERY_OPENAPI_AK or "fake-ak",
            sk=settings.KOOGALLERY_OPENAPI_SK or "fake-sk",
            access_key=settings.KOOGALLERY_ACCESS_KEY,
            strict=options["strict"],
            port=options["port"],
        ).start()
        self.stdout.write(f"fake KooGallery open API on {fake.url} (AK {fake.ak!r}); Ctrl-C to stop")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            fake.stop()
