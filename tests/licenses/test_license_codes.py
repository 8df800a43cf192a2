"""License 2.0 (§4.4) through simulator-signed V2 calls: refreshLicenseCode, updateLicenseCodeStatus,
releaseLicenseCode — codes seen first in any callback (U41), repeats, freeze/unfreeze, release."""

import uuid

import pytest

from licenses.models import License
from tests.licenses.conftest import in_days, stamp

pytestmark = pytest.mark.django_db


def new_code() -> str:
    return "LIC-" + uuid.uuid4().hex[:20].upper()


def code_row(code: str) -> License:
    return License.objects.get(kind="code", license_code=code)


def history(code: str) -> list[tuple[str, str, str]]:
    return [(e.kind, e.from_status, e.to_status) for e in code_row(code).events.all()]


def renew(koogallery, code, *, scene="RENEWAL", order_id="CSRENEWAL1", expire=None, **extra):
    fields = {
        "scene": scene,
        "orderId": order_id,
        "orderLineId": f"{order_id}-000001",
        "license": code,
        "expireTime": stamp(expire or in_days(365)),
        **extra,
    }
    return koogallery.v2("refreshLicenseCode", fields)


def set_status(koogallery, code, status):
    return koogallery.v2("updateLicenseCodeStatus", {"license": code, "status": status})


def test_a_code_first_seen_in_a_renewal_is_recorded_and_answered_000000(koogallery):
    code, expiry = new_code(), in_days(365)
    reply = renew(koogallery, code, expire=expiry, productId="p-1")
    assert reply.assert_envelope()["resultCode"] == "000000"
    row = code_row(code)
    assert (row.status, row.valid_until, row.order_id, row.product_id, row.is_test) == (
        "active",
        expiry,
        "CSRENEWAL1",
        "p-1",
        True,
    )
    assert row.raw["license"] == code
    assert history(code) == [("issue", "", "active"), ("renew", "active", "active")]
    assert "first seen in refreshLicenseCode" in row.events.first().reason


def test_a_code_first_seen_in_a_status_change_is_recorded_frozen(koogallery):
    code = new_code()
    assert set_status(koogallery, code, "FREEZE").assert_envelope()["resultCode"] == "000000"
    assert code_row(code).status == "frozen"
    assert history(code) == [("issue", "", "active"), ("freeze", "active", "frozen")]


def test_a_code_first_seen_in_a_release_is_recorded_released(koogallery):
    code = new_code()
    reply = koogallery.v2("releaseLicenseCode", {"license": code, "orderId": "CSUNSUB", "orderLineId": "CSUNSUB-1"})
    assert reply.assert_envelope()["resultCode"] == "000000"
    row = code_row(code)
    assert (row.status, row.order_id, row.order_line_id) == ("released", "CSUNSUB", "CSUNSUB-1")


def test_a_repeated_renewal_applies_once(koogallery):
    code = new_code()
    for _ in range(3):
        assert renew(koogallery, code, order_id="CSONCE").assert_envelope()["resultCode"] == "000000"
    assert code_row(code).events.filter(kind="renew").count() == 1


def test_an_unsubscribed_renewal_period_moves_the_expiry_earlier(koogallery):
    code = new_code()
    renew(koogallery, code, order_id="CSR1", expire=in_days(730)).assert_envelope()
    earlier = in_days(365)
    reply = renew(koogallery, code, scene="UNSUBSCRIBE_RENEWAL_PERIOD", order_id="CSREFUND", expire=earlier)
    assert reply.assert_envelope()["resultCode"] == "000000"
    row = code_row(code)
    assert (row.valid_until, row.last_order_id) == (earlier, "CSREFUND")
    assert [e.scene for e in row.events.filter(kind="renew")] == ["RENEWAL", "UNSUBSCRIBE_RENEWAL_PERIOD"]


def test_one_order_in_two_scenes_is_two_renewals(koogallery):
    code = new_code()
    renew(koogallery, code, order_id="CSSAME", expire=in_days(400)).assert_envelope()
    later = in_days(100)
    renew(koogallery, code, scene="UNSUBSCRIBE_RENEWAL_PERIOD", order_id="CSSAME", expire=later).assert_envelope()
    assert code_row(code).valid_until == later


def test_an_unknown_scene_is_still_applied(koogallery):
    code = new_code()
    expiry = in_days(90)
    assert renew(koogallery, code, scene="CANCEL_RENEW", expire=expiry).assert_envelope()["resultCode"] == "000000"
    assert code_row(code).valid_until == expiry


def test_freeze_then_unfreeze(koogallery):
    code = new_code()
    renew(koogallery, code).assert_envelope()
    assert set_status(koogallery, code, "FREEZE").assert_envelope()["resultCode"] == "000000"
    assert set_status(koogallery, code, "FREEZE").assert_envelope()["resultCode"] == "000000"  # repeat
    assert code_row(code).status == "frozen"
    assert set_status(koogallery, code, "UNFREEZE").assert_envelope()["resultCode"] == "000000"
    assert set_status(koogallery, code, "UNFREEZE").assert_envelope()["resultCode"] == "000000"  # repeat
    assert code_row(code).status == "active"
    assert history(code)[2:] == [("freeze", "active", "frozen"), ("unfreeze", "frozen", "active")]


def test_release_then_repeat_answers_000000(koogallery):
    code = new_code()
    renew(koogallery, code).assert_envelope()
    for _ in range(2):
        assert koogallery.v2("releaseLicenseCode", {"license": code}).assert_envelope()["resultCode"] == "000000"
    assert code_row(code).status == "released"
    assert code_row(code).events.filter(kind="release").count() == 1


def test_renewal_after_release_is_noted_and_the_code_stays_released(koogallery):
    """License 2.0 never answers 000003 (§4.4): a late renewal is recorded, the release stands."""
    code = new_code()
    renew(koogallery, code, order_id="CSFIRST").assert_envelope()
    koogallery.v2("releaseLicenseCode", {"license": code}).assert_envelope()
    late = in_days(800)
    assert renew(koogallery, code, order_id="CSLATE", expire=late).assert_envelope()["resultCode"] == "000000"
    row = code_row(code)
    assert (row.status, row.valid_until) == ("released", late)
    assert "status unchanged" in row.events.get(order_id="CSLATE").reason


def test_unfreeze_after_release_does_not_revive_the_code(koogallery):
    code = new_code()
    koogallery.v2("releaseLicenseCode", {"license": code}).assert_envelope()
    assert set_status(koogallery, code, "UNFREEZE").assert_envelope()["resultCode"] == "000000"
    assert code_row(code).status == "released"


@pytest.mark.parametrize(
    "activity,fields",
    [
        (
            "refreshLicenseCode",
            {"scene": "RENEWAL", "orderId": "CS1", "orderLineId": "L1", "expireTime": "20300101000000"},
        ),
        ("refreshLicenseCode", {"license": "L", "orderId": "CS1", "orderLineId": "L1", "expireTime": "20300101000000"}),
        ("refreshLicenseCode", {"license": "L", "scene": "RENEWAL", "orderId": "CS1", "orderLineId": "L1"}),
        (
            "refreshLicenseCode",
            {"license": "L", "scene": "RENEWAL", "orderLineId": "L1", "expireTime": "20300101000000"},
        ),
        ("refreshLicenseCode", {"license": "L", "scene": "RENEWAL", "orderId": "CS1", "expireTime": "20300101000000"}),
        ("updateLicenseCodeStatus", {"status": "FREEZE"}),
        ("updateLicenseCodeStatus", {"license": "L", "status": "DELETE"}),
        ("releaseLicenseCode", {"orderId": "CS1"}),
    ],
)
def test_missing_or_invalid_fields_answer_000002_and_record_nothing(koogallery, activity, fields):
    assert koogallery.v2(activity, fields).assert_envelope()["resultCode"] == "000002"
    assert not License.objects.exists()


def test_a_17_digit_expire_time_is_accepted(koogallery):
    """U19: the V2 example sends yyyyMMddHHmmssSSS."""
    code = new_code()
    reply = koogallery.v2(
        "refreshLicenseCode",
        {
            "scene": "RENEWAL",
            "orderId": "CS17",
            "orderLineId": "CS17-000001",
            "license": code,
            "expireTime": "20301124023618256",
        },  # fmt: skip
    )
    assert reply.assert_envelope()["resultCode"] == "000000"
    assert code_row(code).valid_until.isoformat() == "2030-11-24T02:36:18.256000+00:00"


def test_status_in_lower_case_is_accepted(koogallery):
    code = new_code()
    assert set_status(koogallery, code, "freeze").assert_envelope()["resultCode"] == "000000"
    assert code_row(code).status == "frozen"


def test_a_revoked_code_takes_no_renewal(koogallery):
    """The seller's decision is final: a renewal of a revoked code changes nothing, noted once."""
    from licenses import services

    code = new_code()
    renew(koogallery, code, order_id="CS-FIRST", expire=in_days(30))
    row = code_row(code)
    services.license_revoke(license_id=row.pk, actor="operator:alice")
    before = row.valid_until
    for _ in range(2):
        assert renew(koogallery, code, order_id="CS-AFTER", expire=in_days(3000)).assert_envelope()["resultCode"] == (
            "000000"
        )
    row = code_row(code)
    assert (row.status, row.valid_until, row.last_order_id) == ("revoked", before, "CS-FIRST")
    assert row.events.filter(reason="refreshLicenseCode; stays revoked").count() == 1
