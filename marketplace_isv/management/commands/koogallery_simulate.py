"""Send any KooGallery interface, signed exactly as KooGallery signs it, to any URL.

python manage.py koogallery_simulate newInstance --field orderId=CS123 --field orderLineId=CS123-000001
python manage.py koogallery_simulate newInstance --scheme v1 --field customerId=c1 --field orderId=CS1 ...
python manage.py koogallery_simulate tenantSync --scheme kit-v2 --json '{"tenantId": "t1", ...}'
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from marketplace_isv.simulator.client import KooGallery

KIT_NAMES = {"tenantSync", "applicationSync", "authSync", "singleOrgSync", "allOrgSync"}


class Command(BaseCommand):
    help = "Send a signed KooGallery call (any interface, any scheme) and check the answer's Body-Sign."

    def add_arguments(self, parser):
        parser.add_argument("interface", help="activity (newInstance, getLicense, …) or Kit name (tenantSync, …)")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="base URL of the service")
        parser.add_argument(
            "--scheme", choices=["v1", "v2", "kit-v1", "kit-v2"], help="default: v2, or kit-v2 for Kit names"
        )
        parser.add_argument(
            "--field", action="append", default=[], metavar="NAME=VALUE", help="a request field (repeatable)"
        )
        parser.add_argument("--json", dest="json_fields", help="request fields as a JSON object")
        flag = parser.add_mutually_exclusive_group()
        flag.add_argument("--test", dest="test", action="store_true", default=True, help="testFlag=1 (default)")
        flag.add_argument("--real", dest="test", action="store_false", help="real traffic: testFlag=0")
        parser.add_argument("--key", help="access key to sign with (default: KOOGALLERY_ACCESS_KEY)")
        parser.add_argument("--kit-key", help="Kit key to sign with (default: KOOGALLERY_KIT_ACCESS_KEY)")

    def handle(self, *args, **options):
        fields: dict = {}
        if options["json_fields"]:
            try:
                fields.update(json.loads(options["json_fields"]))
            except ValueError as exc:
                raise CommandError(f"--json is not valid JSON: {exc}") from exc
        for item in options["field"]:
            name, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--field wants NAME=VALUE, got {item!r}")
            fields[name] = value
        interface = options["interface"]
        scheme = options["scheme"] or ("kit-v2" if interface in KIT_NAMES else "v2")
        koogallery = KooGallery(
            options["url"],
            access_key=options["key"] or settings.KOOGALLERY_ACCESS_KEY,
            kit_key=options["kit_key"] or settings.KOOGALLERY_KIT_ACCESS_KEY,
        )
        if scheme == "v1":
            reply = koogallery.v1(interface, fields, test=options["test"])
        elif scheme == "v2":
            reply = koogallery.v2(interface, fields, test=options["test"])
        elif scheme == "kit-v1":
            reply = koogallery.kit_v1(interface, fields, test=options["test"])
        else:
            reply = koogallery.kit_v2(interface, fields, test=options["test"])
        self.stdout.write(f"→ {scheme} {reply.request_url}")
        if reply.request_body:
            self.stdout.write(f"  {reply.request_body.decode('utf-8', errors='replace')}")
        self.stdout.write(f"← HTTP {reply.status} {reply.headers.get('content-type', '')}")
        self.stdout.write(f"  Body-Sign: {reply.body_sign} ({'valid' if reply.body_sign_valid() else 'INVALID'})")
        self.stdout.write(f"  {reply.body.decode('utf-8', errors='replace')}")
        if not reply.body_sign_valid():
            raise CommandError("the answer's Body-Sign does not verify")
