"""Tolerant reading of Kit payloads (§4.5.3, §4.5.5, U10, U30, U34)."""

import pytest

from marketplace_isv.envelope import ParamError
from tenants.payloads import kit_stamp, lenient_json, normalise_domain, org_entries, user_entry


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


def test_user_members_in_any_case_and_unknown_roles():
    entry = user_entry({"UserName": "z", "ROLE": "Owner", "Enable": False, "employeeType": "x"}, 0)
    assert (entry.user_name, entry.role, entry.enabled, entry.employee_type) == ("z", "user", False, None)
    assert entry.extension == {"role": "Owner", "employeeType": "x"}


@pytest.mark.parametrize("value,enabled", [("true", True), ("TRUE", True), ("false", False), (None, True), ("", True)])
def test_enable_is_the_string_true_or_false(value, enabled):
    raw = {"userName": "z"} if value is None else {"userName": "z", "enable": value}
    assert user_entry(raw, 0).enabled is enabled


def test_org_entries_prefer_org_info_list_and_unwrap_an_object():
    payload = {
        "orgInfo": '[{"orgCode":"v1","name":"V1"}]',
        "orgInfoList": {"list": [{"orgCode": "v2", "orgName": "V2"}]},
    }
    assert [(e.org_code, e.name) for e in org_entries(payload)] == [("v2", "V2")]


def test_an_org_entry_that_is_not_an_object_is_a_param_error():
    with pytest.raises(ParamError, match=r"orgInfoList\[0\] is not an object"):
        org_entries({"orgInfoList": ["hq"]})
