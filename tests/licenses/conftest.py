"""Fixtures of the licence tests: a signing key of the session's own, a verifier holding its public
half (as the ISV's software would), and helpers that send License calls through the simulator."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.test import Client

from licenses import signing
from licenses.api import PerAddressThrottle
from licenses.verifier import LicenseVerifier
from marketplace_isv.simulator.client import new_order_id


@pytest.fixture(scope="session")
def signing_key_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("license-keys") / "signing.pem"
    signing.generate_key_file(path)
    return path


@pytest.fixture(autouse=True)
def license_settings(settings, signing_key_file):
    settings.ISV_LICENSE_SIGNING_KEY_FILE = str(signing_key_file)
    settings.ISV_LICENSE_AUTOGENERATE_KEY = False
    settings.ISV_LICENSE_EXTRA_PUBLIC_KEY_FILES = []
    settings.ISV_LICENSE_FINGERPRINT_REQUIRED = []
    settings.ISV_LICENSE_DEFAULT_DEVICE_QUOTA = 1
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast admin logins
    return settings


@pytest.fixture
def shipped_verifier(signing_key_file) -> LicenseVerifier:
    """What the ISV ships: the verifier module and the exported public key, nothing else."""
    return LicenseVerifier.from_pem(signing.signing_key().public_key().export_key(format="PEM"))


@pytest.fixture
def api() -> Client:
    """A client of the check API with an address of its own (its rate-limit bucket in the shared
    Redis cache emptied), so other tests and earlier runs never interfere."""
    octets = uuid.uuid4().bytes[:3]
    address = "10." + ".".join(str(b) for b in octets)
    cache.delete(PerAddressThrottle.cache_format % {"scope": PerAddressThrottle.scope, "ident": address})
    return Client(REMOTE_ADDR=address)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def in_days(days: float) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


def get_license(koogallery, *, order_id: str | None = None, test: bool = True, **params):
    """A V1 getLicense for a yearly licence of 5 seats, unless params say otherwise."""
    fields = {
        "customerId": "68cbc86abc2018ab880d92f36422fa0e",
        "customerName": "huaweitest",
        "businessId": str(uuid.uuid4()),
        "orderId": order_id or new_order_id(),
        "skuCode": "sku-pro",
        "productId": "00301-666666-0--0",
        "expireTime": stamp(in_days(365)),
        "periodType": "year",
        "periodNumber": "1",
        "amount": "5",
    }
    fields.update(params)
    return koogallery.v1("getLicense", {k: v for k, v in fields.items() if v is not None}, test=test)


def issued(koogallery, **params) -> tuple[str, str]:
    """(instanceId, licence key) of a new V1 licence."""
    data = get_license(koogallery, **params).assert_envelope()
    assert data["resultCode"] == "000000", data
    return data["instanceId"], data["license"]


def check(api: Client, token: str, fingerprint: str | None = None, **meta):
    """POST /api/licenses/check; `meta` are request META entries (e.g. HTTP_X_FORWARDED_FOR)."""
    body = {"token": token, **({"fingerprint": fingerprint} if fingerprint is not None else {})}
    return api.post("/api/licenses/check", body, content_type="application/json", **meta)
