"""The key commands (license_keygen, license_public_key, license_verify), the key file rules, and
the system check that warns when no signing key is configured."""

import io
import json
import stat
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from licenses import checks, signing, verifier
from licenses.models import License
from tests.licenses.conftest import issued
from tests.licenses.test_verifier import replace_claims

pytestmark = pytest.mark.django_db


def run(*args, stdin: str = "") -> str:
    out = io.StringIO()
    saved, sys.stdin = sys.stdin, io.StringIO(stdin)
    try:
        call_command(*args, stdout=out)
    finally:
        sys.stdin = saved
    return out.getvalue()


def test_keygen_writes_a_private_key_only_its_owner_can_read(tmp_path):
    path = tmp_path / "keys" / "signing.pem"
    output = run("license_keygen", "--out", str(path))
    key = signing._read_private(path)
    assert verifier.key_id(key.public_key()) in output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "PRIVATE KEY" in path.read_text()


def test_keygen_never_overwrites_a_key_unless_forced(tmp_path):
    path = tmp_path / "signing.pem"
    run("license_keygen", "--out", str(path))
    first = path.read_text()
    with pytest.raises(CommandError, match="already exists"):
        run("license_keygen", "--out", str(path))
    assert path.read_text() == first
    run("license_keygen", "--out", str(path), "--force")
    assert path.read_text() != first


def test_keygen_writes_the_configured_file(tmp_path, settings):
    settings.ISV_LICENSE_SIGNING_KEY_FILE = str(tmp_path / "configured.pem")
    run("license_keygen")
    assert (tmp_path / "configured.pem").is_file()


def test_keygen_without_a_configured_file_asks_for_one(settings):
    settings.ISV_LICENSE_SIGNING_KEY_FILE = None
    with pytest.raises(CommandError, match="ISV_LICENSE_SIGNING_KEY_FILE"):
        run("license_keygen")


def test_public_key_export_as_pem_and_jwks(tmp_path, koogallery):
    _, key = issued(koogallery)
    pem = run("license_public_key")
    assert pem.startswith("-----BEGIN PUBLIC KEY-----") and "PRIVATE" not in pem
    assert verifier.LicenseVerifier.from_pem(pem).verify(key).valid
    jwks = json.loads(run("license_public_key", "--format", "jwks"))
    assert verifier.LicenseVerifier.from_jwks(jwks).verify(key).valid
    run("license_public_key", "--out", str(tmp_path / "public.pem"))
    assert verifier.LicenseVerifier.from_files(str(tmp_path / "public.pem")).verify(key).valid


def test_verify_command_accepts_a_valid_key_and_shows_the_server_status(koogallery):
    instance_id, key = issued(koogallery)
    koogallery.v1("expireLicense", {"instanceId": instance_id}).assert_envelope()
    output = run("license_verify", key)
    assert '"reason": "ok"' in output and instance_id in output
    assert "server: status frozen" in output


def test_verify_command_reads_the_key_from_standard_input(koogallery):
    _, key = issued(koogallery)
    assert '"valid": true' in run("license_verify", "-", stdin=key + "\n")


def test_verify_command_refuses_a_tampered_key_with_the_reason(koogallery):
    _, key = issued(koogallery)
    with pytest.raises(CommandError) as refused:
        run("license_verify", replace_claims(key, qty=77))
    assert "tampered" in str(refused.value) and refused.value.returncode == 1


def test_verify_command_checks_the_device(koogallery):
    from licenses import services

    one_time, _ = issued(koogallery, periodType=None, periodNumber=None, expireTime=None)
    row = services.license_request_online(
        instance_id=one_time,
        event_id="evt-cmd",
        fingerprint="DEVICE-1",
        effective_at=License.objects.get(instance_id=one_time).valid_from,
        expires_at=None,
        is_test=True,
        raw={},
        delivery_id=None,
        actor="marketplace",
    )
    assert '"valid": true' in run("license_verify", row.token, "--fingerprint", "DEVICE-1")
    with pytest.raises(CommandError, match="wrong_device"):
        run("license_verify", row.token, "--fingerprint", "DEVICE-2")


def test_in_embedded_mode_a_key_is_generated_under_var_on_first_use(koogallery, settings, tmp_path):
    settings.ISV_LICENSE_SIGNING_KEY_FILE = None
    settings.ISV_LICENSE_AUTOGENERATE_KEY = True
    settings.VAR_DIR = tmp_path
    _, key = issued(koogallery)
    generated = tmp_path / signing.DEFAULT_FILE_NAME
    assert generated.is_file() and stat.S_IMODE(generated.stat().st_mode) == 0o600
    assert verifier.LicenseVerifier([signing._read_private(generated).public_key()]).verify(key).valid


def test_without_a_key_get_license_answers_000005_and_the_system_check_warns(koogallery, settings, tmp_path):
    settings.ISV_LICENSE_SIGNING_KEY_FILE = str(tmp_path / "missing.pem")
    reply = koogallery.v1("getLicense", {"orderId": "CSNOKEY", "productId": "p"})
    assert reply.assert_envelope()["resultCode"] == "000005"
    assert not License.objects.exists()
    assert [w.id for w in checks.signing_key_configured(None)] == ["licenses.W002"]
    settings.ISV_LICENSE_SIGNING_KEY_FILE = None
    assert [w.id for w in checks.signing_key_configured(None)] == ["licenses.W001"]
