"""Tolerant reading of Kit payloads (§4.5.3, §4.5.5, U10, U30, U34)."""

import pytest

from marketplace_isv.envelope import ParamError
from tenants.payloads import (
    call_stamp,
    is_test_traffic,
    kit_stamp,
    lenient_json,
    normalise_domain,
    org_entries,
    user_entry,
)


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("example.com", "https://example.com"),
        ("example.com/", "https://example.com"),
        ("https://example.com/", "https://example.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("//example.com", "https://example.com"),
        ("", ""),
    ],
)
def test_domains_get_a_scheme_u30(raw, expected):
    assert normalise_domain(raw) == expected


def test_unquoted_keys_are_read_without_touching_string_values():
    text = '[{orgCode:"a,b: c", orgName : "x{y}", parentCode:""}]'
    assert lenient_json(text, name="orgInfoList") == [{"orgCode": "a,b: c", "orgName": "x{y}", "parentCode": ""}]


def test_single_quotes_and_trailing_commas_are_tolerated():
    assert lenient_json("[{'orgCode': 'it\\'s', 'v': true,},]", name="x") == [{"orgCode": "it's", "v": True}]


def test_a_json_string_holding_json_is_unwrapped():
    assert lenient_json('"[{\\"orgCode\\":\\"a\\"}]"', name="x") == [{"orgCode": "a"}]


def test_hopeless_text_is_a_param_error():
    with pytest.raises(ParamError):
        lenient_json("[{orgCode: }", name="orgInfoList")


def test_kit_stamps_order_as_integers():
    assert kit_stamp({"timeStamp": "20220413093539534"}, "timeStamp") == 20220413093539534
    assert kit_stamp({"timeStamp": "20220413093539"}, "timeStamp") == 20220413093539000
    assert kit_stamp({"timeStamp": "2022-04-13"}, "timeStamp") is None
    assert kit_stamp({"timeStamp": "20221313093539534"}, "timeStamp") is None
    assert kit_stamp({"currentSyncTime": "bad", "timeStamp": "20220413093539534"}, "currentSyncTime", "timeStamp")


def test_user_members_in_any_case_and_unknown_roles_on_a_delete():
    raw = {"UserName": "z", "ROLE": "Owner", "Enable": False, "employeeType": "x"}
    entry = user_entry(raw, 0, complete=False)
    assert (entry.user_name, entry.role, entry.enabled, entry.employee_type) == ("z", "user", False, None)
    assert entry.extension == {"role": "Owner", "employeeType": "x"}


COMPLETE_USER = {"userName": "z", "name": "Z", "orgCode": "o", "role": "user", "enable": "true"}


@pytest.mark.parametrize(
    "value,enabled",
    [("true", True), ("TRUE", True), (" False ", False), ("false", False), (True, True), (False, False)],
)
def test_enable_is_the_string_true_or_false_in_any_case_or_a_json_boolean(value, enabled):
    assert user_entry({**COMPLETE_USER, "enable": value}, 0).enabled is enabled


@pytest.mark.parametrize("value,enabled", [(None, True), ("", True), ("maybe", False)])
def test_a_delete_or_cancel_reads_any_enable_without_refusing(value, enabled):
    raw = {"userName": "z"} if value is None else {"userName": "z", "enable": value}
    assert user_entry(raw, 0, complete=False).enabled is enabled


@pytest.mark.parametrize(
    "change,message",
    [
        ({"enable": "maybe"}, 'userList[4].enable must be "true" or "false"'),
        ({"enable": "1"}, 'userList[4].enable must be "true" or "false"'),
        ({"enable": None}, "userList[4].enable is required"),
        ({"role": "superuser"}, "userList[4].role must be admin or user"),
        ({"role": " "}, "userList[4].role is required"),
        ({"name": ""}, "userList[4].name is required"),
        ({"orgCode": None}, "userList[4].orgCode is required"),
    ],
)
def test_an_added_or_modified_user_needs_every_mandatory_member(change, message):
    with pytest.raises(ParamError) as refused:
        user_entry({**COMPLETE_USER, **change}, 4)
    assert str(refused.value) == message


def test_roles_are_read_in_any_letter_case():
    assert user_entry({**COMPLETE_USER, "Role": "ADMIN"}, 0).role == "admin"


@pytest.mark.parametrize("value,debug", [("1", True), (1, True), (" 1 ", True), ("0", False), (0, False)])
def test_test_flag_is_0_or_1_as_a_string_or_a_number(value, debug):
    assert is_test_traffic({"testFlag": value}) is debug


@pytest.mark.parametrize("value", [None, "", " "])
def test_a_missing_test_flag_is_a_param_error(value):
    with pytest.raises(ParamError, match="^testFlag is required$"):
        is_test_traffic({} if value is None else {"testFlag": value})


@pytest.mark.parametrize("value", [5, "abc", "2", -1, "01", 1.0, True, [1]])
def test_a_test_flag_other_than_0_or_1_is_a_param_error(value):
    with pytest.raises(ParamError, match="^testFlag must be 0 or 1$"):
        is_test_traffic({"testFlag": value})


def test_auth_sync_is_ordered_by_current_sync_time_and_still_needs_a_valid_time_stamp():
    payload = {"timeStamp": "20220413093539534", "currentSyncTime": "20220413093540"}
    assert call_stamp(payload, ordered_by="currentSyncTime") == 20220413093540000
    with pytest.raises(ParamError, match="^currentSyncTime is required$"):
        call_stamp({"timeStamp": "20220413093539534"}, ordered_by="currentSyncTime")
    with pytest.raises(ParamError, match="^timeStamp must be"):
        call_stamp({**payload, "timeStamp": "garbage"}, ordered_by="currentSyncTime")


def test_org_entries_prefer_org_info_list_and_unwrap_an_object():
    payload = {
        "orgInfo": '[{"orgCode":"v1","name":"V1"}]',
        "orgInfoList": {"list": [{"orgCode": "v2", "orgName": "V2"}]},
    }
    assert [(e.org_code, e.name) for e in org_entries(payload)] == [("v2", "V2")]


def test_a_bare_entry_with_an_array_member_is_one_entry_and_a_wrapper_is_unwrapped():
    bare = {"orgCode": "hq", "orgName": "HQ", "aliases": []}
    assert [e.org_code for e in org_entries({"orgInfoList": bare})] == ["hq"]
    wrapper = {"total": 1, "list": [{"orgCode": "rd", "orgName": "R&D"}]}
    assert [e.org_code for e in org_entries({"orgInfoList": wrapper})] == ["rd"]


def test_an_org_entry_that_is_not_an_object_is_a_param_error():
    with pytest.raises(ParamError, match=r"orgInfoList\[0\] is not an object"):
        org_entries({"orgInfoList": ["hq"]})
