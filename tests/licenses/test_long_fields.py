"""Text longer than Huawei documents (§4.0) is cut to its column, never a 000005; a key keeps a
digest of the whole (fields.key_fit), and a repeat finds the row the first call wrote."""

import uuid

import pytest

from licenses.models import License, LicenseEvent
from marketplace_isv.fields import key_fit
from tests.licenses.conftest import get_license, in_days, issued, stamp

pytestmark = pytest.mark.django_db

LONG = "A" * 300


def code(reply) -> str:
    return reply.assert_envelope()["resultCode"]


def test_get_license_cuts_over_long_fields_and_a_repeat_gets_the_same_licence(koogallery):
    order_id = "CS" + LONG
    long_fields = dict(productId=LONG, customerId=LONG, customerName=LONG, skuCode=LONG,
                       periodType="p" * 17, chargingMode="9" * 33)  # fmt: skip
    first = get_license(koogallery, order_id=order_id, **long_fields).assert_envelope()
    again = get_license(koogallery, order_id=order_id, **long_fields).assert_envelope()
    assert first["resultCode"] == again["resultCode"] == "000000"
    assert (first["instanceId"], first["license"]) == (again["instanceId"], again["license"])
    license = License.objects.get()
    assert (len(license.order_id), len(license.period_type), len(license.charging_mode)) == (255, 16, 32)


def test_a_renewal_with_over_long_fields_is_applied_once(koogallery):
    instance_id, _ = issued(koogallery)
    fields = {"instanceId": instance_id, "orderId": LONG, "productId": LONG, "periodType": "m" * 20,
              "expireTime": stamp(in_days(400))}  # fmt: skip
    assert code(koogallery.v1("refreshLicense", fields)) == code(koogallery.v1("refreshLicense", fields)) == "000000"
    assert LicenseEvent.objects.filter(kind="renew", order_id=key_fit(LONG, 255)).count() == 1


def test_license_2_calls_with_over_long_fields_answer_000000(koogallery):
    licence = "LIC-" + LONG
    renew = {"scene": "RENEWAL", "orderId": LONG, "orderLineId": LONG, "productId": LONG, "license": licence,
             "expireTime": stamp(in_days(365))}  # fmt: skip
    for _ in range(2):
        assert code(koogallery.v2("refreshLicenseCode", renew)) == "000000"
        assert code(koogallery.v2("updateLicenseCodeStatus", {"license": licence, "status": "FREEZE"})) == "000000"
    assert License.objects.get(license_code=key_fit(licence, 255)).status == "frozen"
    release = {"license": "LIC-" + uuid.uuid4().hex + LONG, "orderId": LONG, "orderLineId": LONG}
    assert code(koogallery.v2("releaseLicenseCode", release)) == code(koogallery.v2("releaseLicenseCode", release))
    assert code(koogallery.v2("releaseLicenseCode", release)) == "000000"


def test_two_long_licence_codes_sharing_their_beginning_stay_two_licences(koogallery):
    first, second = "LIC-" + LONG + "1", "LIC-" + LONG + "2"
    for licence, status in ((first, "FREEZE"), (second, "UNFREEZE")):
        reply = koogallery.v2("updateLicenseCodeStatus", {"license": licence, "status": status})
        assert code(reply) == "000000"
    codes = dict(License.objects.filter(kind="code").values_list("license_code", "status"))
    assert codes == {key_fit(first, 255): "frozen", key_fit(second, 255): "active"}
    assert all(c.startswith("LIC-AAA") and len(c) == 255 for c in codes)


def test_two_long_order_ids_sharing_their_beginning_get_two_licences(koogallery):
    first = get_license(koogallery, order_id="CS" + LONG + "1").assert_envelope()
    second = get_license(koogallery, order_id="CS" + LONG + "2").assert_envelope()
    assert first["resultCode"] == second["resultCode"] == "000000"
    assert first["instanceId"] != second["instanceId"]
    assert License.objects.filter(kind="v1").count() == 2
