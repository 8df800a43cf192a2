"""Mandatory members of the five Kit interfaces (§2.8, §4.5), in both generations: an authenticated
call that misses one, or sends a value KooGallery never sends, answers 000002, writes nothing and
is journaled with 000002. Deletes (and authSync's cancel) need only what identifies their rows.

Every refusal below starts from a call that `test_a_complete_call_is_accepted` shows is accepted,
and changes one member: the refusal is that member's rule and nothing else."""

from typing import Any

import pytest

from marketplace_isv.envelope import ParamError
from marketplace_isv.models import Delivery
from tenants.models import Application, Department, SyncLog, Tenant, TenantBinding, TenantUser
from tenants.services import directory
from tests.tenants.conftest import stamp

pytestmark = pytest.mark.django_db

INTERFACES = ["tenantSync", "applicationSync", "authSync", "singleOrgSync", "allOrgSync"]
USER = {"userName": "zhangsan", "name": "Zhang San", "orgCode": "org-rd", "role": "user", "enable": "true"}


@pytest.fixture
def secret(kit, rsa_key) -> str:
    return kit.encrypt(rsa_key, "tenant-client-secret")


def complete(kit, interface: str, secret: str = "", **changes: Any) -> dict[str, Any]:
    """A complete add of `interface` as `kit`'s generation sends it, with `changes` applied; a
    change to None removes the member."""
    now = stamp()
    body: dict[str, Any] = {"instanceId": "inst-1", "testFlag": 1, "timeStamp": now, "tenantId": "t-1"}
    if interface == "tenantSync":
        body |= {"orderId": "CS1", "flag": 1, "tenantCode": "acme", "name": "ACME", "domainName": "acme.example.com"}
    elif interface == "applicationSync":
        body |= {"flag": 1, "appId": "app-1", "clientId": "client-1", "clientSecret": secret}
    elif interface == "authSync":
        body |= {"flag": 1, "appId": "app-1", "currentSyncTime": now, "userList": [USER]}
    elif interface == "singleOrgSync":
        body |= {"flag": 1, "orgCode": "rd", "orgName": "R&D", "parentCode": ""}
    elif kit.generation == 1:  # allOrgSync: V1 `orgInfo` with `name`, V2 `orgInfoList` with `orgName`
        body |= {"orgInfo": [{"orgCode": "hq", "name": "HQ", "parentCode": ""}]}
    else:
        body |= {"orgInfoList": [{"orgCode": "hq", "orgName": "HQ", "parentCode": ""}]}
    body |= changes
    return {name: value for name, value in body.items() if value is not None}


def nothing_written() -> bool:
    models = (Tenant, TenantBinding, Application, TenantUser, Department, SyncLog)
    return not any(model.objects.exists() for model in models)


def assert_refused(reply, interface: str, message: str) -> None:
    """000002 naming the member, nothing written, and the call journaled with 000002."""
    assert (reply.code, reply.json["resultMsg"]) == ("000002", message)
    assert nothing_written()
    row = Delivery.objects.order_by("-received_at").first()
    assert (row.activity, row.verified, row.result_code, row.error) == (interface, True, "000002", message)


@pytest.mark.parametrize("interface", INTERFACES)
def test_a_complete_call_is_accepted(kit, secret, interface):
    reply = kit.exact(interface, complete(kit, interface, secret))
    assert reply.code == "000000", reply.json
    assert SyncLog.objects.get().interface == interface


@pytest.mark.parametrize("interface", INTERFACES)
def test_a_call_without_instance_id_or_order_id_is_accepted_u29(kit, secret, interface):
    # The seller applying for app credentials: §4.5 marks them mandatory, yet they arrive empty.
    reply = kit.exact(interface, complete(kit, interface, secret, instanceId=None, orderId=None))
    assert reply.code == "000000", reply.json


# --- testFlag and timeStamp: every call (§4.5) ----------------------------------------------------


@pytest.mark.parametrize("interface", INTERFACES)
def test_a_call_without_test_flag_answers_000002_and_writes_nothing(kit, secret, interface):
    reply = kit.exact(interface, complete(kit, interface, secret, testFlag=None))
    assert_refused(reply, interface, "testFlag is required")


@pytest.mark.parametrize("value", [5, "abc", "2", -1, "01", True, " "])
@pytest.mark.parametrize("interface", INTERFACES)
def test_a_test_flag_other_than_0_or_1_answers_000002_and_writes_nothing(kit, secret, interface, value):
    reply = kit.exact(interface, complete(kit, interface, secret, testFlag=value))
    assert_refused(reply, interface, "testFlag is required" if value == " " else "testFlag must be 0 or 1")


@pytest.mark.parametrize("value,debug", [("1", True), (1, True), (" 1 ", True), ("0", False), (0, False)])
def test_a_test_flag_of_0_or_1_as_a_string_or_a_number_is_accepted(kit, value, debug):
    assert kit.exact("tenantSync", complete(kit, "tenantSync", testFlag=value)).code == "000000"
    assert Tenant.objects.get().is_test is debug


@pytest.mark.parametrize("interface", INTERFACES)
def test_a_kit_v2_call_without_time_stamp_answers_000002_and_writes_nothing(kit_v2, rsa_key, interface):
    secret = kit_v2.encrypt(rsa_key, "tenant-client-secret")
    reply = kit_v2.exact(interface, complete(kit_v2, interface, secret, timeStamp=None))
    assert_refused(reply, interface, "timeStamp is required")


@pytest.mark.parametrize("interface", INTERFACES)
def test_a_kit_v1_call_without_time_stamp_fails_authentication_first_with_000001(kit_v1, interface):
    # Kit V1 signs with the body's timeStamp (§2.2): authentication comes before the fields (§2.8).
    reply = kit_v1.exact(interface, complete(kit_v1, interface, "secret", timeStamp=None))
    assert reply.code == "000001"
    assert nothing_written()
    row = Delivery.objects.get()
    assert (row.verified, row.result_code, row.error) == (False, "000001", "timeStamp missing from the body")


@pytest.mark.parametrize(
    "value",
    ["garbage", "2022-04-13 09:35:39", "20221313093539534", "2022041309353", "202204130935395340", "2022041309353²"],
)
@pytest.mark.parametrize("interface", INTERFACES)
def test_a_time_stamp_that_is_no_utc8_time_answers_000002_and_writes_nothing(kit, secret, interface, value):
    # Kit V1 verifies with whatever timeStamp was signed; the field rule refuses it afterwards.
    reply = kit.exact(interface, complete(kit, interface, secret, timeStamp=value))
    assert_refused(reply, interface, "timeStamp must be a UTC+8 time yyyyMMddHHmmssSSS (or yyyyMMddHHmmss)")


def test_a_time_stamp_of_14_digits_is_accepted_and_orders_the_change(kit):
    assert kit.exact("tenantSync", complete(kit, "tenantSync", timeStamp="20220413093539")).code == "000000"
    assert Tenant.objects.get().synced_stamp == 20220413093539000


@pytest.mark.parametrize(
    "value,message",
    [
        (None, "currentSyncTime is required"),
        ("", "currentSyncTime is required"),
        ("yesterday", "currentSyncTime must be a UTC+8 time yyyyMMddHHmmssSSS (or yyyyMMddHHmmss)"),
        ("20220230093539534", "currentSyncTime must be a UTC+8 time yyyyMMddHHmmssSSS (or yyyyMMddHHmmss)"),
    ],
)
def test_an_auth_sync_without_a_valid_current_sync_time_answers_000002_and_writes_nothing(kit, value, message):
    assert_refused(kit.exact("authSync", complete(kit, "authSync", currentSyncTime=value)), "authSync", message)


def test_auth_sync_is_ordered_by_current_sync_time_not_time_stamp(kit):
    body = complete(kit, "authSync", timeStamp="20990101000000000", currentSyncTime="20220413093539534")
    assert kit.exact("authSync", body).code == "000000"
    assert TenantUser.objects.get().synced_stamp == 20220413093539534


# --- tenantSync (§4.5.1) --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "   "])
@pytest.mark.parametrize("member", ["tenantCode", "name", "domainName"])
@pytest.mark.parametrize("flag", [1, 2])
def test_a_tenant_add_or_modify_missing_a_mandatory_member_answers_000002_and_writes_nothing(kit, flag, member, value):
    reply = kit.exact("tenantSync", complete(kit, "tenantSync", flag=flag, **{member: value}))
    assert_refused(reply, "tenantSync", f"{member} is required")


def test_a_tenant_modify_without_name_leaves_the_stored_name_alone(kit):
    assert kit.exact("tenantSync", complete(kit, "tenantSync", timeStamp=stamp(-10))).code == "000000"
    assert kit.exact("tenantSync", complete(kit, "tenantSync", flag=2, name=None)).code == "000002"
    assert Tenant.objects.get().name == "ACME"


def test_a_tenant_delete_needs_only_tenant_id(kit):
    body = complete(kit, "tenantSync", flag=0, tenantCode=None, name=None, domainName=None, instanceId=None)
    assert kit.exact("tenantSync", {**body, "orderId": ""}).code == "000000"
    assert Tenant.objects.get().status == "deleted"


@pytest.mark.parametrize("interface", ["tenantSync", "applicationSync", "authSync", "singleOrgSync"])
def test_a_delete_still_needs_test_flag_and_time_stamp(kit, secret, interface):
    assert_refused(kit.exact(interface, complete(kit, interface, secret, flag=0, testFlag=None)), interface,
                   "testFlag is required")  # fmt: skip
    bad_time = complete(kit, interface, secret, flag=0, timeStamp="0")
    assert_refused(kit.exact(interface, bad_time), interface,
                   "timeStamp must be a UTC+8 time yyyyMMddHHmmssSSS (or yyyyMMddHHmmss)")  # fmt: skip


# --- applicationSync (§4.5.2) ---------------------------------------------------------------------


@pytest.mark.parametrize("member", ["clientId", "clientSecret"])
def test_an_application_add_without_its_credentials_answers_000002_and_writes_nothing(kit, secret, member):
    reply = kit.exact("applicationSync", complete(kit, "applicationSync", secret, **{member: None}))
    assert_refused(reply, "applicationSync", f"{member} is required")


def test_an_application_delete_needs_only_tenant_id_and_app_id(kit):
    body = complete(kit, "applicationSync", flag=0, clientId=None, clientSecret=None)
    assert kit.exact("applicationSync", body).code == "000000"


# --- authSync (§4.5.3) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change,message",
    [
        ({"name": None}, "userList[1].name is required"),
        ({"name": " "}, "userList[1].name is required"),
        ({"orgCode": None}, "userList[1].orgCode is required"),
        ({"role": None}, "userList[1].role is required"),
        ({"role": "superuser"}, "userList[1].role must be admin or user"),
        ({"enable": None}, "userList[1].enable is required"),
        ({"enable": "maybe"}, 'userList[1].enable must be "true" or "false"'),
        ({"enable": "1"}, 'userList[1].enable must be "true" or "false"'),
    ],
)
@pytest.mark.parametrize("flag", [1, 2])
def test_an_auth_add_or_modify_with_an_incomplete_user_answers_000002_naming_its_index(kit, flag, change, message):
    second = {k: v for k, v in {**USER, "userName": "lisi", **change}.items() if v is not None}
    reply = kit.exact("authSync", complete(kit, "authSync", flag=flag, userList=[USER, second]))
    assert_refused(reply, "authSync", message)


@pytest.mark.parametrize(
    "role,enable,stored",
    [("ADMIN", "TRUE", ("admin", True)), ("User", "False", ("user", False)), ("admin", False, ("admin", False))],
)
def test_role_and_enable_are_read_in_any_letter_case_and_enable_may_be_a_json_boolean(kit, role, enable, stored):
    users = [{**USER, "role": role, "enable": enable}]
    assert kit.exact("authSync", complete(kit, "authSync", userList=users)).code == "000000"
    user = TenantUser.objects.get()
    assert (user.role, user.enabled) == stored


def test_a_user_modify_without_enable_does_not_re_enable_a_disabled_user(kit):
    disabled = complete(kit, "authSync", userList=[{**USER, "enable": "false"}], currentSyncTime=stamp(-10))
    assert kit.exact("authSync", disabled).code == "000000"
    without_enable = {k: v for k, v in USER.items() if k != "enable"}
    assert kit.exact("authSync", complete(kit, "authSync", flag=2, userList=[without_enable])).code == "000002"
    assert TenantUser.objects.get().enabled is False


@pytest.mark.parametrize("flag", [0, 3])
def test_an_auth_delete_or_cancel_needs_only_user_name_and_tolerates_odd_values(kit, flag):
    users = [{"userName": "ghost"}, {"userName": "odd", "role": "superuser", "enable": "maybe"}]
    assert kit.exact("authSync", complete(kit, "authSync", flag=flag, userList=users)).code == "000000"
    assert TenantUser.objects.count() == 2


@pytest.mark.parametrize("flag", [0, 3])
def test_an_auth_delete_or_cancel_still_needs_user_name(kit, flag):
    reply = kit.exact("authSync", complete(kit, "authSync", flag=flag, userList=[{"userName": "a"}, {"name": "b"}]))
    assert_refused(reply, "authSync", "userList[1].userName is required")


def test_a_single_user_object_is_still_read_as_a_list(kit):
    assert kit.exact("authSync", complete(kit, "authSync", userList=USER)).code == "000000"
    assert TenantUser.objects.get().user_name == "zhangsan"


@pytest.mark.parametrize("extra", [[], ["tag"]])
def test_a_single_user_object_with_an_array_member_is_that_user_not_the_array(kit, extra):
    # §4.0: an extra member is ignored. Taken for the list, [] dropped the user with 000000.
    user = {**USER, "tags": extra}
    assert kit.exact("authSync", complete(kit, "authSync", userList=user)).code == "000000"
    assert TenantUser.objects.get().user_name == "zhangsan"


# --- singleOrgSync, allOrgSync (§4.5.4, §4.5.5) ---------------------------------------------------


@pytest.mark.parametrize("value", [None, "", " "])
@pytest.mark.parametrize("flag", [1, 2])
def test_a_department_add_or_modify_without_a_name_answers_000002_and_writes_nothing(kit, flag, value):
    reply = kit.exact("singleOrgSync", complete(kit, "singleOrgSync", flag=flag, orgName=value))
    assert_refused(reply, "singleOrgSync", "orgName is required")


def test_a_department_add_may_name_it_with_name_and_leave_out_parent_code(kit):
    body = complete(kit, "singleOrgSync", orgName=None, parentCode=None, name="R&D")
    assert kit.exact("singleOrgSync", body).code == "000000"
    assert (Department.objects.get().name, Department.objects.get().parent_code) == ("R&D", "")


def test_a_department_delete_needs_only_org_code(kit):
    body = complete(kit, "singleOrgSync", flag=0, orgName=None, parentCode=None)
    assert kit.exact("singleOrgSync", body).code == "000000"
    assert Department.objects.get().removed


@pytest.mark.parametrize("value", [None, "", " "])
def test_a_snapshot_entry_without_a_name_answers_000002_naming_its_index(kit, value):
    if kit.generation == 1:
        entries = [{"orgCode": "hq", "name": "HQ"}, {"orgCode": "rd", "name": value}]
        body, message = complete(kit, "allOrgSync", orgInfo=entries), "orgInfo[1].name is required"
    else:
        entries = [{"orgCode": "hq", "orgName": "HQ"}, {"orgCode": "rd", "orgName": value}]
        body, message = complete(kit, "allOrgSync", orgInfoList=entries), "orgInfoList[1].orgName is required"
    assert_refused(kit.exact("allOrgSync", body), "allOrgSync", message)


def test_a_snapshot_entry_without_org_code_answers_000002_naming_its_index(kit_v2):
    entries = [{"orgCode": "hq", "orgName": "HQ"}, {"orgName": "R&D"}]
    reply = kit_v2.exact("allOrgSync", complete(kit_v2, "allOrgSync", orgInfoList=entries))
    assert_refused(reply, "allOrgSync", "orgInfoList[1].orgCode is required")


def test_a_snapshot_with_a_stray_flag_and_v2_spellings_in_v1_is_still_accepted(kit_v1):
    body = complete(kit_v1, "allOrgSync", flag=0, orgInfo=None, orgInfoList=[{"OrgCode": "hq", "ORGNAME": "HQ"}])
    assert kit_v1.exact("allOrgSync", body).code == "000000"
    assert Department.objects.get().name == "HQ"


# --- the pipeline's transaction (§2.8, house style 8) ---------------------------------------------


def test_a_param_error_raised_after_rows_were_written_leaves_none_of_them(kit, monkeypatch):
    # The rules above refuse before the service runs; should a refusal come later, the pipeline's
    # transaction still takes back everything the call wrote.
    written = []

    def record_then_refuse(*args, **kwargs):
        written.append(TenantUser.objects.count())
        raise ParamError("refused after writing")

    monkeypatch.setattr(directory, "record_sync", record_then_refuse)
    reply = kit.exact("authSync", complete(kit, "authSync"))
    assert written == [1]  # the user row and its pending tenant existed inside the call
    assert_refused(reply, "authSync", "refused after writing")
