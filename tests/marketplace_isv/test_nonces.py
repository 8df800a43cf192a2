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


# --- every process, not only the one that saw the outage -------------------------------------------

PROCESS_STATE = ("_redis_client", "_redis_client_url", "_skip_redis_until", "_degraded_until", "_marker_owed")


def _new_process(monkeypatch) -> None:
    """This module's state as a freshly started worker process has it."""
    for name, value in zip(PROCESS_STATE, (None, None, 0.0, 0.0, False), strict=True):
        monkeypatch.setattr(nonces, name, value)


def _state() -> dict:
    return {name: getattr(nonces, name) for name in PROCESS_STATE}


def _resume(state: dict) -> None:
    for name, value in state.items():
        setattr(nonces, name, value)


def _unreachable_redis() -> str:
    from tests.support.processes import free_port

    return f"redis://127.0.0.1:{free_port()}/0"


def test_a_process_that_never_saw_the_outage_refuses_a_nonce_accepted_during_it(redis_store, settings, monkeypatch):
    nonces.claim("v2", new_nonce())  # process B: connected to Redis, nothing in the database
    process_b = _state()

    _new_process(monkeypatch)  # process A loses Redis and accepts a nonce into the database
    settings.REDIS_URL = _unreachable_redis()
    nonce = new_nonce()
    nonces.claim("v2", nonce)
    settings.REDIS_URL = redis_store.url  # Redis answers A again: A sets the marker
    nonces._skip_redis_until = 0.0
    nonces.claim("v2", new_nonce())

    _resume(process_b)  # B's own connection never failed
    with pytest.raises(AuthError, match="nonce already used"):
        nonces.claim("v2", nonce)


def test_a_process_starting_after_an_outage_finds_the_nonces_a_dead_process_left(redis_store, settings, monkeypatch):
    _new_process(monkeypatch)  # process A accepts a nonce into the database, then dies unmarked
    settings.REDIS_URL = _unreachable_redis()
    nonce = new_nonce()
    nonces.claim("v2", nonce)

    _new_process(monkeypatch)  # process C starts with Redis up
    settings.REDIS_URL = redis_store.url
    with pytest.raises(AuthError, match="nonce already used"):
        nonces.claim("v2", nonce)


def test_in_steady_state_a_claim_is_one_redis_round_trip_and_no_query(redis_store, django_assert_num_queries):
    nonces.claim("v2", new_nonce())  # connects (and looks at the database once)
    with django_assert_num_queries(0):
        nonces.claim("v2", new_nonce())
