"""Export the public key(s) that verify licence keys, for the ISV's software (docs/licenses.md)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from licenses import signing, verifier


class Command(BaseCommand):
    help = "Print (or write) the licence verification public key: PEM, or a JWK set with every trusted key."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["pem", "jwks"], default="pem")
        parser.add_argument("--out", help="write to this file instead of standard output")

    def handle(self, *args, format="pem", out=None, **options):
        try:
            keys = signing.public_keys()
        except signing.SigningKeyUnavailable as exc:
            raise CommandError(str(exc)) from None
        if format == "pem":
            text = keys[0].export_key(format="PEM") + "\n"
        else:
            text = json.dumps({"keys": [verifier.public_jwk(key) for key in keys]}, indent=2) + "\n"
        if out:
            Path(out).write_text(text)
            self.stdout.write(f"wrote {out} (key id {verifier.key_id(keys[0])})")
        else:
            self.stdout.write(text, ending="")
