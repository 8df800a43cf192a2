"""One strict reading of JSON for bodies, strings of JSON and Base64 JSON (marketplace_isv.strict_json)."""

import pytest

from marketplace_isv import fields, strict_json
from marketplace_isv.envelope import ParamError


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a":-Infinity}', '"\\ud800"', '{"\\udc00":1}', "[" * 5000])
def test_what_cannot_be_stored_or_re_encoded_is_not_json(text):
    with pytest.raises(ValueError):
        strict_json.loads(text + "]" * text.count("["))


def test_a_number_too_large_for_a_float_is_kept_as_its_text():
    assert strict_json.loads('{"x":1e400,"y":[-1E+999],"z":1.5,"n":12}') == {"x": "1e400", "y": ["-1E+999"],
                                                                           "z": 1.5, "n": 12}  # fmt: skip


def test_nul_is_found_at_any_depth():
    assert strict_json.contains_nul({"a": [{"b": "x\x00"}]})
    assert strict_json.contains_nul({"a\x00": 1})
    assert not strict_json.contains_nul({"a": ["x", 1, None]})


@pytest.mark.parametrize(
    "inner", ['{"productId":"p\\u0000"}', '{"productId":"p\\ud800"}', "[" * 5000 + "]" * 5000, '{"a":NaN}']
)
def test_a_string_of_json_gets_the_same_reading(inner):
    with pytest.raises(ParamError):
        fields.json_value({"productInfo": inner}, "productInfo")


@pytest.mark.parametrize("inner", [b'[{"v":"a\\u0000"}]', b'[{"v":"\\udc00"}]', b"[NaN]", b"[" * 2000 + b"]" * 2000])
def test_base64_json_gets_the_same_reading(inner):
    import base64

    with pytest.raises(ParamError):
        fields.base64_json(base64.b64encode(inner).decode(), name="saasExtendParams")


def test_an_amount_that_rounds_beyond_its_column_is_refused():
    assert fields.decimal({"a": "99999999999999999999.9999"}, "a") is not None
    for value in ("99999999999999999999.99999", "-99999999999999999999.99995"):
        with pytest.raises(ParamError, match="out of range"):
            fields.decimal({"a": value}, "a")


def test_nesting_is_limited_to_what_the_protocol_could_use():
    assert strict_json.loads("[" * strict_json.MAX_DEPTH + "]" * strict_json.MAX_DEPTH)
    with pytest.raises(ValueError, match="nesting too deep"):
        strict_json.loads("[" * (strict_json.MAX_DEPTH + 1) + "]" * (strict_json.MAX_DEPTH + 1))


def test_the_walks_never_exhaust_the_stack():
    deep = current = []
    for _ in range(100_000):
        current.append([])
        current = current[0]
    current.append("x\x00")
    assert strict_json.contains_nul(deep) and not strict_json.has_surrogate(deep)


@pytest.mark.parametrize("value", ["20991231000000²²²", "２０９９１２３１０００００００００", "2099123100000٠٠١"])
def test_times_are_ascii_digits(value):
    with pytest.raises(ParamError):
        fields.parse_utc(value, name="expireTime")


@pytest.mark.parametrize("value", ["١٢", "１２", "²"])
def test_numbers_are_ascii_digits(value):
    with pytest.raises(ParamError):
        fields.integer({"amount": value}, "amount")
    with pytest.raises(ParamError):
        fields.decimal({"orderAmount": value}, "orderAmount")


def test_a_key_longer_than_its_column_keeps_its_beginning_and_a_digest_of_the_whole():
    import hashlib

    from marketplace_isv.fields import key_fit

    assert key_fit("CS2612060224", 255) == "CS2612060224"
    assert key_fit("x" * 255, 255) == "x" * 255
    long = "x" * 255 + "é"
    fitted = key_fit(long, 255)
    assert fitted == "x" * 190 + "~" + hashlib.sha256(long.encode()).hexdigest()
    assert len(fitted) == 255 and key_fit(long, 255) == fitted and key_fit("x" * 256, 255) != fitted
