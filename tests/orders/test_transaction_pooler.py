"""Behind a pooler in transaction mode (ISV_DB_TRANSACTION_POOLER, e.g. pgbouncer with
`pool_mode = transaction`) the service keeps nothing in a database session: the hot paths' SQL is
sent whole instead of PREPAREd, the journal writer's asynchronous commit is set per transaction,
and the jobs outbox polls instead of LISTENing. Each test checks the session afterwards, and the
same path with the setting off, so it would notice session state either way."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings as django_settings
from django.db import connection

from marketplace_isv import journal_writer
from marketplace_isv.envelope import Result
from marketplace_isv.journal import Draft
from marketplace_isv.models import Delivery
from marketplace_isv.simulator.client import KooGallery
from orders import outbox
from orders.models import Instance, Job
from tests.orders.conftest import new_v2
from tests.support import processes

pytestmark = pytest.mark.django_db(transaction=True)


def session_value(sql: str):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


@pytest.fixture
def fresh_session():
    """Each test starts on a new database session and leaves none behind."""
    connection.close()
    yield
    connection.close()


@pytest.mark.parametrize("pooler,prepared", [(True, 0), (False, 2)])
def test_the_hot_paths_prepare_nothing_behind_a_pooler(koogallery, settings, fresh_session, pooler, prepared):
    settings.ISV_DB_TRANSACTION_POOLER = pooler
    reply = new_v2(koogallery, test=False)  # a fresh V2 newInstance: the one statement
    assert reply.code == "000004"
    instance_id = reply.json["instanceId"]
    instance = Instance.objects.get(instance_id=instance_id)
    assert Job.objects.filter(instance=instance, kind="provision").exists()
    assert Delivery.objects.filter(instance_id=instance_id, activity="newInstance").exists()
    queried = koogallery.v2("queryInstance", {"instanceId": instance_id})  # the one-id SELECT
    assert queried.code == "000000" and queried.json["info"][0]["instanceId"] == instance_id
    assert session_value("SELECT count(*) FROM pg_prepared_statements") == prepared


@pytest.mark.parametrize("pooler,after", [(True, "on"), (False, "off")])
def test_the_journal_writer_sets_asynchronous_commit_per_transaction_behind_a_pooler(
    settings, fresh_session, pooler, after
):
    settings.ISV_DB_TRANSACTION_POOLER = pooler
    draft = Draft("v2", "POST", "/koogallery/produce", "", {}, "127.0.0.1")
    draft.take_fields({"orderId": "CS-POOLER"})
    journal_writer.JournalWriter()._insert([draft.values(Result.ok(), b"{}")])
    assert Delivery.objects.filter(order_id="CS-POOLER").exists()
    assert session_value("SHOW synchronous_commit") == after  # what the session keeps


@pytest.mark.parametrize("pooler,channels", [(True, 0), (False, 1)])
def test_the_outbox_polls_instead_of_listening_behind_a_pooler(settings, fresh_session, pooler, channels):
    settings.ISV_DB_TRANSACTION_POOLER = pooler
    dispatcher = outbox.Dispatcher(poll=0.05)
    dispatcher._listen()
    assert session_value("SELECT count(*) FROM pg_listening_channels()") == channels
    dispatcher._wait(0.05)  # a poll either way, nothing owed


@pytest.fixture
def pgbouncer():
    db = django_settings.DATABASES["default"]
    pooler = processes.PrivatePgbouncer(
        target_host=db.get("HOST") or "127.0.0.1", target_port=int(db.get("PORT") or 5432), user=db.get("USER") or ""
    ).start()
    yield pooler
    pooler.stop()


def purchases_through(pooler, *, flag: str, calls: int = 24) -> list[str]:
    """newInstance then queryInstance, `calls` times from 6 threads, against gunicorn (2 workers)
    whose database is behind the pooler: the result codes."""
    env = processes.service_env(
        DATABASE_URL=pooler.url(django_settings.DATABASES["default"]["NAME"]), ISV_DB_TRANSACTION_POOLER=flag
    )
    server = processes.gunicorn(env, workers=2).start()
    try:
        client = KooGallery(
            f"http://127.0.0.1:{server.port}",
            access_key=django_settings.KOOGALLERY_ACCESS_KEY,
            kit_key=django_settings.KOOGALLERY_KIT_ACCESS_KEY,
        )

        def purchase(_):
            order = "CS" + uuid.uuid4().hex[:14].upper()
            fields = {"orderId": order, "orderLineId": f"{order}-000001", "businessId": str(uuid.uuid4())}
            created = client.v2("newInstance", fields)
            queried = client.v2("queryInstance", {"instanceId": created.json.get("instanceId") or "none"})
            return [created.code, queried.code]

        with ThreadPoolExecutor(6) as pool:
            return [code for codes in pool.map(purchase, range(calls)) for code in codes]
    finally:
        server.stop()


@pytest.mark.services
def test_through_a_real_transaction_pooler_every_call_is_answered(pgbouncer):
    """pgbouncer with one server connection for every client. Another client of the pool has left
    statements of the same names prepared on that shared session, as a second worker process
    would: with the setting every purchase and query is answered; without it the hot paths'
    PREPAREs collide with them — which shows the sessions behind the pooler really are shared."""
    import psycopg2

    other = psycopg2.connect(pgbouncer.url(django_settings.DATABASES["default"]["NAME"]))
    other.autocommit = True
    try:
        with other.cursor() as cursor:
            cursor.execute("PREPARE orders_answer_row AS SELECT 1")
            cursor.execute("PREPARE orders_insert_purchase_journaled AS SELECT 1")
        assert set(purchases_through(pgbouncer, flag="1")) <= {"000000", "000004"}
        assert set(purchases_through(pgbouncer, flag="0", calls=4)) == {"000005"}
    finally:
        other.close()
