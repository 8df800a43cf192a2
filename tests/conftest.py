"""Shared fixtures. KooGallery is the only thing imitated (the simulator); PostgreSQL, Redis and
the Celery worker are real. `make test` provides DATABASE_URL and REDIS_URL."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from marketplace_isv.simulator.client import KooGallery, WsgiTarget
from marketplace_isv.simulator.fake_openapi import FakeOpenApi
from tests.support import processes

ACCESS_KEY = "test-access-key-0123456789"
KIT_KEY = "test-kit-key-9876543210"
OLD_KEY = "test-previous-key-5555"
OPENAPI_AK = "test-openapi-ak"
OPENAPI_SK = "test-openapi-sk-0123456789"


def pytest_configure(config):
    engine = django_settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql" or not django_settings.REDIS_URL:
        raise pytest.UsageError(
            "The tests run against real PostgreSQL and Redis: use `make test`, or set DATABASE_URL "
            "(postgres://…) and REDIS_URL yourself."
        )


@pytest.fixture(scope="session", autouse=True)
def session_queue_dropped():
    """This session's Celery queue (named per session) is dropped at the end, with whatever
    tasks were left in it, so test runs leave nothing behind in Redis."""
    yield
    import redis

    queue = django_settings.CELERY_TASK_DEFAULT_QUEUE
    try:
        client = redis.Redis.from_url(django_settings.REDIS_URL, socket_connect_timeout=1)
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    except redis.RedisError:
        pass


@pytest.fixture(scope="session", autouse=True)
def journal_writer_stopped(django_db_setup):
    """The batch writer's thread holds a connection of its own: close it before the test
    database is dropped."""
    yield
    from marketplace_isv import journal_writer

    if journal_writer._writer is not None:
        journal_writer._writer.stop()


@pytest.fixture(scope="session")
def fake_openapi_server():
    fake = FakeOpenApi(ak=OPENAPI_AK, sk=OPENAPI_SK, access_key=ACCESS_KEY).start()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def protocol_settings(settings, fake_openapi_server):
    """Known keys (the Kit key differs from the basic key, to catch mix-ups), the fake open
    API, and jobs run in-process after commit unless a test asks for the real worker."""
    settings.KOOGALLERY_ACCESS_KEY = ACCESS_KEY
    settings.KOOGALLERY_LICENSE_ACCESS_KEY = ACCESS_KEY
    settings.KOOGALLERY_NOTIFY_ACCESS_KEY = ACCESS_KEY
    settings.KOOGALLERY_KIT_ACCESS_KEY = KIT_KEY
    settings.KOOGALLERY_PREVIOUS_ACCESS_KEYS = []
    settings.KOOGALLERY_OPENAPI_URL = fake_openapi_server.url
    settings.KOOGALLERY_OPENAPI_FALLBACK_URL = ""
    settings.KOOGALLERY_OPENAPI_AK = OPENAPI_AK
    settings.KOOGALLERY_OPENAPI_SK = OPENAPI_SK
    settings.ISV_JOB_DISPATCH = "inline"
    # Journal rows written at once, in the test's transaction (the batch writer has its own test).
    settings.ISV_JOURNAL_ASYNC = False
    return settings


@pytest.fixture
def fake_openapi(fake_openapi_server):
    """The fake open API, emptied for this test."""
    fake_openapi_server.received.clear()
    fake_openapi_server.orders.clear()
    fake_openapi_server.failures.clear()
    fake_openapi_server.strict = False
    fake_openapi_server.usage_taken.clear()
    fake_openapi_server.usage_refusals.clear()
    fake_openapi_server.usage_detail = True
    yield fake_openapi_server
    fake_openapi_server.failures.clear()


def _in_test_transaction(app):
    """Call the WSGI app as Django's test client would: without closing the test's database
    connection at the end of the request (Django's ClientHandler does the same)."""
    from django.core import signals
    from django.db import close_old_connections

    def call(environ, start_response):
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        try:
            return app(environ, start_response)
        finally:
            signals.request_started.connect(close_old_connections)
            signals.request_finished.connect(close_old_connections)

    return call


@pytest.fixture
def koogallery() -> KooGallery:
    """The simulator, calling the production WSGI entry point (config.wsgi.application) in-process."""
    from config.wsgi import application

    return KooGallery(WsgiTarget(_in_test_transaction(application)), access_key=ACCESS_KEY, kit_key=KIT_KEY)


@pytest.fixture
def koogallery_via_django(client) -> KooGallery:
    """The simulator through Django's own handler and URL table (the second adapter)."""
    return KooGallery(client, access_key=ACCESS_KEY, kit_key=KIT_KEY)


def subprocess_env(fake_openapi_server, **overrides: str) -> dict[str, str]:
    """Environment for a worker or server process of the tests: this session's keys, database and
    queue, and the fake open API (`overrides` win)."""
    return processes.service_env(
        KOOGALLERY_ACCESS_KEY=ACCESS_KEY,
        KOOGALLERY_KIT_ACCESS_KEY=KIT_KEY,
        KOOGALLERY_OPENAPI_URL=fake_openapi_server.url,
        KOOGALLERY_OPENAPI_AK=OPENAPI_AK,
        KOOGALLERY_OPENAPI_SK=OPENAPI_SK,
        **overrides,
    )


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, fake_openapi_server):
    """One real Celery worker for the session, on this session's own queue and the test database.

    Its orders job dispatcher (orders.outbox) is off: a session-long dispatcher would publish the
    jobs of every later test that commits them, including tests that keep jobs undelivered or
    deliver them through workers of their own. `broker_jobs` dispatches for its test instead."""
    env = subprocess_env(fake_openapi_server, ORDERS_JOB_DISPATCHER="0")
    worker = processes.celery_worker(env).start(timeout=60)
    yield worker
    worker.stop()


@pytest.fixture
def broker_jobs(transactional_db, celery_worker, settings):
    """Jobs go through Redis to the real worker (the test must wait for their effects): on-commit
    publishes as in production, and the orders outbox through a dispatcher running for this test
    (the same `orders.outbox.Dispatcher` a worker runs)."""
    from orders.outbox import Dispatcher

    settings.ISV_JOB_DISPATCH = "broker"
    dispatcher = Dispatcher(poll=0.5)
    dispatcher.start()
    yield celery_worker
    dispatcher.stop()


@pytest.fixture
def service_env(transactional_db, fake_openapi_server):
    """Environment for subprocesses (gunicorn, workers) that share this test's database."""
    return subprocess_env(fake_openapi_server)


@pytest.fixture
def live_service(service_env):
    """The service under gunicorn with two worker processes, on a port of its own."""
    server = processes.gunicorn(service_env, workers=2).start()
    yield server
    server.stop()


@pytest.fixture
def private_redis():
    redis = processes.PrivateRedis().start()
    yield redis
    redis.stop()


@pytest.fixture
def private_postgres():
    pg = processes.PrivatePostgres().init().start()
    yield pg
    pg.destroy()
