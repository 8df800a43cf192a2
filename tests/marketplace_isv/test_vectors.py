"""The test vectors of koogallery-protocol.md §10, pinned."""

import base64
import hmac
import json

import pytest
from Crypto.PublicKey import RSA

from marketplace_isv import apig, crypto, envelope, openapi, schemes
from marketplace_isv.inbound import Inbound
from marketplace_isv.simulator import signing

EK = "ExampleAccessKey-0123456789abcdef"
TK = "testkey"
NONCE = "50D83FDECAED6CCD8EF597F2A577950527928BA287D04E6036E92B2806FD17DA"
TS = "1680508066618"
BODY = (
    '{"activity":"newInstance","businessId":"87b94795-0603-4e24-8ae5-69420d60e3c8",'
    '"orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","testFlag":"1"}'
)


def test_v1_auth_token_vector_10_1():
    pairs = [
        ("activity", "newInstance"),
        ("businessId", "61e834ba-7b97-4418-b8f7-e5345137278c"),
        ("customerId", "68cbc86abc2018ab880d92f36422fa0e"),
        ("expireTime", "20200727153156"),
        ("orderId", "CS1906666666ABCDE"),
        ("productId", "00301-666666-0--0"),
        ("testFlag", "1"),
        ("timeStamp", "20200727073711903"),
    ]
    message = schemes.v1_message(pairs, keep_empty=True)
    assert message == (
        "activity=newInstance&businessId=61e834ba-7b97-4418-b8f7-e5345137278c&customerId=68cbc86abc2018ab880d92f36422fa0e"
        "&expireTime=20200727153156&orderId=CS1906666666ABCDE&productId=00301-666666-0--0&testFlag=1&timeStamp=20200727073711903"
    )
    assert crypto.hmac_b64(EK + "20200727073711903", message) == "b+6+wpeBfR+ffNwV6Yljhuzt7HrwOiUDt3fFprOshnQ="


def test_v1_documentation_illustration_10_1():
    message = schemes.v1_message(
        [("p2", "2"), ("p1", "1"), ("timeStamp", "201706211855321"), ("p3", "3")], keep_empty=True
    )
    assert message == "p1=1&p2=2&p3=3&timeStamp=201706211855321"
    assert crypto.hmac_b64(TK + "201706211855321", message) == "L3u1yldyh9W8nHfuTY1nvCVRKmvrI6Wvcv3iiHXccO8="


KIT_V1_BODY = {  # §10.2
    "instanceId": "",
    "orderId": "",
    "tenantId": "68cbc86abc",
    "tenantCode": "huawei",
    "name": "huaiweitest",
    "domainName": "https://example.tenantaccount.com",
    "flag": 1,
    "testFlag": 1,
    "timeStamp": "20220413093539534",
}


def test_kit_v1_auth_token_vector_10_2():
    message = schemes.kit_v1_message(KIT_V1_BODY, keep_blank=False)
    assert message == (
        "domainName=https://example.tenantaccount.com&flag=1&name=huaiweitest&tenantCode=huawei"
        "&tenantId=68cbc86abc&testFlag=1&timeStamp=20220413093539534"
    )
    assert crypto.hmac_b64(TK + "20220413093539534", message) == "k9/+cADGWPyH3cWqczE4CtXhCNHa9aVM9xIIZvqituw="


@pytest.mark.parametrize(
    "key,inner,signature",
    [
        (
            EK,
            "4e4326fc49bea138c3ffb6de2df170e4a23769fb1cce5651ee919e5e28147ce4",
            "FE0D54AD5C04C07506383D4A6D378EB2FB1A4CFE82A4DF22EE20910A8A87FA70",
        ),
        (
            TK,
            "a287267a62b58f17c35a4e4bb1acccf62e122df686c49dbcf5ef33c4dca0ab48",
            "81b7b630a47c8f1e2498438f0b5aa4ec34d9a100e16b008a49d1b43a782fc877",
        ),
    ],
)
def test_v2_signature_vector_10_3(key, inner, signature):
    assert crypto.hmac_hex(key, BODY) == inner
    assert schemes.v2_signature(key, NONCE, TS, BODY.encode()) == signature.lower()


def test_v2_plain_sha256_inner_reading_is_not_the_protocol_10_3():
    wrong = "08B31B88016F012846CA13B22CE2D23A257F346E36A4E5DB79AF5DA136BD673A"
    assert schemes.v2_signature(EK, NONCE, TS, BODY.encode()) != wrong.lower()


def test_v2_verifier_refuses_the_plain_sha256_reading(settings, monkeypatch):
    settings.KOOGALLERY_ACCESS_KEY = EK
    settings.KOOGALLERY_LICENSE_ACCESS_KEY = EK
    settings.KOOGALLERY_NOTIFY_ACCESS_KEY = EK
    monkeypatch.setattr(schemes, "check_window", lambda *a, **k: None)
    good = Inbound(
        "POST",
        "/koogallery/produce",
        f"signature=FE0D54AD5C04C07506383D4A6D378EB2FB1A4CFE82A4DF22EE20910A8A87FA70&timestamp={TS}&nonce={NONCE}",
        {},
        BODY.encode(),
    )
    assert schemes.verify_v2(good).key.name == "access"
    bad = Inbound(
        "POST",
        "/koogallery/produce",
        f"signature=08B31B88016F012846CA13B22CE2D23A257F346E36A4E5DB79AF5DA136BD673A&timestamp={TS}&nonce={NONCE}",
        {},
        BODY.encode(),
    )
    with pytest.raises(envelope.AuthError):
        schemes.verify_v2(bad)


KIT_RAW = (
    '{"instanceId":"huaiweitest123456","orderId":"CS1906666666ABCDE","tenantId":"68cbc86abc","tenantCode":"huawei",'
    '"name":"huaiweitest","domainName":"https://example.tenantaccount.com","flag":1,"testFlag":0,"timeStamp":"20220413093539534"}'
)


def test_kit_v2_vector_10_4():
    sorted_payload = schemes.sorted_compact(json.loads(KIT_RAW))
    assert sorted_payload == (
        b'{"domainName":"https://example.tenantaccount.com","flag":1,"instanceId":"huaiweitest123456","name":"huaiweitest",'
        b'"orderId":"CS1906666666ABCDE","tenantCode":"huawei","tenantId":"68cbc86abc","testFlag":0,"timeStamp":"20220413093539534"}'
    )
    assert (
        schemes.kit_v2_signature(TK, NONCE, TS, sorted_payload)
        == "11480e7857071404c4dee01051c8da3532564e079b14da9e37540c32138fcdfb"
    )
    assert (
        schemes.kit_v2_signature(TK, NONCE, TS, KIT_RAW.encode())
        == "a80eb9a3bb934b0a69533e48ab49df80b10d7db8fde5f27d5746658958ec01be"
    )


@pytest.mark.parametrize(
    "sign,variant",
    [
        ("11480e7857071404c4dee01051c8da3532564e079b14da9e37540c32138fcdfb", "sorted"),
        ("a80eb9a3bb934b0a69533e48ab49df80b10d7db8fde5f27d5746658958ec01be", "raw"),
    ],
)
def test_kit_v2_verifier_accepts_both_vector_signatures_10_4(settings, monkeypatch, sign, variant):
    settings.KOOGALLERY_KIT_ACCESS_KEY = TK
    monkeypatch.setattr(schemes, "check_window", lambda *a, **k: None)
    inbound = Inbound(
        "POST",
        "/koogallery/produce/produceAPI/v2/tenantSync",
        "",
        {"x-sign": sign, "x-timestamp": TS, "x-nonce": NONCE},
        KIT_RAW.encode(),
    )
    caller = schemes.verify_kit_v2(inbound)
    assert (caller.key.name, caller.variant) == ("kit", variant)


def test_body_sign_vectors_10_5():
    body = b'{"resultCode":"000000","resultMsg":"success.","instanceId":"87b94795-0603-4e24-8ae5-69420d60e3c8"}'
    assert crypto.hmac_b64(EK, body) == "PRJupAMj6eECNPOOcvvZiiZ8HV7tiP5933fo/MUKbsI="
    assert crypto.hmac_b64(EK, body + b"\n") == "I3W86YYB2U5U3MJPr4dScdqSORbJbn1+6TmbRELnj6g="
    body, header = envelope.render(envelope.Result.of("000001", "authentication failed"), EK)
    assert body == b'{"resultCode":"000001","resultMsg":"authentication failed"}'
    assert header == 'sign_type="HMAC-SHA256", signature="ijy06oW/pxrQlG00z6Nha5y1Clh3W0yTJxcy68ViFoI="'
    body, header = envelope.render(envelope.Result.ok(), TK)
    assert body == b'{"resultCode":"000000","resultMsg":"success."}'
    assert header == 'sign_type="HMAC-SHA256", signature="fX/qR7ZCF+wrz3vqGpHGVb4a2EZaBzFSBXXt5c7jkyA="'


def test_envelope_writes_non_ascii_as_escapes_without_trailing_newline():
    body, _ = envelope.render(envelope.Result.ok(memo="账号"), EK)
    assert body == b'{"resultCode":"000000","resultMsg":"success.","memo":"\\u8d26\\u53f7"}'


@pytest.mark.parametrize(
    "key,key128,key256",
    [
        (EK, "a1e73d633f33183f88bfc2a314b54abd", "a1e73d633f33183f88bfc2a314b54abde803711d0c222a4d3b2499413db1dda5"),
        (TK, "865ccac4bc1ff58e21d626c5c932a41e", "865ccac4bc1ff58e21d626c5c932a41e388855e7fcf35fc18e7fde9f7188522f"),
        ("a", None, "667f407de7c6ad07358fa38daed7828a72014b4e621d7140210c8cf1565a8f02"),
        ("test123", None, "676243218923905cf94cb52a3c9d3eb30ce8e20de2772a2945dac385cd5b9dd9"),
    ],
)
def test_sha1prng_aes_keys_10_6(key, key128, key256):
    if key128:
        assert crypto.aes_key(key, "2").hex() == key128
    assert crypto.aes_key(key, "1").hex() == key256


@pytest.mark.parametrize(
    "key,iv,type1,type2",
    [
        (
            EK,
            "AbCdEf0123456789",
            "AbCdEf01234567895K8wCOlktkMhZhPtWsSJgw==",
            "AbCdEf0123456789ZkI32VcZFaS6VnrTFthO0A==",
        ),
        (
            TK,
            "abcdefghijklmnop",
            "abcdefghijklmnoporZ/4+4flNsGgYJwJxlTNQ==",
            "abcdefghijklmnopCMj+u6rCkoNzZw2pwUXchQ==",
        ),
    ],
)
def test_aes_ciphertexts_10_6(key, iv, type1, type2):
    assert crypto.aes_encrypt("13800000000", key, "1", iv=iv) == type1
    assert crypto.aes_encrypt("13800000000", key, "2", iv=iv) == type2
    assert crypto.aes_decrypt(type1, key, "1") == "13800000000"
    assert crypto.aes_decrypt(type2, key, "2") == "13800000000"
    # U15: the other key length is tried when the configured one does not decrypt.
    assert crypto.aes_decrypt(type2, key, "1") == "13800000000"
    # §2.7: a space where form decoding ate a `+` still decrypts.
    assert crypto.aes_decrypt(type1.replace("+", " "), key, "1") == "13800000000"


def test_usage_push_signature_10_7():
    body = (
        b'{"usage_records":[{"begin_time":"20220809T080000Z","end_time":"20220809T090000Z",'
        b'"instance_id":"7f141bf1-aec8-4859-8323-fb3a8ad50721","metering_sn":"sn-0001","record_time":"20220809T091000Z","usage_value":"99"}]}'
    )
    records = [
        {
            "usage_value": "99",
            "record_time": "20220809T091000Z",
            "metering_sn": "sn-0001",
            "instance_id": "7f141bf1-aec8-4859-8323-fb3a8ad50721",
            "end_time": "20220809T090000Z",
            "begin_time": "20220809T080000Z",
        }
    ]
    assert openapi.usage_body(records) == body
    assert openapi.usage_signature(EK, "1709690865879", "6c63c221-1f6b-4141-8ff4-22f5dfe82b65", body) == (
        "DjnJLqBdltE0LUDtO5BzZZSUypRosXLfZYZ8/Hxtbdw="
    )


def test_apig_vector_from_the_public_gem_10_8():
    headers = {
        "x-stage": "RELEASE",
        "X-Sdk-Date": "20240317T144237Z",
        "Content-Type": "application/json",
        "Host": "mkt.myhuaweicloud.com",
    }
    assert apig.authorization(
        "test", "123", "POST", "/api/mkp-openapi-public/global/v1/license/activate", [], headers, b""
    ) == (
        "SDK-HMAC-SHA256 Access=test, SignedHeaders=content-type;host;x-sdk-date;x-stage, "
        "Signature=77595ad624b6e4e49990b8c4e84bf1c287457fca61069c4e60b9b6765b52053d"
    )


def test_apig_query_order_vector_10_8():
    headers = {"X-Sdk-Date": "20250101T000000Z", "Content-Type": "application/json", "Host": "mkt.myhuaweicloud.com"}
    params = [("orderId", "MOCKPERIODYEARNEW"), ("orderLineId", "MOCKPERIODYEARNEW-000001")]
    path = "/api/mkp-openapi-public/global/v1/order/query"
    canonical, signed = apig.canonical_request("GET", path, params, headers, b"")
    assert canonical == (
        "GET\n/api/mkp-openapi-public/global/v1/order/query/\norderId=MOCKPERIODYEARNEW&orderLineId=MOCKPERIODYEARNEW-000001\n"
        "content-type:application/json\nhost:mkt.myhuaweicloud.com\nx-sdk-date:20250101T000000Z\n\n"
        "content-type;host;x-sdk-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert apig.string_to_sign(canonical, "20250101T000000Z") == (
        "SDK-HMAC-SHA256\n20250101T000000Z\nfa151465bf81c0bc6bd3a7f0dc6ed595bb151b150c2b99538c0bc1311e8c5f19"
    )
    assert apig.signature("ExampleSK-abcdefghijklmnopqrstuvwxyz0123", "GET", path, params, headers, b"")[0] == (
        "f87877694351a4b8d75a182932315e187b6d59f2db62c093434067e97e019e4c"
    )


@pytest.fixture(scope="module")
def rsa_key():
    return RSA.generate(3072)


@pytest.mark.parametrize("parameter_set", [0, 1, 2])
def test_rsa_oaep_round_trip_for_each_parameter_set(rsa_key, parameter_set):
    ciphertext = crypto.rsa_oaep_encrypt("client-secret-明文", rsa_key, parameter_set)
    plaintext, used = crypto.rsa_oaep_decrypt(ciphertext, rsa_key)
    assert plaintext == "client-secret-明文"
    assert used == crypto.OAEP_PARAMETER_SETS[parameter_set][2]


def test_rsa_oaep_accepts_url_safe_and_space_mangled_base64(rsa_key):
    ciphertext = crypto.rsa_oaep_encrypt("s", rsa_key, 0)
    urlsafe = base64.urlsafe_b64encode(base64.b64decode(ciphertext)).decode()
    assert crypto.rsa_oaep_decrypt(urlsafe, rsa_key)[0] == "s"
    assert crypto.rsa_oaep_decrypt(ciphertext.replace("+", " "), rsa_key)[0] == "s"


def test_rsa_oaep_with_another_key_is_refused(rsa_key):
    other = RSA.generate(3072)
    with pytest.raises(crypto.DecryptionError):
        crypto.rsa_oaep_decrypt(crypto.rsa_oaep_encrypt("s", other, 0), rsa_key)
    with pytest.raises(crypto.DecryptionError):
        crypto.rsa_oaep_decrypt("bm90IGEgY2lwaGVydGV4dA==", rsa_key)


def test_seller_center_public_key_is_one_line_of_base64_der(rsa_key):
    text = crypto.seller_center_public_key(rsa_key)
    assert "\n" not in text and "-----" not in text
    assert RSA.import_key(base64.b64decode(text)).n == rsa_key.n


# --- The simulator's own signing (written from the protocol text, not from the service's code) ---


def test_the_simulator_signs_v1_as_vector_10_1():
    params = [
        ("activity", "newInstance"),
        ("businessId", "61e834ba-7b97-4418-b8f7-e5345137278c"),
        ("customerId", "68cbc86abc2018ab880d92f36422fa0e"),
        ("expireTime", "20200727153156"),
        ("orderId", "CS1906666666ABCDE"),
        ("productId", "00301-666666-0--0"),
        ("testFlag", "1"),
        ("timeStamp", "20200727073711903"),
    ]
    assert signing.v1_auth_token(EK, list(reversed(params))) == "b+6+wpeBfR+ffNwV6Yljhuzt7HrwOiUDt3fFprOshnQ="
    illustration = [("p2", "2"), ("p1", "1"), ("timeStamp", "201706211855321"), ("p3", "3")]
    assert signing.v1_auth_token(TK, illustration) == "L3u1yldyh9W8nHfuTY1nvCVRKmvrI6Wvcv3iiHXccO8="


def test_the_simulator_signs_kit_v1_as_vector_10_2():
    assert signing.kit_v1_auth_token(TK, KIT_V1_BODY) == "k9/+cADGWPyH3cWqczE4CtXhCNHa9aVM9xIIZvqituw="


def test_the_simulator_signs_v2_and_kit_v2_as_vectors_10_3_and_10_4():
    assert (
        signing.v2_signature(EK, NONCE, TS, BODY.encode())
        == "fe0d54ad5c04c07506383d4a6d378eb2fb1a4cfe82a4df22ee20910a8a87fa70"
    )
    assert (
        signing.v2_signature(TK, NONCE, TS, BODY.encode())
        == "81b7b630a47c8f1e2498438f0b5aa4ec34d9a100e16b008a49d1b43a782fc877"
    )
    raw = KIT_RAW.encode()
    assert (
        signing.kit_v2_signature(TK, NONCE, TS, raw)
        == "a80eb9a3bb934b0a69533e48ab49df80b10d7db8fde5f27d5746658958ec01be"
    )
    compact = json.dumps(json.loads(KIT_RAW), sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    assert (
        signing.kit_v2_signature(TK, NONCE, TS, compact)
        == "11480e7857071404c4dee01051c8da3532564e079b14da9e37540c32138fcdfb"
    )


def test_the_simulator_checks_body_sign_as_vector_10_5():
    body = b'{"resultCode":"000000","resultMsg":"success.","instanceId":"87b94795-0603-4e24-8ae5-69420d60e3c8"}'
    assert signing.body_sign_matches(EK, body, "PRJupAMj6eECNPOOcvvZiiZ8HV7tiP5933fo/MUKbsI=")
    assert not signing.body_sign_matches(EK, body + b"\n", "PRJupAMj6eECNPOOcvvZiiZ8HV7tiP5933fo/MUKbsI=")
    assert signing.body_sign_matches(
        TK, b'{"resultCode":"000000","resultMsg":"success."}', "fX/qR7ZCF+wrz3vqGpHGVb4a2EZaBzFSBXXt5c7jkyA="
    )


def test_the_simulators_usage_push_signature_10_7():
    body = (
        b'{"usage_records":[{"begin_time":"20220809T080000Z","end_time":"20220809T090000Z",'
        b'"instance_id":"7f141bf1-aec8-4859-8323-fb3a8ad50721","metering_sn":"sn-0001","record_time":"20220809T091000Z","usage_value":"99"}]}'
    )
    assert signing.usage_push_signature(EK, "1709690865879", "6c63c221-1f6b-4141-8ff4-22f5dfe82b65", body) == (
        "DjnJLqBdltE0LUDtO5BzZZSUypRosXLfZYZ8/Hxtbdw="
    )


def test_the_simulators_apig_check_10_8():
    gem = {"x-stage": "RELEASE", "x-sdk-date": "20240317T144237Z", "content-type": "application/json",
           "host": "mkt.myhuaweicloud.com"}  # fmt: skip
    path = "/api/mkp-openapi-public/global/v1/license/activate"
    assert signing.apig_signature("123", "POST", path, [], gem, b"") == (
        "77595ad624b6e4e49990b8c4e84bf1c287457fca61069c4e60b9b6765b52053d"
    )
    headers = {"x-sdk-date": "20250101T000000Z", "content-type": "application/json", "host": "mkt.myhuaweicloud.com"}
    params = [("orderLineId", "MOCKPERIODYEARNEW-000001"), ("orderId", "MOCKPERIODYEARNEW")]
    path = "/api/mkp-openapi-public/global/v1/order/query"
    sig = "f87877694351a4b8d75a182932315e187b6d59f2db62c093434067e97e019e4c"
    ak, sk = "ExampleAK0123456789", "ExampleSK-abcdefghijklmnopqrstuvwxyz0123"
    authorization = f"SDK-HMAC-SHA256 Access={ak}, SignedHeaders=content-type;host;x-sdk-date, Signature={sig}"
    assert signing.apig_check(ak, sk, "GET", path, params, {**headers, "authorization": authorization}, b"") == ""
    unsigned = {**headers, "authorization": authorization, "user-agent": "python-requests/2"}
    assert "not signed: user-agent" in signing.apig_check(ak, sk, "GET", path, params, unsigned, b"")
    wrong = {**headers, "authorization": authorization.replace(sig, "0" * 64)}
    assert signing.apig_check(ak, sk, "GET", path, params, wrong, b"") == "signature mismatch"


def test_the_simulator_does_not_use_the_services_signing_code():
    """Independence: a misreading in marketplace_isv.schemes (or .apig, .openapi) must not be
    mirrored by the simulator or its fake open API."""
    import ast
    import pathlib

    for name in ("signing.py", "client.py", "fake_openapi.py"):
        tree = ast.parse((pathlib.Path(signing.__file__).parent / name).read_text())
        imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        }
        forbidden = ("schemes", "crypto", "envelope", "apig", "openapi")
        assert not {m for m in imported if m.split(".")[-1] in forbidden}, (name, imported)
        names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
        assert not names & set(forbidden), (name, names)


@pytest.mark.parametrize(
    "message,variant",
    [
        ("flag=1&tenantId=t1&timeStamp=20220413093539534", "blank-skipped"),
        ("flag=1&instanceId=  &orderId=&tenantId=t1&timeStamp=20220413093539534", "blank-kept"),
        ("flag=1&instanceId=&orderId=&tenantId=t1&timeStamp=20220413093539534", "blank-emptied"),
    ],
)
def test_kit_v1_accepts_blank_members_skipped_kept_or_emptied_u8(settings, message, variant):
    """§2.2 steps 2 and 7 (U8): blanks skipped first, then kept — as received, or as `k=`."""
    settings.KOOGALLERY_KIT_ACCESS_KEY = TK
    body = {"instanceId": "  ", "orderId": None, "tenantId": "t1", "flag": 1, "timeStamp": "20220413093539534"}
    token = base64.b64encode(
        hmac.new((TK + "20220413093539534").encode(), message.encode(), "sha256").digest()
    ).decode()
    inbound = Inbound(
        "POST", "/koogallery/produce/produceAPI/tenantSync", "", {"authtoken": token}, json.dumps(body).encode()
    )
    assert schemes.verify_kit_v1(inbound).variant == variant
