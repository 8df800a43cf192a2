"""Generate the RSA key pair for `clientSecret` encryption (koogallery-protocol.md §3.2).

Writes the private key (PEM, PKCS#8, mode 0600) for KOOGALLERY_RSA_PRIVATE_KEY_FILE and prints
the public key exactly as the seller center (应用凭证) wants it pasted: one line of Base64 DER.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from marketplace_isv.crypto import generate_rsa_key, seller_center_public_key


class Command(BaseCommand):
    help = "Generate an RSA key pair (≥3072 bits) and print the public key for the seller center."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="where to write the private key (PEM)")
        parser.add_argument("--bits", type=int, default=3072)
        parser.add_argument("--force", action="store_true", help="overwrite an existing file")

    def handle(self, *args, **options):
        if options["bits"] < 3072:
            raise CommandError("Huawei requires at least 3072 bits")
        path = Path(options["out"])
        if path.exists() and not options["force"]:
            raise CommandError(f"{path} exists; pass --force to replace it (the uploaded public key would change)")
        key = generate_rsa_key(options["bits"])
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.export_key(format="PEM", pkcs=8))
        self.stderr.write(f"private key written to {path}; set KOOGALLERY_RSA_PRIVATE_KEY_FILE={path}")
        self.stderr.write("paste this public key into 卖家中心 → 应用工具 → 应用凭证:")
        self.stdout.write(seller_center_public_key(key))
