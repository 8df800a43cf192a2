"""Operate on the stored clientSecrets (protocol §3.2, U18).

python manage.py tenants_secrets redecrypt   # retry kept RSA ciphertexts after fixing the key
python manage.py tenants_secrets reseal      # re-encrypt at rest with the current ISV_FIELD_ENCRYPTION_KEY
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from tenants import services


class Command(BaseCommand):
    help = "Re-decrypt kept clientSecret ciphertexts, or re-seal stored secrets after a key rotation."

    def add_arguments(self, parser):
        parser.add_argument("operation", choices=["redecrypt", "reseal"])

    def handle(self, *args, **options):
        if options["operation"] == "redecrypt":
            done, failed = services.application_redecrypt()
            self.stdout.write(f"{done} secret(s) decrypted; {failed} still cannot be decrypted")
            if failed:
                raise CommandError(
                    "some clientSecrets still cannot be decrypted: check KOOGALLERY_RSA_PRIVATE_KEY_FILE"
                )
        else:
            self.stdout.write(f"{services.application_reseal()} secret(s) re-sealed with the current key")
