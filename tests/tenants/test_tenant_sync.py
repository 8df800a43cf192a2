"""tenantSync (§4.5.1) in both Kit generations: bind, modify, delete, out of order."""

import pytest

from marketplace_isv.models import Delivery
from tenants.models import SyncLog, Tenant, TenantBinding
from tests.marketplace_isv.test_vectors import KIT_V1_BODY
from tests.tenants.conftest import stamp

pytestmark = pytest.mark.django_db

TENANT = {
    "tenantId": "68cbc86abc",
    "tenantCode": "huawei",
    "name": "Huawei Test Enterprise",
    "domainName": "https://example.tenantaccount.com",
}


def tenant() -> Tenant:
    return Tenant.objects.get(tenant_id="68cbc86abc")


def test_add_stores_the_tenant_and_binds_it_to_the_instance(kit):
    reply = kit("tenantSync", **TENANT, flag=1, instanceId="inst-1", orderId="CS1")
    assert reply.code == "000000"
    t = tenant()
    assert (t.tenant_code, t.name, t.domain_name) == ("huawei", "Huawei Test Enterprise", TENANT["domainName"])
    assert (t.status, t.instance_id, t.order_id, t.is_test) == ("active", "inst-1", "CS1", True)
    binding = TenantBinding.objects.get()
    assert (binding.instance_id, binding.active) == ("inst-1", True)


def test_repeated_add_creates_nothing_new_and_succeeds(kit):
    for _ in range(3):
        assert kit("tenantSync", **TENANT, flag=1).code == "000000"
    assert Tenant.objects.count() == 1
    assert TenantBinding.objects.count() == 1
    assert SyncLog.objects.filter(interface="tenantSync").count() == 3


def test_a_domain_without_scheme_gets_https_u30(kit):
    kit("tenantSync", **{**TENANT, "domainName": "example.tenantaccount.com/"}, flag=1)
    assert tenant().domain_name == "https://example.tenantaccount.com"


def test_an_empty_instance_id_is_stored_against_the_tenant_u29(kit):
    # The seller applying for app credentials: instanceId and orderId are empty (§4.5).
    reply = kit("tenantSync", **TENANT, flag=1, instanceId="", orderId="")
    assert reply.code == "000000"
    assert tenant().status == "active"
    assert TenantBinding.objects.get().instance_id == ""


def test_modify_changes_only_name_and_domain(kit):
    kit("tenantSync", **TENANT, flag=1, timeStamp=stamp(-10))
    reply = kit(
        "tenantSync",
        **{**TENANT, "tenantCode": "changed", "name": "Renamed", "domainName": "new.example.com"},
        flag=2,
    )
    assert reply.code == "000000"
    t = tenant()
    assert (t.name, t.domain_name, t.tenant_code) == ("Renamed", "https://new.example.com", "huawei")


def test_modify_before_add_creates_the_tenant_and_the_later_older_add_only_binds_it(kit):
    assert kit("tenantSync", **{**TENANT, "name": "Newest"}, flag=2, timeStamp=stamp(0)).code == "000000"
    assert tenant().status == "pending"
    assert kit("tenantSync", **{**TENANT, "name": "Older"}, flag=1, timeStamp=stamp(-60)).code == "000000"
    t = tenant()
    assert (t.name, t.status) == ("Newest", "active")
    assert t.tenant_code == "huawei"  # mandatory in both calls: the routing mark is never lost


@pytest.mark.parametrize("older_add", [True, False], ids=["older add ignored", "no add yet"])
def test_a_modify_before_its_add_stores_the_tenant_code(kit, older_add):
    kit("tenantSync", **TENANT, flag=2, timeStamp=stamp(0))
    if older_add:
        kit("tenantSync", **{**TENANT, "tenantCode": "from-the-add"}, flag=1, timeStamp=stamp(-60))
    assert tenant().tenant_code == "huawei"  # the modify came first and filled it; later ones keep it


def test_delete_removes_the_binding_and_the_tenant_is_deleted_when_none_is_left(kit):
    kit("tenantSync", **TENANT, flag=1, instanceId="inst-1", timeStamp=stamp(-10))
    kit("tenantSync", **TENANT, flag=1, instanceId="inst-2", timeStamp=stamp(-10))
    assert kit("tenantSync", **TENANT, flag=0, instanceId="inst-1").code == "000000"
    assert (tenant().status, tenant().instance_id) == ("active", "inst-2")
    assert kit("tenantSync", **TENANT, flag=0, instanceId="inst-2").code == "000000"
    assert tenant().status == "deleted"
    assert TenantBinding.objects.filter(active=False).count() == 2


def test_delete_of_an_unknown_tenant_succeeds_without_checking(kit):
    reply = kit("tenantSync", tenantId="never-seen", tenantCode="", name="", domainName="", flag=0)
    assert reply.code == "000000"


def test_an_add_older_than_the_delete_does_not_bring_the_binding_back(kit):
    assert kit("tenantSync", **TENANT, flag=0, timeStamp=stamp(0)).code == "000000"
    assert kit("tenantSync", **TENANT, flag=1, timeStamp=stamp(-30)).code == "000000"
    assert tenant().status == "deleted"
    assert not TenantBinding.objects.get().active
    assert SyncLog.objects.filter(interface="tenantSync", flag=1).get().ignored == 1


def test_a_newer_add_after_a_delete_binds_again(kit):
    kit("tenantSync", **TENANT, flag=0, timeStamp=stamp(-30))
    kit("tenantSync", **TENANT, flag=1, timeStamp=stamp(0))
    assert tenant().status == "active"


@pytest.mark.parametrize("flag", [3, -1, "x"])
def test_an_unknown_flag_answers_000002_and_stores_nothing(kit, flag):
    reply = kit("tenantSync", **TENANT, flag=flag)
    assert reply.code == "000002"
    assert not Tenant.objects.exists()


def test_missing_tenant_id_answers_000002(kit):
    reply = kit("tenantSync", **{k: v for k, v in TENANT.items() if k != "tenantId"}, flag=1)
    assert reply.code == "000002"
    assert "tenantId" in reply.json["resultMsg"]


def test_each_call_writes_a_sync_log_row_with_its_delivery(kit):
    kit("tenantSync", **TENANT, flag=1)
    log = SyncLog.objects.get()
    delivery = Delivery.objects.get(pk=log.delivery_id)
    assert (log.interface, log.flag, log.tenant_id, log.applied, log.scheme) == (
        "tenantSync",
        1,
        "68cbc86abc",
        1,
        delivery.scheme,
    )


def test_the_documented_v1_example_body_is_accepted(koogallery):
    # §10.2: the exact example body, instanceId and orderId empty.
    body = dict(KIT_V1_BODY)
    reply = koogallery.kit_v1("tenantSync", body)
    assert reply.assert_envelope()["resultCode"] == "000000"
    assert tenant().name == "huaiweitest"
