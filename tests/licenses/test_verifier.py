"""The verification module the ISV ships (licenses/verifier.py): issued keys verify; tampered,
expired, not-yet-valid, wrong-device and unknown-key keys are refused with a clear reason; it
runs without Django."""

import json
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

from licenses import signing, verifier
from licenses.verifier import LicenseVerifier, b64url_decode, b64url_encode
from tests.licenses.conftest import in_days, issued, stamp

pytestmark = pytest.mark.django_db

VERIFIER_FILE = Path(verifier.__file__)


def forge(claims: dict, *, key=None, kid=None) -> str:
    """A key in the right format signed by `key` (default: a stranger's), for refusal tests."""
    key = key or ECC.generate(curve="ed25519")
    header = {"alg": "EdDSA", "kid": kid or verifier.key_id(key.public_key()), "typ": "KGL"}
    signing_input = (
        b64url_encode(verifier.canonical_json(header)) + "." + b64url_encode(verifier.canonical_json(claims))
    )
    return signing_input + "." + b64url_encode(eddsa.new(key, "rfc8032").sign(signing_input.encode()))


def replace_claims(token: str, **changes) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims.update(changes)
    return ".".join([header, b64url_encode(verifier.canonical_json(claims)), signature])


def test_an_issued_key_verifies_and_carries_the_purchase(koogallery, shipped_verifier):
    expiry = in_days(365)
    instance_id, key = issued(koogallery, expireTime=stamp(expiry))
    verdict = shipped_verifier.verify(key)
    assert (verdict.valid, verdict.reason) == (True, "ok")
    claims = verdict.claims
    assert claims["v"] == 1 and claims["kind"] == "v1" and claims["iid"] == instance_id
    assert claims["exp"] == int(expiry.timestamp()) and claims["nbf"] <= time.time() + 1
    assert claims["test"] is True
    assert verdict.key_id == verifier.key_id(signing.signing_key().public_key())


def test_a_tampered_key_is_refused(koogallery, shipped_verifier):
    _, key = issued(koogallery)
    verdict = shipped_verifier.verify(replace_claims(key, qty=500))
    assert (verdict.valid, verdict.reason) == (False, "tampered")
    assert "altered" in verdict.message


def test_a_key_signed_by_someone_else_under_our_key_id_is_refused_as_tampered(koogallery, shipped_verifier):
    _, key = issued(koogallery)
    claims = shipped_verifier.require(key)
    forged = forge(claims, kid=verifier.key_id(signing.signing_key().public_key()))
    assert shipped_verifier.verify(forged).reason == "tampered"


def test_a_key_with_an_unknown_key_id_is_refused(koogallery, shipped_verifier):
    _, key = issued(koogallery)
    verdict = shipped_verifier.verify(forge(shipped_verifier.require(key)))
    assert (verdict.valid, verdict.reason) == (False, "unknown_key")


def test_an_expired_key_is_refused(koogallery, shipped_verifier):
    _, key = issued(koogallery, expireTime=stamp(in_days(-2)))
    verdict = shipped_verifier.verify(key)
    assert (verdict.valid, verdict.reason) == (False, "expired")
    assert "expired at" in verdict.message


def test_expiry_allows_for_clock_skew(koogallery, shipped_verifier):
    expiry = in_days(30)
    _, key = issued(koogallery, expireTime=stamp(expiry))
    just_after = expiry.timestamp() + 60
    assert shipped_verifier.verify(key, now=just_after, leeway=120).valid
    assert shipped_verifier.verify(key, now=just_after, leeway=0).reason == "expired"


def test_a_key_not_valid_yet_is_refused(koogallery, shipped_verifier):
    _, key = issued(koogallery)
    verdict = shipped_verifier.verify(key, now=time.time() - 3600, leeway=60)
    assert (verdict.valid, verdict.reason) == (False, "not_yet_valid")


def test_a_device_bound_key_is_refused_on_another_device(shipped_verifier):
    fingerprint = "MAC-1|DISK-2|BOARD-3|CPU-4"
    claims = {"v": 1, "lid": str(uuid.uuid4()), "gen": 1, "dev": verifier.fingerprint_digest(fingerprint)}
    token, _ = signing.sign(claims)
    assert shipped_verifier.verify(token, fingerprint=fingerprint).valid
    assert shipped_verifier.verify(token, fingerprint=f"  {fingerprint}\n").valid  # trimmed
    wrong = shipped_verifier.verify(token, fingerprint="MAC-9|DISK-2|BOARD-3|CPU-4")
    assert (wrong.valid, wrong.reason, wrong.message) == (
        False,
        "wrong_device",
        "the licence is bound to another device",
    )
    missing = shipped_verifier.verify(token)
    assert missing.reason == "wrong_device" and "fingerprint" in missing.message


@pytest.mark.parametrize(
    "token",
    ["", "not-a-licence", "a.b", "a.b.c", "!!!.???.###", b64url_encode(b"{}") + "." + b64url_encode(b"[]") + ".AA"],
)
def test_garbage_is_refused_as_malformed(shipped_verifier, token):
    verdict = shipped_verifier.verify(token)
    assert (verdict.valid, verdict.reason) == (False, "malformed")


def test_a_key_claiming_another_algorithm_is_refused(koogallery, shipped_verifier):
    _, key = issued(koogallery)
    header, payload, signature = key.split(".")
    none_header = b64url_encode(json.dumps({"alg": "none", "kid": "x", "typ": "KGL"}).encode())
    assert shipped_verifier.verify(f"{none_header}.{payload}.").reason == "malformed"


def test_require_raises_with_the_verdict(koogallery, shipped_verifier):
    _, key = issued(koogallery, expireTime=stamp(in_days(-1)))
    with pytest.raises(verifier.LicenseError) as refused:
        shipped_verifier.require(key)
    assert refused.value.verdict.reason == "expired"


def test_keys_load_from_pem_and_jwks_files(tmp_path, koogallery):
    _, key = issued(koogallery)
    public = signing.signing_key().public_key()
    (tmp_path / "key.pem").write_text(public.export_key(format="PEM"))
    (tmp_path / "keys.json").write_text(json.dumps({"keys": [verifier.public_jwk(public)]}))
    assert LicenseVerifier.from_files(str(tmp_path / "key.pem")).verify(key).valid
    assert LicenseVerifier.from_files(str(tmp_path / "keys.json")).verify(key).valid
    assert LicenseVerifier.from_jwks({"keys": [verifier.public_jwk(public)]}).verify(key).valid


def test_a_key_signed_before_a_rotation_verifies_with_the_old_public_key(koogallery, tmp_path, settings):
    _, old_key = issued(koogallery)
    old_public = tmp_path / "old.pem"
    old_public.write_text(signing.signing_key().public_key().export_key(format="PEM"))
    settings.ISV_LICENSE_SIGNING_KEY_FILE = str(tmp_path / "rotated.pem")
    signing.generate_key_file(tmp_path / "rotated.pem")
    assert signing.trusted_verifier().verify(old_key).reason == "unknown_key"
    settings.ISV_LICENSE_EXTRA_PUBLIC_KEY_FILES = [str(old_public)]
    assert signing.trusted_verifier().verify(old_key).valid


BLOCK_DJANGO = textwrap.dedent(
    """
    import importlib.abc, importlib.util, json, sys

    class NoDjango(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "django" or name.startswith("django."):
                raise ImportError("the shipped verifier must not need Django")

    sys.meta_path.insert(0, NoDjango())
    spec = importlib.util.spec_from_file_location("shipped_verifier", sys.argv[1])
    module = sys.modules["shipped_verifier"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    verdict = module.LicenseVerifier.from_pem(sys.argv[2]).verify(sys.argv[3])
    print(json.dumps([verdict.valid, verdict.reason, "django" in sys.modules]))
    """
)


def test_the_verifier_runs_without_django(koogallery):
    _, key = issued(koogallery)
    pem = signing.signing_key().public_key().export_key(format="PEM")
    for token, expected in ((key, [True, "ok", False]), (replace_claims(key, sku="x"), [False, "tampered", False])):
        run = subprocess.run(
            [sys.executable, "-c", BLOCK_DJANGO, str(VERIFIER_FILE), pem, token],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
        )
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout) == expected


def test_the_verifier_command_line(koogallery, tmp_path):
    _, key = issued(koogallery)
    (tmp_path / "key.pem").write_text(signing.signing_key().public_key().export_key(format="PEM"))
    command = [sys.executable, str(VERIFIER_FILE), "--public-key", str(tmp_path / "key.pem")]
    good = subprocess.run([*command, key], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    bad = subprocess.run(
        [*command, replace_claims(key, qty=9)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert good.returncode == 0 and '"reason": "ok"' in good.stdout
    assert bad.returncode == 1 and '"reason": "tampered"' in bad.stdout


DOCUMENTED_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAFgGIZpE4nHH/Sxs4rCUUclyh25B4jkw0QqXboUkY/Ro=
-----END PUBLIC KEY-----"""
DOCUMENTED_FINGERPRINT = "00-1A-2B-3C-4D-5E|WD-WCC4N1234567|BOARD-42|BFEBFBFF000906EA"
DOCUMENTED_KEY = (
    "eyJhbGciOiJFZERTQSIsImtpZCI6IlZZSUJubHZvci05OWJxZlkiLCJ0eXAiOiJLR0wifQ."
    "eyJjaWQiOiI2OGNiYzg2YWJjMjAxOGFiODgwZDkyZjM2NDIyZmEwZSIsImRldiI6IlBEb3g4LUNfY2V3U3JJN29rVWlOT1hsWDZ4a3ZuTX"
    "lNY2w3ZUhwaElFbEkiLCJleHAiOjE3OTg3NjE2MDAsImdlbiI6MSwiaWF0IjoxNzY3MjI1NjAwLCJpaWQiOiI4N2I5NDc5NS0wNjAzLTRl"
    "MjQtOGFlNS02OTQyMGQ2MGUzYzgiLCJraW5kIjoib25saW5lIiwibGlkIjoiM2YyYzFhNmUtOGQ0Yi00ZjdhLTljMjEtNWIwZTdkOWExYz"
    "Q0IiwibmJmIjoxNzY3MjI1NjAwLCJvcmQiOiJDUzIyMTExODE4MTlCNExWUyIsInBpZCI6IjAwMzAxLTY2NjY2Ni0wLS0wIiwicXR5Ijo1"
    "LCJza3UiOiJza3UtcHJvIiwidiI6MX0."
    "WTrLAKeX48v2c865qX6ntVxEx3Mz0f6jV1AMbt39iUnueK2a0E7MUvo5QKLSOZPYAKZbwpOjETjwUYL0ahtwAQ"
)


def test_the_example_in_docs_licenses_md_verifies():
    """The format example of docs/licenses.md §2, pinned: key id derivation, device digest, claims."""
    documented = LicenseVerifier.from_pem(DOCUMENTED_PUBLIC_KEY)
    assert list(documented.keys) == ["VYIBnlvor-99bqfY"]
    verdict = documented.verify(DOCUMENTED_KEY, fingerprint=DOCUMENTED_FINGERPRINT, now=1767225600 + 3600)
    assert verdict.valid, verdict
    assert verdict.claims["dev"] == verifier.fingerprint_digest(DOCUMENTED_FINGERPRINT)
    assert (verdict.claims["iid"], verdict.claims["qty"], verdict.claims["exp"]) == (
        "87b94795-0603-4e24-8ae5-69420d60e3c8",
        5,
        1798761600,
    )
    assert (
        documented.verify(DOCUMENTED_KEY, fingerprint=DOCUMENTED_FINGERPRINT, now=1798761600 + 301).reason == "expired"
    )


def test_a_key_nested_too_deep_is_refused_offline_never_raised(shipped_verifier):
    from licenses.verifier import b64url_encode

    deep = b64url_encode(b"[" * 3000 + b"]" * 3000)
    for token in (f"{deep}.e30.eA", f"e30.{deep}.eA"):
        assert shipped_verifier.verify(token).valid is False
