"""Generate the Ed25519 key pair that signs licence keys (docs/licenses.md)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from licenses import signing, verifier


class Command(BaseCommand):
    help = "Generate the licence signing key (PEM, mode 0600) at ISV_LICENSE_SIGNING_KEY_FILE or --out."

    def add_arguments(self, parser):
        parser.add_argument("--out", help="where to write the private key (default: the configured file)")
        parser.add_argument(
            "--force", action="store_true", help="replace an existing key (keys signed by it stop verifying)"
        )

    def handle(self, *args, out=None, force=False, **options):
        try:
            path = Path(out) if out else signing.key_path()
        except signing.SigningKeyUnavailable as exc:
            raise CommandError(f"{exc}; or pass --out") from None
        if path.exists() and not force:
            raise CommandError(f"{path} already exists; --force replaces it (every key it signed then fails to verify)")
        key = signing.generate_key_file(path, force=force)
        self.stdout.write(f"wrote {path} (key id {verifier.key_id(key.public_key())})")
        self.stdout.write("keep it secret and out of the repository; export the public half with license_public_key")
