"""V2 queryInstance (§4.1.2, U20, U21): appInfo, usage, unknown ids, provisioning."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from marketplace_isv.crypto import aes_decrypt
from orders import services
from orders.models import Instance
from tests.conftest import ACCESS_KEY
from tests.orders.conftest import created_v2, order_line

pytestmark = pytest.mark.django_db


def query(koogallery, ids):
    return koogallery.v2("queryInstance", {"instanceId": ",".join(ids)}).assert_envelope()


def test_a_ready_instance_is_answered_with_its_app_info_in_plain_text_by_default(koogallery):
    instance = created_v2(koogallery)
    instance.refresh_from_db()
    data = query(koogallery, [instance.instance_id])
    assert data["resultCode"] == "000000"
    assert "encryptType" not in data
    assert data["info"] == [
        {
            "instanceId": instance.instance_id,
            "appInfo": {
                "frontEndUrl": f"http://localhost:8000/app/{instance.instance_id}",
                "userName": instance.app_user_name,
                "password": instance.app_password,
                "memo": instance.app_memo,
            },
        }
    ]


@pytest.mark.parametrize("encrypt_type", ["1", "2"])
def test_credentials_are_encrypted_with_encrypt_type_when_configured(koogallery, settings, encrypt_type):
    settings.KOOGALLERY_V2_ENCRYPT_APPINFO = True
    settings.KOOGALLERY_ENCRYPT_TYPE = encrypt_type
    instance = created_v2(koogallery)
    instance.refresh_from_db()
    data = query(koogallery, [instance.instance_id])
    app = data["info"][0]["appInfo"]
    assert data["encryptType"] == encrypt_type
    assert app["userName"] != instance.app_user_name
    assert aes_decrypt(app["userName"], ACCESS_KEY, encrypt_type) == instance.app_user_name
    assert aes_decrypt(app["password"], ACCESS_KEY, encrypt_type) == instance.app_password
    assert len(app["password"]) <= 128


def test_unknown_ids_are_left_out(koogallery):
    instance = created_v2(koogallery)
    data = query(koogallery, ["never-seen", instance.instance_id, "also-unknown"])
    assert [entry["instanceId"] for entry in data["info"]] == [instance.instance_id]


def test_only_unknown_ids_answer_000003(koogallery):
    data = query(koogallery, ["never-seen", "also-unknown"])
    assert data["resultCode"] == "000003"
    assert "info" not in data


def test_while_provisioning_the_answer_is_000004_without_info(koogallery):
    koogallery.run_jobs = False
    instance = created_v2(koogallery)
    data = query(koogallery, [instance.instance_id])
    assert data["resultCode"] == "000004" and "info" not in data


def test_ready_instances_are_answered_while_others_still_provision(koogallery):
    ready = created_v2(koogallery)
    koogallery.run_jobs = False
    pending = created_v2(koogallery)
    data = query(koogallery, [pending.instance_id, ready.instance_id])
    assert data["resultCode"] == "000000"
    assert [entry["instanceId"] for entry in data["info"]] == [ready.instance_id]


def test_duplicate_ids_and_blanks_are_answered_once(koogallery):
    instance = created_v2(koogallery)
    data = query(koogallery, [instance.instance_id, " ", instance.instance_id])
    assert len(data["info"]) == 1


def test_a_missing_instance_id_answers_000002(koogallery):
    assert koogallery.v2("queryInstance", {}).assert_envelope()["resultCode"] == "000002"
    assert koogallery.v2("queryInstance", {"instanceId": " , "}).assert_envelope()["resultCode"] == "000002"


def test_a_hundred_ids_are_answered_with_a_fixed_number_of_queries(koogallery):
    rows = [
        Instance(
            instance_id=f"bulk-{i:03d}",
            generation=2,
            order_id=f"CSBULK{i:03d}",
            order_line_id=f"CSBULK{i:03d}-000001",
            front_end_url=f"http://localhost:8000/app/bulk-{i:03d}",
            provisioning_state="ready",
            provisioned_at="2025-01-01T00:00:00Z",
            charging_mode="ON_DEMAND" if i % 2 else "PERIOD",
        )
        for i in range(100)
    ]
    Instance.objects.bulk_create(rows)
    with CaptureQueriesContext(connection) as queries:
        data = query(koogallery, [row.instance_id for row in rows])
    assert len(data["info"]) == 100
    # the nonce, the instances, the journal row (plus savepoints): never one query per id
    assert len(queries) <= 6, [q["sql"][:80] for q in queries]


def test_pay_per_use_instances_report_their_running_total(koogallery, fake_openapi, run_on_commit):
    order_id, line_id = order_line()
    fake_openapi.add_order(order_id, charging_mode="ON_DEMAND", period_type=None, period_number=None)
    instance = created_v2(koogallery, order_id=order_id, line_id=line_id)
    first = query(koogallery, [instance.instance_id])["info"][0]["usageInfo"]
    assert first[0]["usageValue"] == 0 and len(first[0]["statisticalTime"]) == 17
    services.instance_usage_record(instance_id=instance.instance_id, value=Decimal("12.3456"))
    usage = query(koogallery, [instance.instance_id])["info"][0]["usageInfo"]
    assert usage[0]["usageValue"] == 12.3456


def test_periodic_instances_carry_no_usage(koogallery):
    instance = created_v2(koogallery)
    assert "usageInfo" not in query(koogallery, [instance.instance_id])["info"][0]


def test_a_failed_instance_among_ready_ones_is_left_out(koogallery, settings):
    ready = created_v2(koogallery)
    settings.ISV_PROVISIONER = "tests.orders.provisioners.SoldOut"
    failed = created_v2(koogallery, test=False)
    data = query(koogallery, [failed.instance_id, ready.instance_id])
    assert [entry["instanceId"] for entry in data["info"]] == [ready.instance_id]


def test_encrypt_type_is_left_out_when_no_listed_instance_has_credentials(koogallery, settings, fake_openapi):
    """§4.1.2: encryptType goes with encrypted userName/password only."""
    settings.KOOGALLERY_V2_ENCRYPT_APPINFO = True
    settings.ISV_PROVISIONER = "tests.orders.provisioners.NoCredentials"
    instance = created_v2(koogallery, test=False)
    data = koogallery.v2("queryInstance", {"instanceId": instance.instance_id}, test=False).assert_envelope()
    assert data["resultCode"] == "000000"
    assert "encryptType" not in data
    assert set(data["info"][0]["appInfo"]) == {"frontEndUrl"}
