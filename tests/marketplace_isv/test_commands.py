"""The protocol package's management commands: the simulator CLI, RSA key generation, and the
journal's housekeeping."""

from datetime import timedelta

import pytest
from Crypto.PublicKey import RSA
from django.core.management import CommandError, call_command
from django.utils import timezone

from marketplace_isv.models import Delivery
from marketplace_isv.tasks import prune_journal
from tests.conftest import ACCESS_KEY, KIT_KEY


@pytest.mark.services
def test_the_simulator_cli_sends_a_signed_call_and_checks_body_sign(live_service, capsys, settings):
    url = f"http://127.0.0.1:{live_service.port}"
    call_command(
        "koogallery_simulate", "noSuchActivity", "--url", url, "--field", "orderId=CS-CLI", "--key", ACCESS_KEY
    )
    out = capsys.readouterr().out
    assert "(valid)" in out and '"resultCode":"000002"' in out and '"testFlag":"1"' in out


@pytest.mark.services
@pytest.mark.parametrize("scheme", ["v1", "kit-v1", "kit-v2"])
def test_the_simulator_cli_speaks_every_scheme(live_service, capsys, scheme):
    url = f"http://127.0.0.1:{live_service.port}"
    call_command("koogallery_simulate", "noSuchThing", "--url", url, "--scheme", scheme, "--real",
                 "--key", ACCESS_KEY, "--kit-key", KIT_KEY)  # fmt: skip
    out = capsys.readouterr().out
    assert "(valid)" in out and '"resultCode":"000002"' in out


@pytest.mark.services
def test_the_simulator_cli_fails_when_the_answer_is_not_signed_with_the_key(live_service):
    url = f"http://127.0.0.1:{live_service.port}"
    with pytest.raises(CommandError, match="Body-Sign"):
        call_command("koogallery_simulate", "noSuchActivity", "--url", url, "--key", "another-key")


def test_rsa_keygen_writes_a_private_key_and_prints_the_public_key(tmp_path, capsys):
    path = tmp_path / "koogallery_rsa.pem"
    call_command("koogallery_rsa_keygen", "--out", str(path))
    private = RSA.import_key(path.read_bytes())
    assert private.size_in_bits() == 3072
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    public_line = capsys.readouterr().out.strip()
    assert "\n" not in public_line and "-----" not in public_line
    import base64

    assert RSA.import_key(base64.b64decode(public_line)).n == private.n


def test_rsa_keygen_refuses_to_overwrite_or_to_go_below_3072_bits(tmp_path):
    path = tmp_path / "k.pem"
    path.write_text("keep me")
    with pytest.raises(CommandError, match="exists"):
        call_command("koogallery_rsa_keygen", "--out", str(path))
    assert path.read_text() == "keep me"
    with pytest.raises(CommandError, match="3072"):
        call_command("koogallery_rsa_keygen", "--out", str(tmp_path / "small.pem"), "--bits", "2048")


@pytest.mark.django_db
def test_the_journal_keeps_rows_for_the_retention_period(settings):
    settings.ISV_JOURNAL_RETENTION_DAYS = 30

    def row(age_days, **extra):
        return Delivery.objects.create(
            received_at=timezone.now() - timedelta(days=age_days), scheme="v2", method="POST", path="/p",
            result_code="000000", **extra,
        )  # fmt: skip

    old, recent = row(31), row(29)
    replay_of_old = row(1, replay_of=old)
    assert prune_journal() == 1
    assert set(Delivery.objects.values_list("id", flat=True)) == {recent.id, replay_of_old.id}
    replay_of_old.refresh_from_db()
    assert replay_of_old.replay_of is None
    settings.ISV_JOURNAL_RETENTION_DAYS = 0
    row(1000)
    assert prune_journal() == 0


@pytest.mark.django_db
def test_the_backfill_migration_names_the_instance_an_old_newinstance_answered():
    """Rows journaled before the journal took an answer's instanceId get it from the stored answer;
    rows that name one already, or whose answer names none, are left as they are."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("marketplace_isv.migrations.0002_backfill_answered_instance_ids")

    def row(body, instance_id=""):
        return Delivery.objects.create(
            received_at=timezone.now(), scheme="v2", method="POST", path="/koogallery/produce",
            activity="newInstance", result_code="000000", response_body=body, instance_id=instance_id,
        )  # fmt: skip

    answered = row('{"resultCode":"000000","resultMsg":"ok","instanceId":"inst-1"}')
    named = row('{"resultCode":"000000","instanceId":"inst-2"}', instance_id="own-id")
    listed = row('{"resultCode":"000000","info":[{"instanceId":"inst-3"}]}')
    other = row('{"resultCode":"000000","instanceId":"inst-4"}')
    Delivery.objects.filter(pk=other.pk).update(activity="echo")  # only newInstance and getLicense answer one
    broken = row('{"instanceId": not json')
    migration.backfill(apps, None)
    for delivery, expected in ((answered, "inst-1"), (named, "own-id"), (listed, ""), (broken, ""), (other, "")):
        delivery.refresh_from_db()
        assert delivery.instance_id == expected
