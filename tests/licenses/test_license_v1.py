"""License V1 (§4.3) through simulator-signed GET calls: getLicense, refreshLicense, expireLicense,
releaseLicense — repeats, never-seen instances, renewals after release, the event log."""

import uuid

import pytest

from licenses.models import License, LicenseEvent
from marketplace_isv.models import Delivery
from marketplace_isv.simulator.client import new_order_id
from tests.licenses.conftest import get_license, in_days, issued, stamp

pytestmark = pytest.mark.django_db


def licence(instance_id: str) -> License:
    return License.objects.get(kind="v1", instance_id=instance_id)


def events(instance_id: str) -> list[tuple[str, str, str]]:
    return [(e.kind, e.from_status, e.to_status) for e in licence(instance_id).events.all()]


def test_get_license_answers_an_instance_id_and_a_licence_key(koogallery, shipped_verifier):
    reply = get_license(koogallery, businessId="87b94795-0603-4e24-8ae5-69420d60e3c8")
    data = reply.assert_envelope()
    assert data["resultCode"] == "000000"
    assert data["instanceId"] == "87b94795-0603-4e24-8ae5-69420d60e3c8"  # the first businessId (§4.3.1)
    claims = shipped_verifier.require(data["license"])
    assert claims["iid"] == data["instanceId"]
    assert (claims["cid"], claims["sku"], claims["pid"], claims["qty"]) == (
        "68cbc86abc2018ab880d92f36422fa0e",
        "sku-pro",
        "00301-666666-0--0",
        5,
    )
    row = licence(data["instanceId"])
    assert (row.status, row.is_test, row.charging_mode, row.token) == ("active", True, "PERIOD", data["license"])
    assert events(data["instanceId"]) == [("issue", "active", "active")]
    assert LicenseEvent.objects.get(license=row).delivery_id == Delivery.objects.get(activity="getLicense").id


def test_repeated_get_license_returns_the_same_instance_and_licence(koogallery):
    order_id = new_order_id()
    first = get_license(koogallery, order_id=order_id).assert_envelope()
    again = get_license(koogallery, order_id=order_id).assert_envelope()  # a new businessId, as KooGallery retries
    assert (again["resultCode"], again["instanceId"], again["license"]) == (
        "000000",
        first["instanceId"],
        first["license"],
    )
    assert License.objects.filter(order_id=order_id).count() == 1
    assert events(first["instanceId"]) == [("issue", "active", "active")]


def test_each_product_of_one_order_gets_its_own_licence(koogallery):
    order_id = new_order_id()
    one, _ = issued(koogallery, order_id=order_id, productId="p-monthly")
    two, _ = issued(koogallery, order_id=order_id, productId="p-yearly")
    assert one != two


def test_get_license_needs_only_the_order_id(koogallery, shipped_verifier):
    """U26: the table is cut off in every copy; only orderId is required, the rest is stored raw."""
    order_id = new_order_id()
    reply = koogallery.v1("getLicense", {"orderId": order_id, "newField": "kept"})
    data = reply.assert_envelope()
    assert data["resultCode"] == "000000"
    row = licence(data["instanceId"])
    assert uuid.UUID(row.instance_id)  # no businessId: a UUID
    assert row.raw["newField"] == "kept" and "authToken" not in row.raw
    assert (row.charging_mode, row.valid_until) == ("ONE_TIME", None)
    assert "exp" not in shipped_verifier.require(data["license"])  # perpetual


def test_get_license_without_order_id_answers_000002(koogallery):
    reply = koogallery.v1("getLicense", {"customerId": "c", "productId": "p"})
    assert reply.assert_envelope()["resultCode"] == "000002"
    assert not License.objects.exists()


def test_refresh_license_sets_the_new_expiry_and_records_the_renewal_order(koogallery, shipped_verifier):
    instance_id, _ = issued(koogallery)
    new_expiry = in_days(730)
    renewal = {"instanceId": instance_id, "orderId": "CSRENEW001", "expireTime": stamp(new_expiry), "productId": "p-2y"}
    assert koogallery.v1("refreshLicense", renewal).assert_envelope()["resultCode"] == "000000"
    row = licence(instance_id)
    assert (row.valid_until, row.last_order_id, row.current_product_id) == (new_expiry, "CSRENEW001", "p-2y")
    event = row.events.get(kind="renew")
    assert (event.order_id, event.scene, event.valid_until) == ("CSRENEW001", "RENEWAL", new_expiry)
    claims = shipped_verifier.require(row.token)
    assert (claims["exp"], claims["pid"]) == (int(new_expiry.timestamp()), "p-2y")


def test_a_repeated_refresh_license_applies_once(koogallery):
    instance_id, _ = issued(koogallery)
    renewal = {"instanceId": instance_id, "orderId": "CSRENEW002", "expireTime": stamp(in_days(500))}
    for _ in range(3):
        assert koogallery.v1("refreshLicense", renewal).assert_envelope()["resultCode"] == "000000"
    assert licence(instance_id).events.filter(kind="renew").count() == 1


def test_trial_to_formal_is_recorded_as_its_own_scene(koogallery):
    instance_id, _ = issued(koogallery)
    conversion = {
        "instanceId": instance_id,
        "orderId": "CSFORMAL",
        "expireTime": stamp(in_days(30)),
        "trialToFormal": "1",
    }
    assert koogallery.v1("refreshLicense", conversion).assert_envelope()["resultCode"] == "000000"
    assert licence(instance_id).events.get(kind="renew").scene == "TRIAL_TO_FORMAL"


@pytest.mark.parametrize(
    "activity,params",
    [
        ("refreshLicense", {"orderId": "CSX", "expireTime": "20300101000000"}),
        ("expireLicense", {"orderId": "CSX"}),
        ("releaseLicense", {"orderId": "CSX"}),
    ],
)
def test_a_never_seen_instance_answers_000003(koogallery, activity, params):
    reply = koogallery.v1(activity, {"instanceId": "never-seen-instance", **params})
    assert reply.assert_envelope()["resultCode"] == "000003"


@pytest.mark.parametrize("activity", ["refreshLicense", "expireLicense", "releaseLicense"])
def test_instance_id_is_required(koogallery, activity):
    reply = koogallery.v1(activity, {"orderId": "CSX", "expireTime": "20300101000000"})
    assert reply.assert_envelope()["resultCode"] == "000002"


def test_refresh_license_without_expire_time_answers_000002(koogallery):
    instance_id, _ = issued(koogallery)
    reply = koogallery.v1("refreshLicense", {"instanceId": instance_id, "orderId": "CSX"})
    assert reply.assert_envelope()["resultCode"] == "000002"
    assert not licence(instance_id).events.filter(kind="renew").exists()


def test_expire_license_freezes_and_a_repeat_is_harmless(koogallery):
    instance_id, _ = issued(koogallery)
    for _ in range(2):
        reply = koogallery.v1("expireLicense", {"instanceId": instance_id, "orderId": "CS-PURCHASE"})
        assert reply.assert_envelope()["resultCode"] == "000000"
    assert licence(instance_id).status == "frozen"
    assert events(instance_id) == [("issue", "active", "active"), ("freeze", "active", "frozen")]


def test_a_renewal_into_the_future_lifts_an_expiry_freeze(koogallery):
    """§5.6: V1 has no unfreeze call for periodic products."""
    instance_id, _ = issued(koogallery)
    koogallery.v1("expireLicense", {"instanceId": instance_id}).assert_envelope()
    renewal = {"instanceId": instance_id, "orderId": "CSRENEW3", "expireTime": stamp(in_days(400))}
    assert koogallery.v1("refreshLicense", renewal).assert_envelope()["resultCode"] == "000000"
    assert licence(instance_id).status == "active"
    assert events(instance_id)[-1] == ("unfreeze", "frozen", "active")


def test_release_license_releases_and_a_repeat_answers_000000(koogallery):
    instance_id, _ = issued(koogallery)
    for _ in range(2):
        reply = koogallery.v1("releaseLicense", {"instanceId": instance_id, "orderId": "CS-PURCHASE"})
        assert reply.assert_envelope()["resultCode"] == "000000"
    assert licence(instance_id).status == "released"
    assert events(instance_id)[-1] == ("release", "active", "released")
    assert licence(instance_id).events.filter(kind="release").count() == 1


def test_renewal_after_release_of_a_real_licence_answers_000003(koogallery):
    """§5.5: refresh on a released real instance is 000003 (and an operator alert)."""
    instance_id, _ = issued(koogallery, test=False)
    koogallery.v1("releaseLicense", {"instanceId": instance_id, "orderId": "CSP"}, test=False).assert_envelope()
    renewal = {"instanceId": instance_id, "orderId": "CSLATE", "expireTime": stamp(in_days(400))}
    assert koogallery.v1("refreshLicense", renewal, test=False).assert_envelope()["resultCode"] == "000003"
    assert licence(instance_id).status == "released"
    assert not licence(instance_id).events.filter(kind="renew").exists()


def test_renewal_after_release_of_a_test_licence_is_a_harmless_success(koogallery):
    """§5.4: dial tests replay debug calls on released test instances; they must keep passing."""
    instance_id, _ = issued(koogallery)
    koogallery.v1("releaseLicense", {"instanceId": instance_id, "orderId": "CS-PURCHASE"}).assert_envelope()
    renewal = {"instanceId": instance_id, "orderId": "CSLATE", "expireTime": stamp(in_days(400))}
    assert koogallery.v1("refreshLicense", renewal).assert_envelope()["resultCode"] == "000000"
    assert licence(instance_id).status == "released"


def test_a_repeated_debug_get_license_revives_a_released_test_licence(koogallery):
    order_id = new_order_id()
    instance_id, key = issued(koogallery, order_id=order_id)
    koogallery.v1("releaseLicense", {"instanceId": instance_id, "orderId": "CS-PURCHASE"}).assert_envelope()
    again = get_license(koogallery, order_id=order_id).assert_envelope()
    assert (again["instanceId"], again["license"]) == (instance_id, key)
    assert licence(instance_id).status == "active"


def test_a_repeated_get_license_does_not_revive_a_released_real_licence(koogallery):
    order_id = new_order_id()
    instance_id, _ = issued(koogallery, order_id=order_id, test=False)
    koogallery.v1("releaseLicense", {"instanceId": instance_id, "orderId": "CS-PURCHASE"}, test=False).assert_envelope()
    again = get_license(koogallery, order_id=order_id, test=False).assert_envelope()
    assert (again["resultCode"], again["instanceId"]) == ("000000", instance_id)
    assert licence(instance_id).status == "released"


def test_lifecycle_calls_on_a_revoked_licence_are_noted_and_it_stays_revoked(koogallery):
    from licenses import services

    instance_id, _ = issued(koogallery)
    services.license_revoke(license_id=licence(instance_id).pk, actor="operator:alice")
    for activity in ("expireLicense", "releaseLicense"):
        assert (
            koogallery.v1(activity, {"instanceId": instance_id, "orderId": "CS-PURCHASE"}).assert_envelope()[
                "resultCode"
            ]
            == "000000"
        )
    assert licence(instance_id).status == "revoked"
    assert [kind for kind, _, to in events(instance_id)] == ["issue", "revoke", "freeze", "release"]
    assert {to for _, _, to in events(instance_id)[1:]} == {"revoked"}


def test_a_malformed_expire_time_answers_000002(koogallery):
    reply = get_license(koogallery, expireTime="2030-01-01")
    assert reply.assert_envelope()["resultCode"] == "000002"
    assert not License.objects.exists()


def test_release_without_the_purchase_order_answers_000002_and_keeps_the_licence(koogallery):
    """§4.3.2: releaseLicense's orderId (the original purchase order) is mandatory."""
    instance_id, _ = issued(koogallery)
    assert koogallery.v1("releaseLicense", {"instanceId": instance_id}).assert_envelope()["resultCode"] == "000002"
    assert licence(instance_id).status == "active"


def test_a_business_id_another_licence_holds_gives_the_new_licence_a_uuid(koogallery):
    """A buyer's second order may repeat a businessId: it is no 000005, and each order keeps its own
    licence (§4.3.1, §5.1)."""
    business_id, order_id = f"B-{uuid.uuid4().hex[:8]}", new_order_id()
    first, _ = issued(koogallery, businessId=business_id, order_id=order_id, productId="p1")
    second, _ = issued(koogallery, businessId=business_id, productId="p1")
    third, _ = issued(koogallery, businessId=business_id, order_id=order_id, productId="p2")
    assert first == business_id
    assert len({first, second, third}) == 3
    assert uuid.UUID(second) and uuid.UUID(third)
    assert License.objects.filter(kind="v1", instance_id__in=[first, second, third]).count() == 3


def test_a_revoked_licence_is_not_renewed_nor_signed_again(koogallery):
    from licenses import services
    from licenses.models import License

    instance_id, key = issued(koogallery)
    licence = License.objects.get(instance_id=instance_id)
    services.license_revoke(license_id=licence.pk, actor="operator:alice")
    renewal = {"instanceId": instance_id, "orderId": "CS-RENEW-1", "expireTime": stamp(in_days(3000))}
    for _ in range(2):
        assert koogallery.v1("refreshLicense", renewal).assert_envelope()["resultCode"] == "000000"
    licence.refresh_from_db()
    assert (licence.status, licence.token, licence.last_order_id) == ("revoked", key, "")
    assert licence.valid_until < in_days(400)
    assert licence.events.filter(kind="renew").count() == 1  # the note, once
    assert licence.events.get(kind="renew").reason == "refreshLicense; stays revoked"


def test_an_optional_count_that_is_no_integer_does_not_refuse_get_license(koogallery):
    """U26: only orderId is required; a refused getLicense ends in a refund (§5.2)."""
    from licenses.models import License

    data = get_license(koogallery, periodNumber="x", amount="five").assert_envelope()
    assert data["resultCode"] == "000000", data
    licence = License.objects.get(instance_id=data["instanceId"])
    assert (licence.period_number, licence.quantity) == (None, None)
    assert (licence.raw["periodNumber"], licence.raw["amount"]) == ("x", "five")
