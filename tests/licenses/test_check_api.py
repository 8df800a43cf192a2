"""The licence check endpoint (/api/licenses/check): the current status and a refreshed key for a
valid key, read fresh on every call; one generic refusal for anything else; rate limits."""

import json
import uuid

import pytest
from django.core.cache import cache

from licenses import services, signing, verifier
from licenses.api import PerAddressThrottle
from licenses.models import License
from licenses.verifier import b64url_decode, b64url_encode
from tests.licenses.conftest import check, in_days, issued, stamp
from tests.licenses.test_verifier import forge, replace_claims

pytestmark = pytest.mark.django_db

FINGERPRINT = "AA-BB-CC|SERIAL-1|BOARD|CPU"


def transport(api):
    """The shipped verifier's HTTP transport, over Django's test client."""

    def post(url, body, headers, timeout):
        response = api.post(url, body, content_type=headers["Content-Type"])
        return response.status_code, response.content

    return post


def test_a_valid_key_gets_its_status_and_a_refreshed_key(koogallery, api, shipped_verifier):
    expiry = in_days(365)
    instance_id, key = issued(koogallery, expireTime=stamp(expiry))
    response = check(api, key)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert (body["status"], body["instanceId"], body["expired"]) == ("active", instance_id, False)
    assert body["validUntil"] == expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (body["productId"], body["skuCode"], body["quantity"]) == ("00301-666666-0--0", "sku-pro", 5)
    fresh = shipped_verifier.require(body["token"])
    assert fresh["lid"] == body["licenseId"] and fresh["exp"] == int(expiry.timestamp())


def test_a_renewal_shows_on_the_very_next_call(koogallery, api, shipped_verifier):
    expires = in_days(30)  # once: computed twice, a second could tick between them
    instance_id, key = issued(koogallery, expireTime=stamp(expires))
    assert check(api, key).json()["validUntil"] == expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    renewed = in_days(395)
    koogallery.v1(
        "refreshLicense", {"instanceId": instance_id, "orderId": "CSR", "expireTime": stamp(renewed)}
    ).assert_envelope()
    body = check(api, key).json()
    assert (body["status"], body["validUntil"]) == ("active", renewed.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert shipped_verifier.require(body["token"])["exp"] == int(renewed.timestamp())


def test_a_freeze_shows_on_the_very_next_call_and_a_renewal_lifts_it(koogallery, api):
    instance_id, key = issued(koogallery)
    assert check(api, key).json()["status"] == "active"
    koogallery.v1("expireLicense", {"instanceId": instance_id}).assert_envelope()
    frozen = check(api, key).json()
    assert (frozen["status"], frozen["token"]) == ("frozen", None)
    renewal = {"instanceId": instance_id, "orderId": "CSR2", "expireTime": stamp(in_days(400))}
    koogallery.v1("refreshLicense", renewal).assert_envelope()
    assert check(api, key).json()["status"] == "active"


def test_an_expired_key_still_learns_of_its_renewal(koogallery, api, shipped_verifier):
    """The software's key expired; once the buyer renews, checking that old key brings a new one."""
    instance_id, key = issued(koogallery, expireTime=stamp(in_days(-1)))
    assert shipped_verifier.verify(key).reason == "expired"
    before = check(api, key).json()
    assert (before["status"], before["expired"]) == ("active", True)
    renewal = {"instanceId": instance_id, "orderId": "CSR3", "expireTime": stamp(in_days(364))}
    koogallery.v1("refreshLicense", renewal).assert_envelope()
    after = check(api, key).json()
    assert after["expired"] is False
    assert shipped_verifier.verify(after["token"]).valid


def test_a_released_licence_is_reported_released(koogallery, api):
    instance_id, key = issued(koogallery)
    koogallery.v1("releaseLicense", {"instanceId": instance_id, "orderId": "CS-PURCHASE"}).assert_envelope()
    body = check(api, key).json()
    assert (body["status"], body["token"]) == ("released", None)


def test_a_revoked_licence_is_reported_revoked_and_the_shipped_verifier_refuses_it(koogallery, api, shipped_verifier):
    instance_id, key = issued(koogallery)
    services.license_revoke(license_id=License.objects.get(instance_id=instance_id).pk, actor="operator:alice")
    body = check(api, key).json()
    assert (body["status"], body["token"]) == ("revoked", None)
    online = shipped_verifier.check_online("/api/licenses/check", key, transport=transport(api))
    assert (online.verdict.valid, online.verdict.reason, online.status) == (False, "revoked", "revoked")
    assert online.verdict.message == "the licence was revoked"


def test_the_shipped_verifier_takes_the_refreshed_key_of_an_active_licence(koogallery, api, shipped_verifier):
    _, key = issued(koogallery)
    online = shipped_verifier.check_online("/api/licenses/check", key, transport=transport(api))
    assert (online.verdict.valid, online.status) == (True, "active")
    assert shipped_verifier.require(online.token)["lid"] == shipped_verifier.require(key)["lid"]


def test_a_reissued_key_supersedes_the_old_one(koogallery, api, shipped_verifier):
    instance_id, old_key = issued(koogallery)
    row = services.license_reissue(license_id=License.objects.get(instance_id=instance_id).pk, actor="operator:bob")
    assert row.token != old_key and shipped_verifier.require(row.token)["gen"] == 2
    stale = check(api, old_key).json()
    assert (stale["status"], stale["reason"], stale["token"]) == ("revoked", "superseded", None)
    current = check(api, row.token).json()
    assert current["status"] == "active" and shipped_verifier.require(current["token"])["gen"] == 2


def test_a_device_bound_key_is_checked_with_its_fingerprint(api, koogallery, shipped_verifier):
    instance_id, _ = issued(koogallery)
    row = services.license_request_online(
        instance_id=instance_id,
        event_id="evt-check",
        fingerprint=FINGERPRINT,
        effective_at=in_days(0),
        expires_at=in_days(100),
        is_test=True,
        raw={},
        delivery_id=None,
        actor="marketplace",
    )
    ok = check(api, row.token, FINGERPRINT)
    assert ok.status_code == 200
    assert shipped_verifier.require(ok.json()["token"], fingerprint=FINGERPRINT)["dev"]
    assert check(api, row.token, "another-device").status_code == 401
    assert check(api, row.token).status_code == 401


def test_an_online_licence_follows_its_instance(api, koogallery):
    """Online licences get no calls of their own: they are frozen, renewed and released with the
    instance they were issued against."""
    instance_id, _ = issued(koogallery, expireTime=stamp(in_days(200)))
    row = services.license_request_online(
        instance_id=instance_id,
        event_id="evt-follow",
        fingerprint="",
        effective_at=in_days(0),
        expires_at=in_days(200),
        is_test=True,
        raw={},
        delivery_id=None,
        actor="marketplace",
    )
    renewed = in_days(565)
    koogallery.v1(
        "refreshLicense", {"instanceId": instance_id, "orderId": "CSF", "expireTime": stamp(renewed)}
    ).assert_envelope()
    assert check(api, row.token).json()["validUntil"] == renewed.strftime("%Y-%m-%dT%H:%M:%SZ")
    koogallery.v1("expireLicense", {"instanceId": instance_id}).assert_envelope()
    assert check(api, row.token).json()["status"] == "frozen"
    koogallery.v1("releaseLicense", {"instanceId": instance_id, "orderId": "CS-PURCHASE"}).assert_envelope()
    assert check(api, row.token).json()["status"] == "released"


def refusals(koogallery) -> dict[str, str]:
    _, key = issued(koogallery)
    claims = json.loads(b64url_decode(key.split(".")[1]))
    unknown_licence, _ = signing.sign({**claims, "lid": str(uuid.uuid4())})
    bad_lid, _ = signing.sign({**claims, "lid": "not-a-uuid"})
    return {
        "tampered": replace_claims(key, qty=999),
        "unknown key id": forge(claims),
        "unknown licence": unknown_licence,
        "bad licence id": bad_lid,
        "malformed": "definitely-not-a-licence",
        "wrong algorithm": b64url_encode(b'{"alg":"none"}') + "." + key.split(".")[1] + ".",
    }


def test_everything_but_a_valid_key_gets_the_same_refusal(koogallery, api):
    answers = {name: check(api, token) for name, token in refusals(koogallery).items()}
    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(answers, 401)
    assert {r.content for r in answers.values()} == {b'{"detail":"invalid licence key"}'}


def test_a_request_without_a_key_is_a_bad_request(api):
    assert api.post("/api/licenses/check", {}, content_type="application/json").status_code == 400
    assert api.post("/api/licenses/check", "[1]", content_type="application/json").status_code == 400
    assert api.post("/api/licenses/check", "{not json", content_type="application/json").status_code == 400
    assert api.get("/api/licenses/check").status_code == 405


def test_checks_of_one_key_are_rate_limited(koogallery, api, settings):
    settings.ISV_LICENSE_CHECK_RATE_PER_KEY = "2/min"
    _, key = issued(koogallery)
    assert [check(api, key).status_code for _ in range(2)] == [200, 200]
    throttled = check(api, key)
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    _, other_key = issued(koogallery)
    assert check(api, other_key).status_code == 200  # another key has its own budget


def test_checks_from_one_address_are_rate_limited_whatever_the_key(koogallery, api, settings):
    settings.ISV_LICENSE_CHECK_RATE_PER_ADDRESS = "3/min"
    statuses = [check(api, f"garbage-{i}").status_code for i in range(3)]
    _, key = issued(koogallery)
    assert statuses == [401, 401, 401]
    assert check(api, key).status_code == 429  # even a valid key, once the address is over its budget


def test_behind_a_proxy_the_forwarded_address_is_rate_limited(koogallery, api, settings):
    settings.ISV_LICENSE_CHECK_RATE_PER_ADDRESS = "1/min"
    settings.ISV_LICENSE_CHECK_PROXY_COUNT = 1
    first, second = (f"192.0.2.{uuid.uuid4().int % 250}", f"198.51.100.{uuid.uuid4().int % 250}")
    for address in (first, second):
        cache.delete(PerAddressThrottle.cache_format % {"scope": PerAddressThrottle.scope, "ident": address})
    token = f"x-{uuid.uuid4()}"
    # A client cannot pick its own address by prepending to X-Forwarded-For: the proxy's entry counts.
    assert check(api, token, HTTP_X_FORWARDED_FOR=f"203.0.113.9, {first}").status_code == 401
    assert check(api, token, HTTP_X_FORWARDED_FOR=f"203.0.113.10, {first}").status_code == 429
    assert check(api, token, HTTP_X_FORWARDED_FOR=second).status_code == 401  # same proxy, another client


def test_the_public_keys_are_published_as_a_jwk_set(api, koogallery):
    _, key = issued(koogallery)
    jwks = api.get("/api/licenses/keys").json()
    assert jwks["keys"][0]["kid"] == verifier.key_id(signing.signing_key().public_key())
    assert verifier.LicenseVerifier.from_jwks(jwks).verify(key).valid


@pytest.mark.parametrize(
    "body",
    ["[" * 5000 + "]" * 5000, '{"token":"a\\ud800b"}', '{"token":NaN}'],
    ids=["too deep", "lone surrogate", "NaN"],
)
def test_a_body_that_is_not_strict_json_is_a_json_bad_request(api, body):
    response = api.post("/api/licenses/check", body, content_type="application/json")
    assert (response.status_code, response.json()) == (400, {"detail": "the body is not UTF-8 JSON"})


@pytest.mark.parametrize("segment", [0, 1], ids=["header", "claims"])
def test_a_key_nested_too_deep_is_refused_like_any_bad_key(api, segment):
    parts = [b64url_encode(b"{}"), b64url_encode(b"{}"), b64url_encode(b"x")]
    parts[segment] = b64url_encode(b"[" * 3000 + b"]" * 3000)
    response = check(api, ".".join(parts))
    assert (response.status_code, response.json()) == (401, {"detail": "invalid licence key"})


def test_a_body_over_the_size_limit_is_a_json_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps({"token": "x" * 4096})
    response = api.post("/api/licenses/check", body, content_type="application/json")
    assert response.status_code == 413 and response.json() == {"detail": "the body is too large"}
