"""authSync (§4.5.3): users authorised for a tenant's app, all four flags, both list shapes."""

import json

import pytest

from tenants.models import SyncLog, TenantUser
from tests.tenants.conftest import stamp

pytestmark = pytest.mark.django_db


def user(name="zhangsan", **extra):
    return {
        "userName": name,
        "name": f"Name of {name}",
        "orgCode": "org-rd",
        "position": "engineer",
        "employeeCode": f"E-{name}",
        "role": "user",
        "enable": "true",
        **extra,
    }


def sync(kit, flag, users, **fields):
    fields = {"tenantId": "t-1", "appId": "app-1", "currentSyncTime": stamp(), **fields}
    return kit("authSync", flag=flag, userList=users, **fields)


def stored(name="zhangsan") -> TenantUser:
    return TenantUser.objects.get(tenant__tenant_id="t-1", app_id="app-1", user_name=name)


def test_add_stores_and_authorises_the_users(kit):
    reply = sync(kit, 1, [user("zhangsan", role="admin", mobile="13800000000", email="z@example.com"), user("lisi")])
    assert reply.code == "000000"
    z = stored("zhangsan")
    assert (z.name, z.role, z.enabled, z.authorised, z.removed) == ("Name of zhangsan", "admin", True, True, False)
    assert (z.org_code, z.position, z.employee_code) == ("org-rd", "engineer", "E-zhangsan")
    assert (z.mobile, z.email) == ("13800000000", "z@example.com")
    assert stored("lisi").role == "user"


def test_v1_extension_object_and_v2_flat_members_land_in_the_same_places(kit_v1, kit_v2):
    nested = user("v1user", extension={"entryDate": "2021-3-9", "employeeType": "2", "workPlace": "Shenzhen"})
    flat = user("v2user", entryDate="2021-3-9", employeeType=2, workPlace="Shenzhen", hobby="go")
    assert sync(kit_v1, 1, [nested]).code == "000000"
    assert sync(kit_v2, 1, [flat]).code == "000000"
    for name in ("v1user", "v2user"):
        u = stored(name)
        assert u.employee_type == 2
        assert u.extension["entryDate"] == "2021-3-9"
        assert u.extension["workPlace"] == "Shenzhen"
    assert stored("v2user").extension["hobby"] == "go"


def test_v1_extension_may_itself_be_a_json_string(kit_v1):
    nested = user("v1user", extension=json.dumps({"employeeType": "3", "workPlace": "Xi'an"}))
    assert sync(kit_v1, 1, [nested]).code == "000000"
    assert (stored("v1user").employee_type, stored("v1user").extension["workPlace"]) == (3, "Xi'an")


def test_either_list_shape_is_accepted_in_either_generation_u10(kit):
    as_string = json.dumps([user("stringly")])
    if kit.generation == 1:
        reply = kit.koogallery.kit_v1(
            "authSync",
            {
                "tenantId": "t-1",
                "appId": "app-1",
                "flag": 1,
                "userList": [user("arrayed")],
                "instanceId": "i",
                "currentSyncTime": stamp(),
            },  # fmt: skip
        )
    else:
        reply = sync(kit, 1, as_string)
    assert reply.assert_envelope()["resultCode"] == "000000"
    assert TenantUser.objects.count() == 1


def test_repeated_add_creates_nothing_new(kit):
    for _ in range(3):
        assert sync(kit, 1, [user("a"), user("b")]).code == "000000"
    assert TenantUser.objects.count() == 2


def test_modify_changes_details_and_keeps_members_that_were_not_sent(kit):
    sync(kit, 1, [user(mobile="13800000000", email="z@example.com")], currentSyncTime=stamp(-10))
    changed = user(name="zhangsan", position="manager", orgCode="org-ops")
    changed["name"] = "Zhang San"
    assert sync(kit, 2, [changed]).code == "000000"
    z = stored()
    assert (z.name, z.position, z.org_code) == ("Zhang San", "manager", "org-ops")
    assert (z.mobile, z.email) == ("13800000000", "z@example.com")


@pytest.mark.parametrize("flag", [1, 2], ids=["re-add", "modify"])
def test_extension_members_that_were_not_sent_keep_their_stored_value(kit_v1, kit_v2, flag):
    sync(kit_v1, 1, [user(extension={"workPlace": "深圳", "entryDate": "2021-3-9"})], currentSyncTime=stamp(-20))
    sync(kit_v2, flag, [user(workPlace="Xi'an")], currentSyncTime=stamp(-10))
    assert stored().extension == {"workPlace": "Xi'an", "entryDate": "2021-3-9"}
    sync(kit_v2, flag, [user()], currentSyncTime=stamp(0))  # nothing of the extension sent
    assert stored().extension == {"workPlace": "Xi'an", "entryDate": "2021-3-9"}


def test_modify_of_an_unknown_user_creates_it_out_of_order(kit):
    assert sync(kit, 2, [user("late")]).code == "000000"
    assert stored("late").authorised


def test_enable_false_disables_the_user(kit):
    sync(kit, 1, [user(enable="false")])
    assert not stored().enabled
    assert not stored().may_sign_in


def test_delete_tombstones_the_user(kit):
    sync(kit, 1, [user()], currentSyncTime=stamp(-10))
    assert sync(kit, 0, [user()]).code == "000000"
    z = stored()
    assert z.removed and not z.may_sign_in


def test_delete_of_unknown_users_succeeds_without_checking(kit):
    assert sync(kit, 0, [{"userName": "ghost"}], tenantId="unknown-tenant").code == "000000"


def test_cancel_authorisation_revokes_access_and_keeps_the_user_u32(kit):
    sync(kit, 1, [user(), user("lisi")], currentSyncTime=stamp(-10))
    assert sync(kit, 3, [{"userName": "zhangsan"}]).code == "000000"
    z = stored()
    assert (z.authorised, z.removed, z.name) == (False, False, "Name of zhangsan")
    assert stored("lisi").authorised


def test_an_add_after_a_cancel_authorises_again(kit):
    sync(kit, 3, [user()], currentSyncTime=stamp(-10))
    sync(kit, 1, [user()], currentSyncTime=stamp(0))
    assert stored().authorised


def test_an_older_sync_is_ignored(kit):
    sync(kit, 0, [user()], currentSyncTime=stamp(0))
    assert sync(kit, 1, [user()], currentSyncTime=stamp(-60)).code == "000000"
    assert stored().removed
    assert SyncLog.objects.filter(flag=1).get().ignored == 1


def test_more_than_500_users_are_accepted_u31(kit):
    users = [user(f"user{i:04d}") for i in range(600)]
    assert sync(kit, 1, users).code == "000000"
    assert TenantUser.objects.count() == 600
    assert SyncLog.objects.get().applied == 600


def test_authsync_with_500_users_runs_a_fixed_handful_of_queries(kit, django_assert_max_num_queries):
    users = [user(f"user{i:04d}", mobile=f"1380000{i:04d}") for i in range(500)]
    with django_assert_max_num_queries(15):
        assert sync(kit, 1, users).code == "000000"


def test_a_user_without_username_answers_000002_and_stores_nothing(kit):
    reply = sync(kit, 1, [user("ok"), {"name": "anonymous"}])
    assert reply.code == "000002"
    assert "userList[1].userName" in reply.json["resultMsg"]
    assert not TenantUser.objects.exists()


def test_a_user_list_that_is_not_json_answers_000002(kit_v1):
    reply = kit_v1("authSync", tenantId="t-1", appId="app-1", flag=1, userList="[{broken")
    assert reply.code == "000002"


def test_flag_3_is_the_highest_flag(kit):
    assert sync(kit, 4, [user()]).code == "000002"


def test_users_are_per_app(kit):
    sync(kit, 1, [user()], appId="app-1")
    sync(kit, 3, [user()], appId="app-2")
    assert stored().authorised
    assert TenantUser.objects.count() == 2
