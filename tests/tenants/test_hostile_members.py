"""Kit members KooGallery should never send, answered clearly (§2.8, §4.0): over-long text is cut
(a key keeps a digest of the whole),
JSON inside a string is read by the body's own rules, odd numbers stay raw. Nothing is half-written."""

import pytest

from marketplace_isv.crypto import rsa_oaep_encrypt
from marketplace_isv.fields import key_fit
from tenants.models import Application, Department, SyncLog, Tenant, TenantUser
from tests.tenants.conftest import stamp

pytestmark = pytest.mark.django_db

LONG = "t" * 300


def one_user(members: str) -> str:
    """A userList string of one user: `members` and a user's other mandatory members (§4.5.3)."""
    return "[{" + members + ',"name":"n","orgCode":"o","role":"user","enable":"true"}]'


def test_over_long_ids_and_names_are_cut_and_a_repeat_finds_the_tenant(kit):
    for _ in range(2):
        reply = kit("tenantSync", flag=1, tenantId=LONG, instanceId=LONG, orderId=LONG, tenantCode=LONG,
                    name="n" * 600, domainName="d" * 600, timeStamp=stamp())  # fmt: skip
        assert reply.code == "000000", reply.json
    tenant = Tenant.objects.get()
    assert (tenant.tenant_id, len(tenant.name), len(tenant.domain_name)) == (key_fit(LONG, 255), 512, 512)


def test_over_long_application_ids_are_cut_and_a_repeat_finds_the_app(kit, rsa_key):
    secret = rsa_oaep_encrypt("s3cret", rsa_key.publickey())
    for _ in range(2):
        reply = kit("applicationSync", flag=1, tenantId=LONG, appId=LONG, clientId=LONG, clientSecret=secret,
                    timeStamp=stamp())  # fmt: skip
        assert reply.code == "000000", reply.json
    app = Application.objects.get()
    assert (app.app_id, app.client_id) == (key_fit(LONG, 255), LONG[:255])


def test_long_keys_sharing_their_beginning_stay_apart(kit):
    """Two tenants, users or departments whose ids differ only after the 255th character are two
    rows, and a department's parentCode finds its long-coded parent."""
    for tail in "12":
        reply = kit("tenantSync", flag=1, tenantId=LONG + tail, instanceId="i", orderId="o", tenantCode="c",
                    name="n", domainName="https://d.example.com", timeStamp=stamp())  # fmt: skip
        assert reply.code == "000000", reply.json
    assert Tenant.objects.count() == 2
    users = [{"userName": LONG + tail, "name": "n", "orgCode": "o", "role": "user", "enable": "true"} for tail in "12"]
    reply = kit("authSync", flag=1, tenantId="t-1", appId="a-1", userList=users, currentSyncTime=stamp())
    assert reply.code == "000000", reply.json
    assert sorted(TenantUser.objects.values_list("user_name", flat=True)) == sorted(
        key_fit(LONG + t, 255) for t in "12"
    )


@pytest.mark.parametrize("value", ["--1", "²", "-²", "1.5"])
def test_an_employee_type_that_is_no_plain_integer_is_kept_raw(kit, value):
    users = [{"userName": "u1", "name": "n", "orgCode": "o", "role": "user", "enable": "true", "employeeType": value}]
    reply = kit("authSync", flag=1, tenantId="t-1", appId="a-1", userList=users, currentSyncTime=stamp())
    assert reply.code == "000000", reply.json
    stored = TenantUser.objects.get()
    assert stored.employee_type is None and stored.extension["employeeType"] == value


@pytest.mark.parametrize(
    "user_list",
    [one_user('"userName":"a\\u0000b"'), one_user('"userName":"a","x":"\\u0000"'), one_user('"userName":"\\ud800"'),
     one_user('"userName":"a","x":NaN'), "[" * 50_000 + "]" * 50_000],
    ids=["NUL in a name", "NUL in an extra member", "lone surrogate", "NaN", "too deep"],
)  # fmt: skip
def test_a_user_list_string_that_cannot_be_stored_answers_000002(koogallery, user_list):
    fields = {"tenantId": "t-1", "appId": "a-1", "flag": 1, "timeStamp": stamp(), "currentSyncTime": stamp(),
              "instanceId": "i", "userList": user_list}  # fmt: skip
    reply = koogallery.kit_v1("authSync", fields)
    assert reply.assert_envelope()["resultCode"] == "000002", reply.json
    assert "userList" in reply.json["resultMsg"]
    assert not TenantUser.objects.exists() and not Tenant.objects.exists()
    assert not SyncLog.objects.filter(result_code="000000").exists()


def test_an_org_list_string_with_nul_answers_000002(koogallery):
    fields = {"tenantId": "t-1", "timeStamp": stamp(), "instanceId": "i",
              "orgInfo": '[{"orgCode":"o\\u0000","name":"x"}]'}  # fmt: skip
    reply = koogallery.kit_v1("allOrgSync", fields)
    assert reply.assert_envelope()["resultCode"] == "000002"
    assert "orgInfo" in reply.json["resultMsg"]
    assert not Department.objects.exists()


def test_a_number_too_large_for_a_float_is_kept_as_text(kit_v1):
    users = '[{"userName":"u1","name":"n","orgCode":"o","role":"user","enable":"true","score":1e999}]'
    reply = kit_v1("authSync", flag=1, tenantId="t-1", appId="a-1", userList=users, currentSyncTime=stamp())
    assert reply.code == "000000", reply.json
    assert TenantUser.objects.get().extension["score"] == "1e999"


def test_a_flag_with_a_zero_tail_is_read_as_an_integer(kit):
    reply = kit("tenantSync", flag="1.0", tenantId="t-1", tenantCode="c", name="n", domainName="d", timeStamp=stamp())
    assert reply.code == "000000", reply.json


@pytest.mark.parametrize("value", [None, "absent"])
def test_a_snapshot_without_its_list_names_both_spellings(kit_v2, value):
    fields = {"tenantId": "t-1", "timeStamp": stamp()} | ({} if value == "absent" else {"orgInfoList": value})
    reply = kit_v2("allOrgSync", **fields)
    assert (reply.code, reply.json["resultMsg"]) == ("000002", "orgInfoList (Kit V1: orgInfo) is required")


@pytest.mark.parametrize("value", ["20991231000000²²²", "2025010100000000²"])
def test_a_time_with_non_ascii_digits_answers_000002_and_stores_nothing(kit, value):
    reply = kit("tenantSync", flag=1, tenantId="t-1", tenantCode="c", name="n", domainName="d", timeStamp=value)
    assert reply.code == "000002"
    assert reply.json["resultMsg"].startswith("timeStamp must be")
    assert not Tenant.objects.exists()


def test_a_list_string_nested_moderately_deep_answers_000002(koogallery):
    fields = {"tenantId": "t-1", "appId": "a-1", "flag": 1, "timeStamp": stamp(), "currentSyncTime": stamp(),
              "instanceId": "i", "userList": "[" * 350 + '"x"' + "]" * 350}  # fmt: skip
    reply = koogallery.kit_v1("authSync", fields)
    assert reply.assert_envelope()["resultCode"] == "000002"
    assert "userList" in reply.json["resultMsg"]


def test_a_long_parent_code_finds_its_long_coded_department(kit):
    parent, child = LONG + "-parent", LONG + "-child"
    orgs = [
        {"orgCode": parent, "orgName": "P", "parentCode": ""},
        {"orgCode": child, "orgName": "C", "parentCode": parent},
    ]
    reply = kit("allOrgSync", tenantId="t-1", orgInfoList=orgs, timeStamp=stamp())
    assert reply.code == "000000", reply.json
    stored_child = Department.objects.get(org_code=key_fit(child, 255))
    assert Department.objects.filter(org_code=stored_child.parent_code).exists()
    assert stored_child.parent_code == key_fit(parent, 255) != key_fit(child, 255)


@pytest.mark.parametrize(
    "interface,fields,member",
    [
        ("singleOrgSync", {"orgCode": "o", "orgName": "O", "parentCode": ["x"]}, "parentCode"),
        ("singleOrgSync", {"orgCode": True, "orgName": "O"}, "orgCode"),
        ("singleOrgSync", {"orgCode": "o", "orgName": {"a": 1}}, "orgName"),
    ],
)
def test_a_department_member_of_the_wrong_type_answers_000002(kit, interface, fields, member):
    """A parentCode of [] read as empty would make the department top-level: refused instead."""
    reply = kit(interface, flag=1, tenantId="t-1", timeStamp=stamp(), **fields)
    assert reply.code == "000002", reply.json
    assert reply.json["resultMsg"] == f"{member} must be text"
    assert not Department.objects.exists()


@pytest.mark.parametrize("member", ["userName", "name", "orgCode"])
def test_a_user_member_of_the_wrong_type_answers_000002(kit, member):
    user = {"userName": "u1", "name": "n", "orgCode": "o", "role": "user", "enable": "true", member: True}
    reply = kit("authSync", flag=1, tenantId="t-1", appId="a-1", userList=[user], currentSyncTime=stamp())
    assert reply.code == "000002", reply.json
    assert reply.json["resultMsg"] == f"userList[0].{member} must be text"
    assert not TenantUser.objects.exists()


def test_a_delete_with_a_member_of_the_wrong_type_still_succeeds(kit):
    """Deletes always answer 000000 (§4.5): only what identifies the row is read strictly."""
    reply = kit("singleOrgSync", flag=0, tenantId="t-1", timeStamp=stamp(), orgCode="o", orgName={"a": 1},
                parentCode=["x"])  # fmt: skip
    assert reply.code == "000000", reply.json
