"""applicationSync (§4.5.2): app credentials, clientSecret decrypted with the seller's RSA key
(§3.2) and sealed at rest; an undecryptable one answers 000101 and keeps its ciphertext (U18)."""

import pytest
from django.db import connection

from marketplace_isv.crypto import OAEP_PARAMETER_SETS, rsa_oaep_encrypt
from marketplace_isv.models import Delivery
from tenants import services
from tenants.models import Application, SyncLog, Tenant
from tests.tenants.conftest import stamp

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-客户端-secret-0123456789"


def app() -> Application:
    return Application.objects.select_related("tenant").get(tenant__tenant_id="t-1", app_id="app-1")


def send_app(kit, rsa_key, flag=1, secret=SECRET, parameter_set=0, **fields):
    client_secret = rsa_oaep_encrypt(secret, rsa_key.publickey(), parameter_set)
    fields = {"tenantId": "t-1", "appId": "app-1", "clientId": "client-1", "clientSecret": client_secret, **fields}
    return kit("applicationSync", flag=flag, **fields)


@pytest.mark.parametrize("parameter_set", [0, 1, 2], ids=["sha1", "sha256-mgf1sha1", "sha256-mgf1sha256"])
def test_client_secret_is_decrypted_with_every_oaep_parameter_set(kit, rsa_key, parameter_set):
    reply = send_app(kit, rsa_key, parameter_set=parameter_set)
    assert reply.code == "000000"
    stored = app()
    assert stored.secret_state == "ok"
    assert services.application_client_secret(stored) == SECRET
    assert stored.oaep_parameters == OAEP_PARAMETER_SETS[parameter_set][2]
    assert stored.client_id == "client-1"
    assert stored.client_secret_rsa == ""


def test_the_secret_is_never_stored_in_plain_text(kit, rsa_key):
    send_app(kit, rsa_key)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM tenants_application")
        row = " ".join(str(v) for v in cursor.fetchone())
    assert SECRET not in row
    assert app().client_secret_sealed.startswith("g1:")


def test_an_undecryptable_secret_answers_000101_and_keeps_the_ciphertext(kit, other_rsa_key):
    ciphertext = rsa_oaep_encrypt(SECRET, other_rsa_key.publickey())
    reply = kit("applicationSync", flag=1, tenantId="t-1", appId="app-1", clientId="client-1", clientSecret=ciphertext)
    assert reply.code == "000101"
    assert "clientSecret" in reply.json["resultMsg"]
    stored = app()
    assert (stored.secret_state, stored.client_secret_rsa, stored.client_secret_sealed) == (
        "undecryptable",
        ciphertext,
        "",
    )
    assert Delivery.objects.get(pk=SyncLog.objects.get().delivery_id).result_code == "000101"
    assert SyncLog.objects.get().result_code == "000101"


def test_garbage_that_is_not_base64_answers_000101(kit):
    reply = kit("applicationSync", flag=1, tenantId="t-1", appId="app-1", clientId="c", clientSecret="not base64 !!")
    assert reply.code == "000101"
    assert app().client_secret_rsa == "not base64 !!"


def test_without_a_configured_private_key_the_secret_is_kept_for_later(kit, rsa_key, settings):
    settings.KOOGALLERY_RSA_PRIVATE_KEY_FILE = None
    assert send_app(kit, rsa_key).code == "000101"
    assert "not configured" in app().secret_error


def test_kept_ciphertexts_are_re_decrypted_once_the_key_is_fixed(kit, rsa_key, rsa_key_path, wrong_key_path, settings):
    settings.KOOGALLERY_RSA_PRIVATE_KEY_FILE = str(wrong_key_path)
    assert send_app(kit, rsa_key).code == "000101"
    settings.KOOGALLERY_RSA_PRIVATE_KEY_FILE = str(rsa_key_path)
    assert services.application_redecrypt() == (1, 0)
    stored = app()
    assert (stored.secret_state, stored.client_secret_rsa) == ("ok", "")
    assert services.application_client_secret(stored) == SECRET


def test_repeated_add_creates_nothing_new(kit, rsa_key):
    for _ in range(3):
        assert send_app(kit, rsa_key).code == "000000"
    assert Application.objects.count() == 1
    assert Tenant.objects.count() == 1


def test_modify_replaces_the_client_credentials(kit, rsa_key):
    send_app(kit, rsa_key, flag=1)
    assert send_app(kit, rsa_key, flag=2, secret="rotated", clientId="client-2").code == "000000"
    stored = app()
    assert stored.client_id == "client-2"
    assert services.application_client_secret(stored) == "rotated"


def test_delete_deactivates_the_app_and_forgets_its_secret(kit, rsa_key):
    send_app(kit, rsa_key)
    assert kit("applicationSync", flag=0, tenantId="t-1", appId="app-1").code == "000000"
    stored = app()
    assert (stored.active, stored.client_secret_sealed, stored.secret_state) == (False, "", "none")


def test_delete_of_an_unknown_app_succeeds(kit):
    assert kit("applicationSync", flag=0, tenantId="t-9", appId="nope", clientId="", clientSecret="").code == "000000"


def test_an_empty_instance_id_is_accepted_u29(kit, rsa_key):
    assert send_app(kit, rsa_key, instanceId="").code == "000000"
    assert app().instance_id == ""


def test_an_app_may_arrive_before_its_tenant(kit, rsa_key):
    send_app(kit, rsa_key)
    assert Tenant.objects.get(tenant_id="t-1").status == "pending"


@pytest.mark.parametrize("missing", ["clientId", "clientSecret", "appId", "tenantId"])
def test_missing_credentials_on_add_answer_000002(kit, rsa_key, missing):
    fields = {
        "tenantId": "t-1",
        "appId": "app-1",
        "clientId": "client-1",
        "clientSecret": rsa_oaep_encrypt(SECRET, rsa_key.publickey()),
    }
    del fields[missing]
    reply = kit("applicationSync", flag=1, **fields)
    assert reply.code == "000002"
    assert missing in reply.json["resultMsg"]
    assert not Application.objects.exists()


def test_an_older_modify_is_ignored(kit, rsa_key):
    send_app(kit, rsa_key, flag=1, timeStamp=stamp(0))
    send_app(kit, rsa_key, flag=2, clientId="stale", timeStamp=stamp(-60))
    assert app().client_id == "client-1"
