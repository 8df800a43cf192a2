"""SaaS V1 (GET, §4.2): every activity through simulator-signed requests."""

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from marketplace_isv.crypto import aes_decrypt, aes_encrypt
from marketplace_isv.fields import key_fit
from marketplace_isv.simulator.client import new_order_id
from orders.models import Alert, DemoWorkspace, Instance, InstanceOrder, Job
from tests.conftest import ACCESS_KEY
from tests.orders.conftest import created_v1, new_v1

pytestmark = pytest.mark.django_db


def extend(params) -> str:
    return base64.b64encode(json.dumps(params, ensure_ascii=False).encode()).decode()


def call(koogallery, activity, **params):
    test = params.pop("test", True)
    return koogallery.v1(activity, params, test=test).assert_envelope()


# --- newInstance ---------------------------------------------------------------------------------


def test_new_instance_answers_at_once_with_encrypted_credentials(koogallery):
    data = new_v1(koogallery, business_id="61e834ba-7b97-4418-b8f7-e5345137278c").assert_envelope()
    assert (data["resultCode"], data["instanceId"], data["encryptType"]) == (
        "000000",
        "61e834ba-7b97-4418-b8f7-e5345137278c",
        "1",
    )
    instance = Instance.objects.get()
    app = data["appInfo"]
    assert app["frontEndUrl"] == f"http://localhost:8000/app/{instance.instance_id}"
    assert aes_decrypt(app["userName"], ACCESS_KEY, "1") == instance.app_user_name
    assert aes_decrypt(app["password"], ACCESS_KEY, "1") == instance.app_password
    assert len(instance.app_password.encode()) <= 79 and len(app["password"]) <= 128
    # the workspace is provisioned in the background with exactly those credentials
    workspace = DemoWorkspace.objects.get(instance_id=instance.instance_id)
    assert (workspace.admin_user, workspace.admin_password) == (instance.app_user_name, instance.app_password)


def test_encrypt_type_2_is_used_when_configured(koogallery, settings):
    settings.KOOGALLERY_ENCRYPT_TYPE = "2"
    data = new_v1(koogallery).assert_envelope()
    instance = Instance.objects.get()
    assert data["encryptType"] == "2"
    assert aes_decrypt(data["appInfo"]["password"], ACCESS_KEY, "2") == instance.app_password


def test_every_documented_field_is_stored(koogallery):
    params = [{"name": "companyName", "value": "华为 test+/="}, {"name": "seats", "value": "30"}]
    data = new_v1(
        koogallery,
        customerId="cust-1",
        customerName="买家",
        userId="iam-1",
        userName="iam-user",
        mobilePhone=aes_encrypt("13800000000", ACCESS_KEY, "1"),
        email=aes_encrypt("buyer@example.com", ACCESS_KEY, "1"),
        skuCode="sku-gold",
        productId="prod-gold-year",
        trialFlag="1",
        expireTime="20301231000000",
        chargingMode="1",
        periodType="year",
        periodNumber="2",
        orderAmount="199.990",
        provisionType="2",
        saasExtendParams=extend(params),
        amount="30",
        diskSize="100",
        bandWidth="10",
    ).assert_envelope()
    instance = Instance.objects.get(instance_id=data["instanceId"])
    assert (instance.customer_id, instance.customer_name, instance.user_id, instance.user_name) == (
        "cust-1",
        "买家",
        "iam-1",
        "iam-user",
    )
    assert (instance.mobile_phone, instance.email) == ("13800000000", "buyer@example.com")
    assert (instance.sku_code, instance.product_id, instance.is_trial) == ("sku-gold", "prod-gold-year", True)
    assert instance.expires_at == datetime(2030, 12, 31, tzinfo=UTC)
    assert (instance.charging_mode, instance.period_type, instance.period_number) == ("PERIOD", "year", 2)
    assert (instance.order_amount, instance.provision_type) == (Decimal("199.99"), "2")
    assert (instance.quantity, instance.disk_size, instance.band_width) == (30, 100, 10)
    assert instance.saas_extend_params == params
    assert "mobilePhone" not in instance.request_params  # ciphertexts are not kept beside the plaintext
    # §2.7: the authToken (a replayable credential in V1, U6) is not kept with the parameters.
    assert "authToken" not in instance.request_params and instance.request_params["skuCode"] == "sku-gold"
    assert all("authToken" not in order.params for order in instance.orders.all())


def test_a_v1_renewal_and_upgrade_keep_no_auth_token(koogallery):
    instance = created_v1(koogallery)
    renewal = new_order_id()
    fields = {"instanceId": instance.instance_id, "orderId": renewal, "expireTime": "20311231000000"}
    assert koogallery.v1("refreshInstance", fields).assert_envelope()["resultCode"] == "000000"
    upgrade = {"instanceId": instance.instance_id, "orderId": new_order_id(), "skuCode": "sku-gold",
               "productId": "prod-gold", "amount": "3"}  # fmt: skip
    assert koogallery.v1("upgrade", upgrade).assert_envelope()["resultCode"] == "000000"
    orders = InstanceOrder.objects.filter(instance=instance).exclude(kind="purchase")
    assert orders.count() == 2 and all("authToken" not in o.params and o.params for o in orders)


def test_the_migration_forgets_auth_tokens_stored_before(koogallery):
    import importlib

    from django.apps import apps

    instance = created_v1(koogallery)
    Instance.objects.filter(pk=instance.pk).update(request_params={"authToken": "t0k", "skuCode": "s"})
    migration = importlib.import_module("orders.migrations.0009_forget_stored_auth_tokens")
    migration.forget(apps, None)
    instance.refresh_from_db()
    assert instance.request_params == {"skuCode": "s"}


def test_personal_data_encrypted_with_the_other_key_length_is_still_read_u15(koogallery):
    data = new_v1(koogallery, mobilePhone=aes_encrypt("13900000000", ACCESS_KEY, "2")).assert_envelope()
    assert Instance.objects.get(instance_id=data["instanceId"]).mobile_phone == "13900000000"


@pytest.mark.parametrize(
    "mode,word", [("0", "ON_DEMAND"), ("1", "PERIOD"), ("3", "ONE_TIME"), ("5", "ON_DEMAND_PKG"), ("9", "")]
)
def test_charging_modes_are_kept_in_koogallerys_words(koogallery, mode, word):
    data = new_v1(koogallery, chargingMode=mode).assert_envelope()
    assert Instance.objects.get(instance_id=data["instanceId"]).charging_mode == word


def test_a_repeat_answers_the_same_instance_and_app_info(koogallery):
    order_id = new_order_id()
    first = new_v1(koogallery, order_id=order_id).assert_envelope()
    again = new_v1(koogallery, order_id=order_id).assert_envelope()
    assert again["instanceId"] == first["instanceId"]
    for member in ("userName", "password"):
        assert aes_decrypt(again["appInfo"][member], ACCESS_KEY) == aes_decrypt(first["appInfo"][member], ACCESS_KEY)
    assert Instance.objects.count() == 1 and Job.objects.count() == 1


def plain(app_info: dict) -> dict:
    return {k: aes_decrypt(v, ACCESS_KEY) if k in ("userName", "password") else v for k, v in app_info.items()}


def test_a_repeat_after_provisioning_answers_exactly_the_first_app_info(koogallery, settings):
    """§5.1: the same appInfo — not the first answer plus what the provisioner added since (its
    adminUrl and memo, which queryInstance reports)."""
    settings.ISV_PROVISIONER = "tests.orders.provisioners.AddsAdminUrl"
    order_id = new_order_id()
    first = new_v1(koogallery, order_id=order_id, test=False).assert_envelope()
    instance = Instance.objects.get(instance_id=first["instanceId"])
    assert instance.provisioned_at is not None and instance.admin_url
    again = new_v1(koogallery, order_id=order_id, test=False).assert_envelope()
    assert set(again["appInfo"]) == set(first["appInfo"]) == {"frontEndUrl", "userName", "password"}
    assert plain(again["appInfo"]) == plain(first["appInfo"])
    assert again["encryptType"] == first["encryptType"] == "1"
    queried = koogallery.v1("queryInstance", {"instanceId": first["instanceId"]}, test=False).assert_envelope()
    assert (queried["info"][0]["appInfo"]["adminUrl"], queried["info"][0]["appInfo"]["memo"]) == (
        "https://isv.example.com/admin",
        "Welcome",
    )


def test_a_pay_per_use_order_has_one_instance_per_product(koogallery):
    order_id = new_order_id()
    one = new_v1(koogallery, order_id=order_id, productId="p-cpu", chargingMode="0").assert_envelope()
    two = new_v1(koogallery, order_id=order_id, productId="p-disk", chargingMode="0").assert_envelope()
    assert one["instanceId"] != two["instanceId"]
    assert Instance.objects.filter(order_id=order_id).count() == 2


@pytest.mark.parametrize("missing", ["customerId", "businessId", "orderId", "skuCode", "productId"])
def test_a_missing_mandatory_field_answers_000002(koogallery, missing):
    from tests.orders.conftest import V1_FIELDS

    params = {**V1_FIELDS, "orderId": new_order_id(), "businessId": "b-1"}
    del params[missing]
    data = koogallery.v1("newInstance", params).assert_envelope()
    assert data["resultCode"] == "000002" and missing in data["resultMsg"]
    assert not Instance.objects.exists()


def test_customer_name_is_optional_u24(koogallery):
    assert new_v1(koogallery, customerName="").assert_envelope()["resultCode"] == "000000"


@pytest.mark.parametrize("field,value", [("mobilePhone", "AbCdEf0123456789notbase64!!"), ("saasExtendParams", "%%%")])
def test_undecodable_input_answers_000002(koogallery, field, value):
    data = new_v1(koogallery, **{field: value}).assert_envelope()
    assert data["resultCode"] == "000002" and field in data["resultMsg"]


def test_a_repeated_test_new_instance_revives_a_released_test_instance(koogallery):
    order_id = new_order_id()
    first = new_v1(koogallery, order_id=order_id).assert_envelope()
    call(koogallery, "releaseInstance", instanceId=first["instanceId"], orderId=order_id)
    again = new_v1(koogallery, order_id=order_id).assert_envelope()
    assert (again["resultCode"], again["instanceId"]) == ("000000", first["instanceId"])
    instance = Instance.objects.get()
    assert (instance.status, instance.provisioning_state) == ("active", "ready")
    assert DemoWorkspace.objects.get().status == "active"


def test_a_repeated_real_new_instance_after_release_does_not_revive(koogallery):
    order_id = new_order_id()
    first = new_v1(koogallery, order_id=order_id, test=False).assert_envelope()
    call(koogallery, "releaseInstance", instanceId=first["instanceId"], orderId=order_id, test=False)
    again = new_v1(koogallery, order_id=order_id, test=False).assert_envelope()
    assert (again["resultCode"], again["instanceId"]) == ("000000", first["instanceId"])
    assert Instance.objects.get().status == "released"
    assert Alert.objects.get().kind == "new_for_released"


# --- refreshInstance -----------------------------------------------------------------------------


def test_a_renewal_sets_the_expiry(koogallery):
    instance = created_v1(koogallery)
    order_id = new_order_id()
    data = call(
        koogallery, "refreshInstance", instanceId=instance.instance_id, orderId=order_id, expireTime="20350101000000"
    )
    assert data["resultCode"] == "000000"
    instance.refresh_from_db()
    assert instance.expires_at.year == 2035
    assert InstanceOrder.objects.get(instance=instance, kind="renewal").order_id == order_id


def test_trial_to_formal_ends_the_trial_and_may_change_the_product(koogallery):
    instance = created_v1(koogallery, trialFlag="1")
    call(
        koogallery,
        "refreshInstance",
        instanceId=instance.instance_id,
        orderId=new_order_id(),
        expireTime="20350101000000",
        trialToFormal="1",
        productId="prod-yearly",
        periodType="year",
        periodNumber="1",
    )
    instance.refresh_from_db()
    assert (instance.is_trial, instance.product_id, instance.period_type) == (False, "prod-yearly", "year")
    assert InstanceOrder.objects.filter(instance=instance, kind="trial_to_formal").exists()


def test_a_negative_amount_is_a_refunded_renewal(koogallery):
    instance = created_v1(koogallery)
    call(
        koogallery,
        "refreshInstance",
        instanceId=instance.instance_id,
        orderId=new_order_id(),
        expireTime="20250101000000",
        orderAmount="-10.5",
    )
    assert InstanceOrder.objects.get(instance=instance, kind="unsubscribe_renewal").amount == Decimal("-10.5")


def test_a_renewal_into_the_future_lifts_an_expiry_freeze(koogallery):
    instance = created_v1(koogallery)
    call(koogallery, "expireInstance", instanceId=instance.instance_id, orderId=instance.order_id)
    instance.refresh_from_db()
    assert (instance.status, instance.frozen_reason) == ("frozen", "expired")
    call(
        koogallery,
        "refreshInstance",
        instanceId=instance.instance_id,
        orderId=new_order_id(),
        expireTime="20990101000000",
    )
    instance.refresh_from_db()
    assert instance.status == "active"
    assert DemoWorkspace.objects.get().status == "active"


def test_a_renewal_into_the_past_or_of_a_marketplace_freeze_keeps_it_frozen(koogallery):
    expired = created_v1(koogallery)
    call(koogallery, "expireInstance", instanceId=expired.instance_id, orderId=expired.order_id)
    call(
        koogallery,
        "refreshInstance",
        instanceId=expired.instance_id,
        orderId=new_order_id(),
        expireTime="20200101000000",
    )
    paused = created_v1(koogallery)
    call(koogallery, "instanceStatus", instanceId=paused.instance_id, instanceStatus="FREEZE")
    call(
        koogallery,
        "refreshInstance",
        instanceId=paused.instance_id,
        orderId=new_order_id(),
        expireTime="20990101000000",
    )
    assert set(Instance.objects.values_list("status", flat=True)) == {"frozen"}


def test_refresh_repeat_unknown_and_released(koogallery):
    instance = created_v1(koogallery, test=False)
    order_id = new_order_id()
    params = {"instanceId": instance.instance_id, "orderId": order_id, "expireTime": "20350101000000", "test": False}
    assert call(koogallery, "refreshInstance", **params)["resultCode"] == "000000"
    assert call(koogallery, "refreshInstance", **params)["resultCode"] == "000000"
    assert Job.objects.filter(kind="renew").count() == 1
    assert call(koogallery, "refreshInstance", **{**params, "instanceId": "nope"})["resultCode"] == "000003"
    call(koogallery, "releaseInstance", instanceId=instance.instance_id, orderId=instance.order_id, test=False)
    assert call(koogallery, "refreshInstance", **params)["resultCode"] == "000003"
    assert sorted(Alert.objects.values_list("kind", flat=True)) == ["released_instance", "unknown_instance"]


# --- expireInstance / instanceStatus -------------------------------------------------------------


def test_expire_freezes_and_a_repeat_answers_000000(koogallery):
    instance = created_v1(koogallery)
    params = {"instanceId": instance.instance_id, "orderId": instance.order_id}
    assert call(koogallery, "expireInstance", **params)["resultCode"] == "000000"
    assert call(koogallery, "expireInstance", **params)["resultCode"] == "000000"
    assert Job.objects.filter(kind="freeze").count() == 1
    assert DemoWorkspace.objects.get().status == "frozen"


def test_expire_of_a_never_seen_or_released_instance(koogallery):
    assert call(koogallery, "expireInstance", instanceId="nope", orderId="CS1")["resultCode"] == "000003"
    instance = created_v1(koogallery, test=False)
    call(koogallery, "releaseInstance", instanceId=instance.instance_id, orderId=instance.order_id, test=False)
    params = {"instanceId": instance.instance_id, "orderId": instance.order_id, "test": False}
    assert call(koogallery, "expireInstance", **params)["resultCode"] == "000000"


def test_instance_status_freezes_and_restores_a_pay_per_use_instance(koogallery):
    instance = created_v1(koogallery, chargingMode="0")
    for value, expected in (("FREEZE", "frozen"), ("FREEZE", "frozen"), ("NORMAL", "active"), ("NORMAL", "active")):
        data = call(koogallery, "instanceStatus", instanceId=instance.instance_id, instanceStatus=value)
        assert data["resultCode"] == "000000"
        instance.refresh_from_db()
        assert instance.status == expected


def test_instance_status_rejects_unknown_values_and_instances(koogallery):
    instance = created_v1(koogallery)
    assert (
        call(koogallery, "instanceStatus", instanceId=instance.instance_id, instanceStatus="STOP")["resultCode"]
        == "000002"
    )
    assert call(koogallery, "instanceStatus", instanceId="nope", instanceStatus="FREEZE")["resultCode"] == "000003"


# --- upgrade -------------------------------------------------------------------------------------


def test_upgrade_applies_the_new_spec_once(koogallery):
    instance = created_v1(koogallery, amount="5")
    order_id = new_order_id()
    params = {
        "instanceId": instance.instance_id,
        "orderId": order_id,
        "skuCode": "sku-gold",
        "productId": "prod-gold",
        "amount": "50",
        "diskSize": "200",
        "saasExtendParams": extend([{"name": "region", "value": "cn-north-4"}]),
    }
    assert call(koogallery, "upgrade", **params)["resultCode"] == "000000"
    assert call(koogallery, "upgrade", **params)["resultCode"] == "000000"
    instance.refresh_from_db()
    assert (instance.sku_code, instance.product_id, instance.quantity, instance.disk_size) == (
        "sku-gold",
        "prod-gold",
        50,
        200,
    )
    assert instance.saas_extend_params == [{"name": "region", "value": "cn-north-4"}]
    assert Job.objects.filter(kind="upgrade").count() == 1
    assert DemoWorkspace.objects.get().seats == 50


def test_upgrade_of_a_never_seen_instance_or_without_its_fields(koogallery):
    params = {"instanceId": "nope", "orderId": "CS1", "skuCode": "s", "productId": "p"}
    assert call(koogallery, "upgrade", **params)["resultCode"] == "000003"
    del params["skuCode"]
    assert call(koogallery, "upgrade", **params)["resultCode"] == "000002"


# --- releaseInstance / queryInstance -------------------------------------------------------------


def test_release_and_its_repeat(koogallery):
    instance = created_v1(koogallery)
    params = {"instanceId": instance.instance_id, "orderId": instance.order_id, "orderAmount": "0"}
    assert call(koogallery, "releaseInstance", **params)["resultCode"] == "000000"
    assert call(koogallery, "releaseInstance", **params)["resultCode"] == "000000"
    assert call(koogallery, "releaseInstance", instanceId="nope", orderId="CS1")["resultCode"] == "000003"
    instance.refresh_from_db()
    assert instance.status == "released" and DemoWorkspace.objects.get().status == "released"


def test_query_instance_answers_a_comma_separated_list_with_encrypted_credentials(koogallery):
    one, two = created_v1(koogallery), created_v1(koogallery)
    data = call(koogallery, "queryInstance", instanceId=f"{one.instance_id},nope,{two.instance_id}")
    assert data["resultCode"] == "000000" and data["encryptType"] == "1"
    assert [entry["instanceId"] for entry in data["info"]] == [one.instance_id, two.instance_id]
    assert aes_decrypt(data["info"][0]["appInfo"]["userName"], ACCESS_KEY) == one.app_user_name
    assert "%2C" in koogallery.v1_query("queryInstance", {"instanceId": "a,b"})


def test_query_instance_lists_a_v1_instance_whose_provisioning_is_still_running(koogallery):
    koogallery.run_jobs = False
    instance = created_v1(koogallery)
    data = call(koogallery, "queryInstance", instanceId=instance.instance_id)
    assert data["resultCode"] == "000000" and data["info"][0]["instanceId"] == instance.instance_id


def test_query_instance_of_unknown_ids_answers_000003(koogallery):
    assert call(koogallery, "queryInstance", instanceId="nope,nada")["resultCode"] == "000003"


def test_fields_longer_than_their_columns_are_cut_not_refused(koogallery):
    data = new_v1(koogallery, periodType="y" * 40, customerName="n" * 300, provisionType="9" * 50).assert_envelope()
    assert data["resultCode"] == "000000"
    instance = Instance.objects.get(instance_id=data["instanceId"])
    assert (len(instance.period_type), len(instance.customer_name), len(instance.provision_type)) == (16, 255, 32)
    refreshed = call(
        koogallery,
        "refreshInstance",
        instanceId=instance.instance_id,
        orderId=new_order_id(),
        expireTime="20350101000000",
        periodType="m" * 40,
    )
    assert refreshed["resultCode"] == "000000"


def test_a_repeat_after_an_upgrade_or_a_product_change_still_finds_the_instance(koogallery):
    order_id = new_order_id()
    first = new_v1(koogallery, order_id=order_id, productId="prod-monthly").assert_envelope()
    iid = first["instanceId"]
    call(koogallery, "upgrade", instanceId=iid, orderId=new_order_id(), skuCode="sku-gold", productId="prod-gold")
    call(
        koogallery,
        "refreshInstance",
        instanceId=iid,
        orderId=new_order_id(),
        expireTime="20350101000000",
        productId="prod-yearly",
    )
    again = new_v1(koogallery, order_id=order_id, productId="prod-monthly").assert_envelope()
    assert again["instanceId"] == iid
    assert Instance.objects.count() == 1
    assert Instance.objects.get().product_id == "prod-yearly"


def _form_encoded_new_v1(koogallery, **values) -> dict:
    """A V1 newInstance as a sender that form-encodes: `+` in a value travels as a space, and the
    authToken covers the form-decoded values (§2.1 variant b)."""
    from urllib.parse import urlencode

    from marketplace_isv.crypto import hmac_b64
    from marketplace_isv.schemes import v1_message
    from marketplace_isv.simulator.client import utc_stamp
    from tests.orders.conftest import V1_FIELDS

    order_id = new_order_id()
    fields = {"activity": "newInstance", **V1_FIELDS, "orderId": order_id, "businessId": f"b-{order_id}"}
    fields.update({k: v.replace("+", " ") for k, v in values.items()})
    fields.update(testFlag="1", timeStamp=utc_stamp())
    token = hmac_b64(ACCESS_KEY + fields["timeStamp"], v1_message(list(fields.items()), keep_empty=True))
    query = urlencode(fields) + "&authToken=" + urlencode({"": token})[1:]
    return koogallery._send("GET", "/koogallery/produce", query, None, {}, ACCESS_KEY).assert_envelope()


def test_a_base64_field_ending_in_plus_survives_form_decoding(koogallery):
    # §2.7: spaces are mapped back to `+` in every Base64 field, a trailing one included.
    email = next(
        address
        for n in range(1000)
        if (address := f"buyer.number.{n:04d}@example-company.com")
        and aes_encrypt(address, ACCESS_KEY, "1", iv="0123456789abcdef").endswith("+")
    )
    cipher = aes_encrypt(email, ACCESS_KEY, "1", iv="0123456789abcdef")
    assert not cipher.endswith("=")  # nothing after the `+` for a trim to spare
    params = extend([{"name": "note", "value": "a>b"}])  # Base64 with `+` inside (JSON never ends one)
    assert "+" in params
    data = _form_encoded_new_v1(koogallery, email=cipher, saasExtendParams=params)
    assert data["resultCode"] == "000000", data
    instance = Instance.objects.get(instance_id=data["instanceId"])
    assert instance.email == email
    assert instance.saas_extend_params == json.loads(base64.b64decode(params))


@pytest.mark.parametrize("name", ["periodNumber", "amount", "diskSize", "bandWidth"])
def test_an_integer_beyond_a_java_int_answers_000002_and_writes_nothing(koogallery, name):
    data = new_v1(koogallery, **{name: "99999999999"}).assert_envelope()
    assert (data["resultCode"], data["resultMsg"]) == ("000002", f"{name} is out of range (a 32-bit integer)")
    assert not Instance.objects.exists()


def test_a_repeated_purchase_with_ids_longer_than_their_columns_finds_its_instance(koogallery):
    order_id = "CS" + "Z" * 298
    first = new_v1(koogallery, order_id=order_id, business_id="long-ids", productId="P" * 300).assert_envelope()
    again = new_v1(koogallery, order_id=order_id, business_id="long-ids", productId="P" * 300).assert_envelope()
    assert first["resultCode"] == again["resultCode"] == "000000"
    assert first["instanceId"] == again["instanceId"] == "long-ids"
    assert Instance.objects.get().order_id == key_fit(order_id, 255)


def test_two_purchases_whose_long_order_ids_share_their_beginning_are_two_instances(koogallery):
    """The key column keeps a digest of the whole id (§4.0, §5.1): never one order for another."""
    stem = "CS" + "Z" * 298
    first = new_v1(koogallery, order_id=stem + "1", business_id="long-1").assert_envelope()
    second = new_v1(koogallery, order_id=stem + "2", business_id="long-2").assert_envelope()
    assert (first["resultCode"], second["resultCode"]) == ("000000", "000000")
    assert (first["instanceId"], second["instanceId"]) == ("long-1", "long-2")
    assert sorted(Instance.objects.values_list("order_id", flat=True)) == sorted(
        [key_fit(stem + "1", 255), key_fit(stem + "2", 255)]
    )


@pytest.mark.parametrize(
    "inner", [b'[{"name":"x","value":"a\\u0000"}]', b'[{"name":"\\udc00"}]', b"[NaN]", b"[" * 2000 + b"]" * 2000],
    ids=["NUL", "lone surrogate", "NaN", "too deep"],
)  # fmt: skip
def test_saas_extend_params_that_cannot_be_stored_answer_000002(koogallery, inner):
    data = new_v1(koogallery, saasExtendParams=base64.b64encode(inner).decode()).assert_envelope()
    assert data["resultCode"] == "000002", data
    assert not Instance.objects.exists()


def test_an_order_amount_that_rounds_beyond_its_column_answers_000002(koogallery):
    data = new_v1(koogallery, orderAmount="99999999999999999999.99999").assert_envelope()
    assert (data["resultCode"], data["resultMsg"]) == ("000002", "orderAmount is out of range (BigDecimal(20))")
    assert not Instance.objects.exists()


def test_a_charging_mode_beyond_any_known_number_is_an_unknown_mode(koogallery):
    data = new_v1(koogallery, chargingMode="99999999999").assert_envelope()
    assert data["resultCode"] == "000000"
    assert Instance.objects.get().charging_mode == ""


def test_a_repeated_renewal_with_an_over_long_field_changes_nothing_the_second_time(koogallery):
    instance = created_v1(koogallery)
    order_id = new_order_id()
    for _ in range(3):
        data = call(koogallery, "refreshInstance", instanceId=instance.instance_id, orderId=order_id,
                    expireTime="20350101000000", periodType="y" * 17)  # fmt: skip
        assert data["resultCode"] == "000000"
    assert Job.objects.filter(instance=instance, kind="renew").count() == 1
