"""The plain verifier (no Django): the gateway's HS256 token with millisecond expiry, key rotation,
both header forms, and the constant header of 自主认证 (koogallery-protocol.md §12)."""

import base64
import json

import pytest

from agents_gateway import verifier
from agents_gateway.verifier import HeaderAuth, JwtAuth, Reason, Refusal, sign_token
from tests.agents_gateway.conftest import CONSTANT, KEY, OLD_KEY, OLD_SECRET, SECRET

NOW_MS = 1_750_000_000_000  # a fixed "now": 2025-06-15, in epoch milliseconds
KEYS = {KEY: SECRET, OLD_KEY: OLD_SECRET}


def auth(**options) -> JwtAuth:
    return JwtAuth(keys=KEYS, **options)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refusal(check, headers, at_ms=NOW_MS) -> Refusal:
    with pytest.raises(Refusal) as caught:
        check.verify(headers, at_ms=at_ms)
    return caught.value


def b64url(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_a_token_signed_like_the_gateway_is_accepted_with_its_claims():
    token = sign_token(KEY, SECRET, timestamp_ms=NOW_MS - 1000)
    verified = auth().verify(bearer(token), at_ms=NOW_MS)
    assert (verified.mode, verified.api_key, verified.form) == ("jwt", KEY, "bearer")
    assert verified.timestamp_ms == NOW_MS - 1000
    assert verified.expires_ms == NOW_MS - 1000 + 5 * 60 * 1000


def test_the_token_has_the_gateway_header_and_payload_shape():
    token = sign_token(KEY, SECRET, timestamp_ms=NOW_MS)
    header, payload, _ = token.split(".")
    decode = lambda part: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # noqa: E731
    assert decode(header) == {"alg": "HS256", "sign_type": "SIGN"}
    assert decode(payload) == {"api_key": KEY, "timestamp": NOW_MS, "exp": NOW_MS + 300_000}


def test_the_bare_token_without_bearer_is_accepted_too():
    verified = auth().verify({"Authorization": sign_token(KEY, SECRET, timestamp_ms=NOW_MS)}, at_ms=NOW_MS)
    assert verified.form == "bare"


def test_the_prefix_is_matched_whatever_its_case_and_spacing():
    token = sign_token(KEY, SECRET, timestamp_ms=NOW_MS)
    assert auth().verify({"authorization": f"  bearer   {token} "}, at_ms=NOW_MS).form == "bearer"


def test_a_token_signed_with_another_secret_is_refused_as_wrong_secret():
    token = sign_token(KEY, "not-the-secret", timestamp_ms=NOW_MS)
    refused = refusal(auth(), bearer(token))
    assert refused.reason == Reason.WRONG_SECRET
    assert refused.api_key == KEY
    assert "not-the-secret" not in str(refused) and token not in str(refused)


def test_a_token_whose_exp_passed_in_milliseconds_is_refused_as_expired():
    token = sign_token(KEY, SECRET, timestamp_ms=NOW_MS - 6 * 60 * 1000)  # expired a minute ago
    assert refusal(auth(), bearer(token)).reason == Reason.EXPIRED


def test_an_exp_that_looks_valid_in_seconds_is_expired_in_milliseconds():
    # A standard JWT library reads exp as seconds: this one would be valid for 5 more minutes
    # there, but as milliseconds it is 1970 (§12).
    exp_in_seconds = NOW_MS // 1000 + 300
    token = sign_token(KEY, SECRET, timestamp_ms=NOW_MS, extra_claims={"exp": exp_in_seconds})
    refused = refusal(auth(), bearer(token))
    assert refused.reason == Reason.EXPIRED


def test_expiry_allows_the_configured_clock_skew_and_no_more():
    token = sign_token(KEY, SECRET, timestamp_ms=NOW_MS - 300_000 - 20_000)  # expired 20 s ago
    assert auth(skew_ms=30_000).verify(bearer(token), at_ms=NOW_MS).api_key == KEY
    assert refusal(auth(skew_ms=10_000), bearer(token)).reason == Reason.EXPIRED


def test_an_unknown_app_key_is_refused_without_naming_it():
    token = sign_token("ak-stranger", SECRET, timestamp_ms=NOW_MS)
    refused = refusal(auth(), bearer(token))
    assert refused.reason == Reason.UNKNOWN_KEY
    assert refused.api_key == "" and "ak-stranger" not in str(refused)


def test_both_key_pairs_of_a_rotation_are_accepted_and_each_needs_its_own_secret():
    old = sign_token(OLD_KEY, OLD_SECRET, timestamp_ms=NOW_MS)
    assert auth().verify(bearer(old), at_ms=NOW_MS).api_key == OLD_KEY
    crossed = sign_token(OLD_KEY, SECRET, timestamp_ms=NOW_MS)
    assert refusal(auth(), bearer(crossed)).reason == Reason.WRONG_SECRET


@pytest.mark.parametrize(
    "value",
    ["Basic dXNlcjpwYXNz", "Token a.b.c", "Bearer", "Bearer a.b .c"],
)
def test_a_header_in_another_form_is_refused_as_wrong_header_form(value):
    assert refusal(auth(), {"Authorization": value}).reason == Reason.WRONG_HEADER_FORM


def test_a_required_form_refuses_the_other_one():
    token = sign_token(KEY, SECRET, timestamp_ms=NOW_MS)
    assert refusal(auth(form="bearer"), {"Authorization": token}).reason == Reason.WRONG_HEADER_FORM
    assert refusal(auth(form="bare"), bearer(token)).reason == Reason.WRONG_HEADER_FORM
    assert auth(form="bearer").verify(bearer(token), at_ms=NOW_MS).form == "bearer"


def test_a_missing_header_is_refused_as_missing():
    assert refusal(auth(), {"X-Other": "x"}).reason == Reason.MISSING_HEADER
    assert refusal(auth(), {"Authorization": "   "}).reason == Reason.MISSING_HEADER


def test_the_token_is_read_from_the_configured_header_only():
    token = sign_token(KEY, SECRET, timestamp_ms=NOW_MS)
    custom = auth(header="X-Gateway-Token", prefix="JWT ")
    assert custom.verify({"x-gateway-token": f"JWT {token}"}, at_ms=NOW_MS).api_key == KEY
    assert refusal(custom, bearer(token)).reason == Reason.MISSING_HEADER


def test_a_wsgi_environ_works_as_the_header_mapping():
    token = sign_token(KEY, SECRET, timestamp_ms=NOW_MS)
    assert auth().verify({"HTTP_AUTHORIZATION": f"Bearer {token}"}, at_ms=NOW_MS).api_key == KEY


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "a.b",
        "!!!.???.***",
        b64url(["list"]) + "." + b64url({"api_key": KEY}) + ".c2ln",
        b64url({"alg": "HS256"}) + "." + b64url({"timestamp": NOW_MS}) + ".c2ln",
    ],
)
def test_a_malformed_token_is_refused_as_malformed(token):
    assert refusal(auth(), bearer(token)).reason == Reason.MALFORMED


def test_an_unsigned_alg_none_token_is_refused():
    header = b64url({"alg": "none"})
    payload = b64url({"api_key": KEY, "timestamp": NOW_MS, "exp": NOW_MS + 300_000})
    assert refusal(auth(), bearer(f"{header}.{payload}.")).reason == Reason.UNSUPPORTED_ALGORITHM


def test_a_tampered_payload_is_refused_as_wrong_secret():
    header, _, signature = sign_token(KEY, SECRET, timestamp_ms=NOW_MS - 600_000).split(".")
    later = b64url({"api_key": KEY, "timestamp": NOW_MS, "exp": NOW_MS + 300_000})
    assert refusal(auth(), bearer(f"{header}.{later}.{signature}")).reason == Reason.WRONG_SECRET


def test_a_configured_expiry_claim_name_is_read_in_milliseconds():
    fresh = sign_token(KEY, SECRET, timestamp_ms=NOW_MS, expiry_claim="expire_time")
    stale = sign_token(KEY, SECRET, timestamp_ms=NOW_MS - 600_000, expiry_claim="expire_time")
    assert auth(expiry_claim="expire_time").verify(bearer(fresh), at_ms=NOW_MS).expires_ms == NOW_MS + 300_000
    assert refusal(auth(expiry_claim="expire_time"), bearer(stale)).reason == Reason.EXPIRED


def test_without_any_expiry_claim_the_token_lives_five_minutes_from_its_timestamp():
    fresh = sign_token(KEY, SECRET, timestamp_ms=NOW_MS - 60_000, expiry_claim="")
    stale = sign_token(KEY, SECRET, timestamp_ms=NOW_MS - 400_000, expiry_claim="")
    assert auth().verify(bearer(fresh), at_ms=NOW_MS).expires_ms == NOW_MS + 240_000
    assert refusal(auth(), bearer(stale)).reason == Reason.EXPIRED


def test_a_non_numeric_expiry_is_refused_as_malformed():
    token = sign_token(KEY, SECRET, timestamp_ms=NOW_MS, extra_claims={"exp": "tomorrow"})
    assert refusal(auth(), bearer(token)).reason == Reason.MALFORMED


def test_the_constant_header_is_accepted_and_any_other_value_refused():
    check = HeaderAuth(header="X-Agent-Auth", values=(CONSTANT,))
    assert check.verify({"x-agent-auth": CONSTANT}).form == "constant"
    assert refusal(check, {"X-Agent-Auth": CONSTANT + "x"}).reason == Reason.WRONG_SECRET
    assert refusal(check, {"X-Agent-Auth": CONSTANT[:-1]}).reason == Reason.WRONG_SECRET
    assert refusal(check, {"Authorization": CONSTANT}).reason == Reason.MISSING_HEADER


def test_the_constant_header_accepts_old_values_during_a_rotation():
    check = HeaderAuth(header="X-Agent-Auth", values=("new-value", CONSTANT))
    assert check.verify({"X-Agent-Auth": CONSTANT}).mode == "header"
    assert check.verify({"X-Agent-Auth": "new-value"}).mode == "header"


def test_the_environment_configures_the_same_verifier():
    env = {
        "AGENTS_GATEWAY_MODE": "jwt",
        "AGENTS_GATEWAY_KEYS": f"{KEY}:{SECRET}, {OLD_KEY}:{OLD_SECRET}",
        "AGENTS_GATEWAY_TOKEN_FORM": "bearer",
    }
    built = verifier.from_env(env)
    assert isinstance(built, JwtAuth) and dict(built.keys) == KEYS and built.form == "bearer"
    assert verifier.from_env({}) is None
    own = verifier.from_env(
        {"AGENTS_GATEWAY_MODE": "header", "AGENTS_GATEWAY_HEADER": "X-A", "AGENTS_GATEWAY_HEADER_VALUE": "v"}
    )
    assert isinstance(own, HeaderAuth) and own.values == ("v",)


def test_a_secret_may_contain_a_colon():
    assert verifier.parse_keys("k:se:cret") == {"k": "se:cret"}


@pytest.mark.parametrize(
    "env",
    [
        {"AGENTS_GATEWAY_MODE": "jwt"},
        {"AGENTS_GATEWAY_MODE": "jwt", "AGENTS_GATEWAY_KEYS": "no-secret"},
        {"AGENTS_GATEWAY_MODE": "header", "AGENTS_GATEWAY_HEADER": "X-A"},
        {"AGENTS_GATEWAY_MODE": "oauth"},
    ],
)
def test_an_incomplete_configuration_is_an_error_not_an_open_door(env):
    with pytest.raises(ValueError):
        verifier.from_env(env)


def test_the_verifier_never_prints_its_secrets():
    assert SECRET not in repr(auth()) and CONSTANT not in repr(HeaderAuth("X-A", (CONSTANT,)))


# --- hostile tokens: every one is a Refusal (a 401), never an exception --------------------------


def b64url_text(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("segment", ["header", "payload"])
def test_a_token_segment_nested_too_deep_is_refused_as_malformed_before_any_key_is_needed(segment):
    nested = b64url_text("[" * 1000)
    parts = {"header": b64url({"alg": "HS256"}), "payload": b64url({"api_key": KEY}), segment: nested}
    assert refusal(auth(), bearer(f"{parts['header']}.{parts['payload']}.c2ln")).reason == Reason.MALFORMED


@pytest.mark.parametrize("claim", ["exp", "timestamp"])
@pytest.mark.parametrize("value", ["²", "¹", "٣", "1" * 5000])
def test_a_signed_time_claim_of_anything_but_ascii_digits_is_refused_as_malformed(claim, value):
    extra = {"exp": value} if claim == "exp" else {"timestamp": value, "exp": NOW_MS + 300_000}
    token = sign_token(KEY, SECRET, timestamp_ms=NOW_MS, extra_claims=extra)
    assert refusal(auth(), bearer(token)).reason == Reason.MALFORMED


def test_a_signed_time_claim_of_plain_digits_is_still_tolerated():
    token = sign_token(KEY, SECRET, timestamp_ms=NOW_MS, extra_claims={"exp": f" {NOW_MS + 1000} "})
    assert auth().verify(bearer(token), at_ms=NOW_MS).expires_ms == NOW_MS + 1000


@pytest.mark.parametrize("padding", ["=", "==", "==="])
def test_a_padded_signature_is_refused_as_malformed_because_rfc_7515_omits_padding(padding):
    token = sign_token(KEY, SECRET, timestamp_ms=NOW_MS)
    refused = refusal(auth(), bearer(token + padding))
    assert (refused.reason, refused.api_key) == (Reason.MALFORMED, KEY)


def test_a_signature_with_other_unused_bits_is_refused_as_not_the_one_encoding():
    # 32 bytes are 43 characters whose last one carries 2 unused bits: 'A' and 'B' decode alike.
    header, payload, signature = sign_token(KEY, SECRET, timestamp_ms=NOW_MS).split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    twin = signature[:-1] + alphabet[last ^ 1]
    assert base64.urlsafe_b64decode(twin + "=") == base64.urlsafe_b64decode(signature + "=")
    assert refusal(auth(), bearer(f"{header}.{payload}.{twin}")).reason == Reason.MALFORMED


def test_a_padded_header_segment_is_refused_as_malformed():
    header, payload, signature = sign_token(KEY, SECRET, timestamp_ms=NOW_MS).split(".")
    padded = header + "=" * (-len(header) % 4 or 4)
    assert refusal(auth(), bearer(f"{padded}.{payload}.{signature}")).reason == Reason.MALFORMED
