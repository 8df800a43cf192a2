"""singleOrgSync (§4.5.4) and allOrgSync (§4.5.5): incremental changes in any order, and full
snapshots that leave the live tree equal to the snapshot (U35, U36)."""

import json

import pytest

from tenants.models import Department, SyncLog
from tests.tenants.conftest import stamp

pytestmark = pytest.mark.django_db


def org(kit, flag, code, name=None, parent=None, **fields):
    members = {"tenantId": "t-1", "orgCode": code, **fields}
    if name is not None:
        members["orgName"] = name
    if parent is not None:
        members["parentCode"] = parent
    return kit("singleOrgSync", flag=flag, **members)


def dept(code) -> Department:
    return Department.objects.get(tenant__tenant_id="t-1", org_code=code)


def live_tree(tenant_id="t-1") -> set[tuple[str, str, str]]:
    rows = Department.objects.filter(tenant__tenant_id=tenant_id, removed=False)
    return {(d.org_code, d.name, d.parent_code) for d in rows}


# --- singleOrgSync ------------------------------------------------------------------------------


def test_add_stores_a_department(kit):
    assert org(kit, 1, "rd", "R&D", "").code == "000000"
    d = dept("rd")
    assert (d.name, d.parent_code, d.removed) == ("R&D", "", False)


def test_a_child_may_arrive_before_its_parent(kit):
    assert org(kit, 1, "rd-web", "Web", "rd", timeStamp=stamp(-5)).code == "000000"
    assert org(kit, 1, "rd", "R&D", "").code == "000000"
    assert dept("rd-web").parent_code == "rd"
    assert live_tree() == {("rd-web", "Web", "rd"), ("rd", "R&D", "")}


def test_modify_moves_and_renames(kit):
    org(kit, 1, "web", "Web", "rd", timeStamp=stamp(-10))
    assert org(kit, 2, "web", "Web Platform", "ops").code == "000000"
    assert (dept("web").name, dept("web").parent_code) == ("Web Platform", "ops")


def test_modify_without_parent_code_keeps_the_parent(kit):
    org(kit, 1, "web", "Web", "rd", timeStamp=stamp(-10))
    org(kit, 2, "web", "Renamed")
    assert (dept("web").name, dept("web").parent_code) == ("Renamed", "rd")


def test_modify_before_add_creates_and_the_older_add_is_ignored(kit):
    assert org(kit, 2, "web", "Newest", "ops", timeStamp=stamp(0)).code == "000000"
    assert org(kit, 1, "web", "Older", "rd", timeStamp=stamp(-60)).code == "000000"
    assert (dept("web").name, dept("web").parent_code) == ("Newest", "ops")


def test_repeated_add_creates_nothing_new(kit):
    for _ in range(3):
        assert org(kit, 1, "rd", "R&D", "").code == "000000"
    assert Department.objects.count() == 1


def test_delete_tombstones_the_department(kit):
    org(kit, 1, "rd", "R&D", "", timeStamp=stamp(-10))
    assert org(kit, 0, "rd", "R&D").code == "000000"
    assert dept("rd").removed and dept("rd").removed_at is not None
    assert live_tree() == set()


def test_delete_of_an_unknown_department_succeeds_and_blocks_an_older_add(kit):
    assert org(kit, 0, "ghost", "", timeStamp=stamp(0)).code == "000000"
    assert org(kit, 1, "ghost", "Ghost", "", timeStamp=stamp(-30)).code == "000000"
    assert dept("ghost").removed


def test_an_update_older_than_the_stored_timestamp_is_ignored_u35(kit):
    org(kit, 1, "rd", "Current", "", timeStamp=stamp(0))
    assert org(kit, 2, "rd", "Stale", "", timeStamp=stamp(-60)).code == "000000"
    assert dept("rd").name == "Current"
    assert SyncLog.objects.filter(flag=2).get().ignored == 1


def test_an_add_after_a_delete_revives_the_department(kit):
    org(kit, 0, "rd", "R&D", timeStamp=stamp(-10))
    org(kit, 1, "rd", "R&D", "", timeStamp=stamp(0))
    assert not dept("rd").removed and dept("rd").removed_at is None


def test_name_is_accepted_for_org_name(kit):
    kit("singleOrgSync", flag=1, tenantId="t-1", orgCode="rd", name="R&D", parentCode="")
    assert dept("rd").name == "R&D"


def test_missing_org_code_answers_000002(kit):
    reply = kit("singleOrgSync", flag=1, tenantId="t-1", orgName="R&D")
    assert reply.code == "000002"
    assert "orgCode" in reply.json["resultMsg"]


# --- allOrgSync ---------------------------------------------------------------------------------

SNAPSHOT = [("hq", "Headquarters", ""), ("rd", "R&D", "hq"), ("rd-web", "Web", "rd"), ("ops", "Operations", "hq")]


def test_a_snapshot_becomes_the_live_tree(kit):
    assert kit.snapshot("t-1", SNAPSHOT).code == "000000"
    assert live_tree() == set(SNAPSHOT)


def test_departments_missing_from_a_snapshot_are_tombstoned_u36(kit):
    kit.snapshot("t-1", SNAPSHOT, timeStamp=stamp(-10))
    org(kit, 1, "legacy", "Legacy", "hq", timeStamp=stamp(-5))
    second = [("hq", "HQ", ""), ("rd", "R&D", "ops"), ("ops", "Operations", "hq"), ("new", "New", "ops")]
    assert kit.snapshot("t-1", second).code == "000000"
    assert live_tree() == set(second)
    assert dept("rd-web").removed and dept("legacy").removed
    log = SyncLog.objects.filter(interface="allOrgSync").first()
    assert (log.received, log.removed) == (4, 2)


def test_a_snapshot_revives_a_tombstoned_department(kit):
    kit.snapshot("t-1", SNAPSHOT[:1], timeStamp=stamp(-20))
    org(kit, 0, "hq", timeStamp=stamp(-10))
    kit.snapshot("t-1", SNAPSHOT[:1])
    assert not dept("hq").removed


def test_a_repeated_snapshot_changes_nothing(kit):
    kit.snapshot("t-1", SNAPSHOT)
    kit.snapshot("t-1", SNAPSHOT)
    assert Department.objects.count() == 4
    assert live_tree() == set(SNAPSHOT)


def test_an_older_snapshot_leaves_newer_departments_alone(kit):
    org(kit, 1, "fresh", "Fresh", "hq", timeStamp=stamp(0))
    kit.snapshot("t-1", SNAPSHOT, timeStamp=stamp(-60))
    assert not dept("fresh").removed
    assert live_tree() == set(SNAPSHOT) | {("fresh", "Fresh", "hq")}


def test_an_empty_snapshot_removes_every_department(kit):
    kit.snapshot("t-1", SNAPSHOT, timeStamp=stamp(-10))
    assert kit.snapshot("t-1", []).code == "000000"
    assert live_tree() == set()


def test_snapshots_of_other_tenants_are_untouched(kit):
    kit.snapshot("t-2", SNAPSHOT)
    kit.snapshot("t-1", SNAPSHOT[:1])
    assert live_tree("t-2") == set(SNAPSHOT)


def test_a_duplicated_org_code_keeps_its_last_entry(kit):
    kit.snapshot("t-1", [("hq", "First", ""), ("hq", "Second", "")])
    assert live_tree() == {("hq", "Second", "")}


def test_a_missing_snapshot_answers_000002(kit):
    assert kit("allOrgSync", tenantId="t-1").code == "000002"
    assert not Department.objects.exists()


def test_an_entry_without_org_code_answers_000002(kit):
    reply = kit.snapshot("t-1", [("hq", "HQ", ""), ("", "Nameless", "hq")])
    assert reply.code == "000002"
    assert "[1].orgCode" in reply.json["resultMsg"]


@pytest.mark.parametrize(
    "org_info",
    [
        '[{"orgCode":"hq","orgName":"HQ","parentCode":""}]',  # a string instead of an array
        '[{orgCode:"hq",orgName:"HQ",parentCode:""}]',  # unquoted keys
        "[{'orgCode': 'hq', 'orgName': 'HQ', 'parentCode': '',}]",  # single quotes, trailing comma
        [{"OrgCode": "hq", "OrgName": "HQ", "ParentCode": ""}],  # any letter case
        [{"orgcode": "hq", "name": "HQ"}],  # `name` for orgName, no parentCode
    ],
)
def test_org_info_list_is_parsed_tolerantly(kit_v2, org_info):
    reply = kit_v2("allOrgSync", tenantId="t-1", orgInfoList=org_info, flag=1)  # a stray flag, too
    assert reply.code == "000000"
    assert live_tree() == {("hq", "HQ", "")}


def test_v1_org_info_string_with_name(kit_v1):
    org_info = json.dumps([{"orgCode": "hq", "name": "总部", "parentCode": ""}], ensure_ascii=False)
    assert kit_v1("allOrgSync", tenantId="t-1", orgInfo=org_info).code == "000000"
    assert live_tree() == {("hq", "总部", "")}


def test_a_stray_flag_0_does_not_delete_anything(kit):
    assert kit.snapshot("t-1", SNAPSHOT, flag=0).code == "000000"
    assert live_tree() == set(SNAPSHOT)


def test_ten_thousand_departments_in_bulk_sql(kit_v2, django_assert_max_num_queries):
    orgs = [(f"org-{i:05d}", f"Department {i}", f"org-{i // 10:05d}" if i else "") for i in range(10_000)]
    kit_v2.snapshot("t-1", orgs[:100], timeStamp=stamp(-10))
    org(kit_v2, 1, "stale", "Stale", "", timeStamp=stamp(-5))
    with django_assert_max_num_queries(20):
        assert kit_v2.snapshot("t-1", orgs).code == "000000"
    assert Department.objects.filter(removed=False).count() == 10_000
    assert dept("stale").removed
    assert dept("org-09999").parent_code == "org-00999"
