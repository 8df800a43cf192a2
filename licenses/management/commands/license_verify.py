"""Verify a licence key with the shipped verifier (licenses/verifier.py) and the trusted public
keys, and show what the service knows of the licence now (docs/licenses.md)."""

from __future__ import annotations

import json
import sys
import uuid

from django.core.management.base import BaseCommand, CommandError

from licenses import signing, verifier
from licenses.models import License
from licenses.state import effective_state


class Command(BaseCommand):
    help = "Verify a licence key offline; exits 1 when it is refused, printing the reason."

    def add_arguments(self, parser):
        parser.add_argument("token", help="the licence key, or - to read it from standard input")
        parser.add_argument("--fingerprint", help="the device fingerprint, for device-bound keys")
        parser.add_argument("--leeway", type=float, default=verifier.DEFAULT_LEEWAY_SECONDS, help="clock skew, seconds")

    def handle(self, *args, token, fingerprint=None, leeway=verifier.DEFAULT_LEEWAY_SECONDS, **options):
        if token == "-":
            token = sys.stdin.read().strip()
        try:
            trusted = signing.trusted_verifier()
        except signing.SigningKeyUnavailable as exc:
            raise CommandError(str(exc)) from None
        verdict = trusted.verify(token, fingerprint=fingerprint, leeway=leeway)
        self.stdout.write(
            json.dumps({"valid": verdict.valid, "reason": verdict.reason, "message": verdict.message}, indent=2)
        )
        if verdict.claims:
            self.stdout.write(json.dumps(verdict.claims, indent=2, sort_keys=True))
            self._server_side(verdict.claims)
        if not verdict.valid:
            raise CommandError(f"refused: {verdict.reason}", returncode=1)

    def _server_side(self, claims: dict) -> None:
        try:
            license = License.objects.filter(public_id=uuid.UUID(str(claims.get("lid")))).first()
        except ValueError:
            license = None
        if license is None:
            self.stdout.write("server: no such licence")
            return
        state = effective_state(license)
        superseded = claims.get("gen") != license.token_generation
        self.stdout.write(
            f"server: status {'revoked (superseded by a reissued key)' if superseded else state.status}, "
            f"valid until {state.valid_until.isoformat() if state.valid_until else 'no expiry'}"
        )
