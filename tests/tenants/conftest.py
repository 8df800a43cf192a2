"""Fixtures for the tenants app: the seller's RSA key pair, a Kit sender for either generation,
and the fake OneAccess authentication server (served by the simulator)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from marketplace_isv.crypto import generate_rsa_key, rsa_oaep_encrypt
from marketplace_isv.simulator.client import KooGallery, Reply, utc8_stamp
from marketplace_isv.simulator.fake_oneaccess import FakeOneAccess
from marketplace_isv.simulator.signing import kit_v1_auth_token

V1_STRING_MEMBERS = ("userList", "orgInfo")


@pytest.fixture(scope="session")
def rsa_key():
    return generate_rsa_key(3072)


@pytest.fixture(scope="session")
def other_rsa_key():
    """A key pair that is not the seller's: what it encrypts cannot be decrypted."""
    return generate_rsa_key(3072)


@pytest.fixture
def wrong_key_path(tmp_path, other_rsa_key):
    path = tmp_path / "wrong.pem"
    path.write_bytes(other_rsa_key.export_key(format="PEM"))
    return path


@pytest.fixture(scope="session")
def rsa_key_path(tmp_path_factory, rsa_key):
    path = tmp_path_factory.mktemp("rsa") / "koogallery_rsa.pem"
    path.write_bytes(rsa_key.export_key(format="PEM", pkcs=8))
    return path


@pytest.fixture(autouse=True)
def seller_rsa_key(settings, rsa_key_path):
    settings.KOOGALLERY_RSA_PRIVATE_KEY_FILE = str(rsa_key_path)


def stamp(seconds: float = 0) -> str:
    """A Kit timeStamp (UTC+8 yyyyMMddHHmmssSSS) `seconds` from now."""
    return utc8_stamp(datetime.now(UTC) + timedelta(seconds=seconds))


class Kit:
    """Sends a Kit call in one generation, shaped as KooGallery shapes it: in V1, `userList` and
    `orgInfo` travel as JSON strings (§4.5.6). Unless given, instanceId/orderId/testFlag are set."""

    def __init__(self, koogallery: KooGallery, generation: int):
        self.koogallery = koogallery
        self.generation = generation

    def __call__(self, interface: str, /, **fields: Any) -> Reply:
        fields.setdefault("instanceId", "inst-0001")
        if interface == "tenantSync":
            fields.setdefault("orderId", "CS2404130935ABCDE")
        if self.generation == 1:
            fields = self._v1_shaped(fields)
            reply = self.koogallery.kit_v1(interface, fields)
        else:
            reply = self.koogallery.kit_v2(interface, fields)
        reply.assert_envelope()
        return reply

    def exact(self, interface: str, body: dict[str, Any]) -> Reply:
        """Sends `body` with no member added (not even testFlag or timeStamp), signed over exactly
        what is sent. A V1 body without timeStamp still carries an authToken (§2.2 needs the
        timeStamp to verify it: such a call is refused before its fields are read)."""
        if self.generation == 2:
            raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            reply = self.koogallery.kit_v2(interface, body, raw_body=raw)
        else:
            body = self._v1_shaped(body)
            raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            token = kit_v1_auth_token(self.koogallery.kit_key, {"timeStamp": "", **body})
            headers = self.koogallery.extra_headers
            self.koogallery.extra_headers = {**headers, "authToken": token}  # the simulator would add timeStamp
            try:
                reply = self.koogallery.kit_v1(interface, body, raw_body=raw, omit_token=True)
            finally:
                self.koogallery.extra_headers = headers
        reply.assert_envelope()
        return reply

    @staticmethod
    def _v1_shaped(fields: dict[str, Any]) -> dict[str, Any]:
        fields = dict(fields)
        for member in V1_STRING_MEMBERS:
            if isinstance(fields.get(member), (list, dict)):
                fields[member] = json.dumps(fields[member], ensure_ascii=False, separators=(",", ":"))
        return fields

    def snapshot(self, tenant_id: str, orgs: list[tuple[str, str, str]], **fields: Any) -> Reply:
        """allOrgSync with (orgCode, name, parentCode) triples: V1 `orgInfo` with `name`,
        V2 `orgInfoList` with `orgName` (§4.5.5)."""
        if self.generation == 1:
            entries = [{"orgCode": c, "name": n, "parentCode": p} for c, n, p in orgs]
            return self("allOrgSync", tenantId=tenant_id, orgInfo=entries, **fields)
        entries = [{"orgCode": c, "orgName": n, "parentCode": p} for c, n, p in orgs]
        return self("allOrgSync", tenantId=tenant_id, orgInfoList=entries, **fields)

    def encrypt(self, rsa_key, secret: str, parameter_set: int = 0) -> str:
        return rsa_oaep_encrypt(secret, rsa_key.publickey(), parameter_set)


@pytest.fixture(params=[1, 2], ids=["kit_v1", "kit_v2"])
def kit(request, koogallery) -> Kit:
    """A Kit sender; every test using it runs once per generation."""
    return Kit(koogallery, request.param)


@pytest.fixture
def kit_v2(koogallery) -> Kit:
    return Kit(koogallery, 2)


@pytest.fixture
def kit_v1(koogallery) -> Kit:
    return Kit(koogallery, 1)


@pytest.fixture(scope="session")
def fake_oneaccess_server():
    fake = FakeOneAccess().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_oneaccess(fake_oneaccess_server):
    """The fake OneAccess server, emptied for this test."""
    fake_oneaccess_server.reset()
    return fake_oneaccess_server
