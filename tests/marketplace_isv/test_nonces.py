"""The nonce store: Redis first, the database when Redis does not answer, and both for a while
after an outage so that nothing accepted during it can be replayed once Redis is back."""

import pytest

from marketplace_isv import nonces
from marketplace_isv.envelope import AuthError
from marketplace_isv.models import SeenNonce
from marketplace_isv.simulator.client import new_nonce

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_store(settings, private_redis, monkeypatch):
    """The nonce store pointed at a private Redis this test may stop."""
    settings.REDIS_URL = private_redis.url
    monkeypatch.setattr(nonces, "_redis_client", None)
    monkeypatch.setattr(nonces, "_skip_redis_until", 0.0)
    monkeypatch.setattr(nonces, "_degraded_until", 0.0)
    return private_redis


def test_a_nonce_is_claimed_in_redis_once(redis_store):
    nonce = new_nonce()
    nonces.claim("v2", nonce)
    with pytest.raises(AuthError, match="nonce already used"):
        nonces.claim("v2", nonce)
    assert not SeenNonce.objects.exists()


def test_the_same_nonce_in_another_scheme_is_a_different_claim(redis_store):
    nonce = new_nonce()
    nonces.claim("v2", nonce)
    nonces.claim("kit_v2", nonce)


def test_with_redis_down_nonces_are_claimed_in_the_database(redis_store):
    redis_store.stop()
    nonce = new_nonce()
    nonces.claim("v2", nonce)
    assert SeenNonce.objects.filter(key=nonces.key("v2", nonce)).exists()
    with pytest.raises(AuthError):
        nonces.claim("v2", nonce)


def test_a_nonce_accepted_during_an_outage_is_refused_after_redis_returns(redis_store, monkeypatch):
    redis_store.stop()
    nonce = new_nonce()
    nonces.claim("v2", nonce)  # database only
    redis_store.start()
    monkeypatch.setattr(nonces, "_skip_redis_until", 0.0)  # do not wait the retry pause
    with pytest.raises(AuthError):
        nonces.claim("v2", nonce)


def test_without_redis_the_database_is_the_store(settings):
    settings.REDIS_URL = None
    nonce = new_nonce()
    nonces.claim("v2", nonce)
    with pytest.raises(AuthError):
        nonces.claim("v2", nonce)


def test_nonces_of_any_length_and_content_are_stored_by_their_digest(settings):
    settings.REDIS_URL = None  # the database store, where a raw NUL could not be kept
    for nonce in ("x" * 5000, "a\x00b", "中文"):
        nonces.claim("v2", nonce)
        with pytest.raises(AuthError):
            nonces.claim("v2", nonce)
    assert all(len(key) == len("v2:") + 64 for key in SeenNonce.objects.values_list("key", flat=True))


def test_prune_forgets_only_expired_database_nonces():
    from datetime import timedelta

    from django.utils import timezone

    SeenNonce.objects.create(key="v2:old", seen_at=timezone.now() - nonces.retention() - timedelta(seconds=1))
    SeenNonce.objects.create(key="v2:new", seen_at=timezone.now())
    assert nonces.prune() == 1
    assert list(SeenNonce.objects.values_list("key", flat=True)) == ["v2:new"]
