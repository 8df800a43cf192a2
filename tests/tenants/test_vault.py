"""Secrets at rest: AES-256-GCM with a key from the environment, bound to their row."""

import pytest
from django.core.management import call_command

from marketplace_isv.crypto import rsa_oaep_encrypt
from tenants import services, vault
from tenants.models import Application

pytestmark = pytest.mark.django_db


def test_a_sealed_value_opens_only_in_its_own_context():
    sealed = vault.seal("s3cret", context="app:t-1:a")
    assert vault.open_sealed(sealed, context="app:t-1:a") == "s3cret"
    assert "s3cret" not in sealed
    with pytest.raises(vault.VaultError):
        vault.open_sealed(sealed, context="app:t-2:a")


def test_sealing_twice_gives_different_ciphertexts():
    assert vault.seal("x", context="c") != vault.seal("x", context="c")


def test_a_tampered_value_does_not_open():
    sealed = vault.seal("s3cret", context="c")
    prefix, key_id, blob = sealed.split(":")
    tampered = f"{prefix}:{key_id}:{blob[:-6]}AAAAA="
    with pytest.raises(vault.VaultError):
        vault.open_sealed(tampered, context="c")
    with pytest.raises(vault.VaultError):
        vault.open_sealed("plain text", context="c")


def test_rotation_keeps_old_values_readable_and_reseal_moves_them(settings, kit_v2, rsa_key):
    settings.ISV_FIELD_ENCRYPTION_KEY = "old-key-material"
    secret = rsa_oaep_encrypt("rotate-me", rsa_key.publickey())
    kit_v2("applicationSync", flag=1, tenantId="t-1", appId="a", clientId="c", clientSecret=secret)
    old = Application.objects.get().client_secret_sealed
    settings.ISV_FIELD_ENCRYPTION_KEY = "new-key-material"
    with pytest.raises(vault.VaultError):
        services.application_client_secret(Application.objects.get())
    settings.ISV_PREVIOUS_FIELD_ENCRYPTION_KEYS = ["old-key-material"]
    assert services.application_client_secret(Application.objects.get()) == "rotate-me"
    call_command("tenants_secrets", "reseal")
    app = Application.objects.get()
    assert app.client_secret_sealed != old and vault.is_current(app.client_secret_sealed)
    settings.ISV_PREVIOUS_FIELD_ENCRYPTION_KEYS = []
    assert services.application_client_secret(app) == "rotate-me"


def test_redecrypt_command_reports_what_still_fails(settings, kit_v2, other_rsa_key):
    secret = rsa_oaep_encrypt("x", other_rsa_key.publickey())
    kit_v2("applicationSync", flag=1, tenantId="t-1", appId="a", clientId="c", clientSecret=secret)
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("tenants_secrets", "redecrypt")
