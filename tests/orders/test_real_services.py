"""Orders against real services that fail: a Redis outage, a Celery worker killed mid-job, and a
PostgreSQL outage. Private Redis / PostgreSQL instances are stopped, never the machine's own."""

import sys
import time
import uuid

import psycopg2
import pytest
from django.utils import timezone

from config.celery import app as celery_app
from marketplace_isv.simulator.client import KooGallery, new_order_id
from orders import jobs
from orders.models import DemoWorkspace, Instance, Job, Transition
from tests.conftest import ACCESS_KEY
from tests.orders.conftest import new_v2, use_broker
from tests.support import processes

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout=60.0, what="condition"):
    """Poll until `predicate()` holds (no timing is asserted: only the end state)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout}s")


@pytest.fixture
def private_broker(private_redis, settings):
    """This process publishes to a private Redis that the test may stop and start again."""
    settings.ISV_JOB_DISPATCH = "broker"
    settings.ORDERS_JOB_SWEEP_GRACE_SECONDS = 0
    original = celery_app.conf.broker_url
    use_broker(private_redis.url)
    yield private_redis
    use_broker(original)


@pytest.fixture
def workers(service_env, private_broker):
    started: list[processes.Process] = []

    def start(**env):
        worker = processes.celery_worker({**service_env, "REDIS_URL": private_broker.url, **env}).start(timeout=60)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def test_a_worker_alone_dispatches_and_runs_the_jobs_the_calls_committed(koogallery, workers):
    workers()  # `celery -A config worker`: its outbox dispatcher publishes, no sweep, no beat
    answers = [new_v2(koogallery).assert_envelope() for _ in range(3)]
    assert {a["resultCode"] for a in answers} == {"000004"}
    wait_for(lambda: Job.objects.filter(state="done").count() == 3, what="every job done")
    assert set(Job.objects.values_list("attempts", flat=True)) == {1}
    assert DemoWorkspace.objects.count() == 3


def test_calls_are_answered_while_redis_is_down_and_their_jobs_run_once_it_is_back(koogallery, private_broker, workers):
    workers()
    private_broker.stop()
    answers = [new_v2(koogallery).assert_envelope() for _ in range(5)]
    assert {a["resultCode"] for a in answers} == {"000004"}
    assert Instance.objects.count() == 5
    assert set(Job.objects.values_list("state", "attempts")) == {("pending", 0)}

    private_broker.start()  # same port: the worker reconnects
    jobs.jobs_sweep()
    wait_for(lambda: not Job.objects.exclude(state="done").exists(), what="every job done")
    assert set(Instance.objects.values_list("provisioning_state", flat=True)) == {"ready"}
    assert set(Job.objects.values_list("attempts", flat=True)) == {1}
    assert DemoWorkspace.objects.count() == 5


def test_a_job_killed_mid_way_completes_after_a_restart_with_its_effect_applied_once(koogallery, workers):
    slow = workers(ORDERS_DEMO_DELAY_SECONDS="60", ORDERS_JOB_LEASE_SECONDS="3")
    data = new_v2(koogallery).assert_envelope()
    instance_id = data["instanceId"]
    # the worker created the workspace and is still "provisioning" when it dies
    wait_for(lambda: DemoWorkspace.objects.filter(instance_id=instance_id).exists(), what="workspace created")
    assert Job.objects.get().state == "running"
    slow.kill()

    workers()
    wait_for(lambda: Job.objects.get().lease_until < timezone.now(), what="lease expiry")
    jobs.jobs_sweep()
    wait_for(lambda: Job.objects.get().state == "done", what="job done")

    job = Job.objects.get()
    assert job.attempts == 2
    assert DemoWorkspace.objects.count() == 1
    instance = Instance.objects.get()
    workspace = DemoWorkspace.objects.get()
    assert (instance.provisioning_state, instance.app_password) == ("ready", workspace.admin_password)
    assert Transition.objects.filter(event="provisioned").count() == 1
    assert koogallery.v2("queryInstance", {"instanceId": instance_id}).assert_envelope()["resultCode"] == "000000"


@pytest.fixture
def service_on_private_postgres(private_postgres, service_env):
    env = {**service_env, "DATABASE_URL": private_postgres.url}
    migrate = processes.Process([sys.executable, "manage.py", "migrate", "--noinput"], env).start()
    assert migrate.proc.wait(120) == 0, migrate.output()[-2000:]
    server = processes.gunicorn(env, workers=1).start()
    yield server
    server.stop()


def instances_for(private_postgres, order_id: str) -> int:
    with psycopg2.connect(private_postgres.url, connect_timeout=5) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM orders_instance WHERE order_id = %s", [order_id])
        return cursor.fetchone()[0]


def test_postgresql_down_gives_a_prompt_000005_and_nothing_half_written(private_postgres, service_on_private_postgres):
    kg = KooGallery(f"http://127.0.0.1:{service_on_private_postgres.port}", access_key=ACCESS_KEY)
    assert new_v2(kg).assert_envelope()["resultCode"] == "000004"  # the service works on that database

    order_id = new_order_id()
    fields = {"orderId": order_id, "orderLineId": f"{order_id}-000001"}
    private_postgres.stop()
    down = kg.v2("newInstance", {**fields, "businessId": str(uuid.uuid4())}).assert_envelope()
    assert down["resultCode"] == "000005"
    v1 = kg.v1("queryInstance", {"instanceId": "anything"}).assert_envelope()
    assert v1["resultCode"] == "000005"

    private_postgres.start()
    assert instances_for(private_postgres, order_id) == 0
    again = kg.v2("newInstance", {**fields, "businessId": str(uuid.uuid4())}).assert_envelope()
    assert again["resultCode"] == "000004"
    assert instances_for(private_postgres, order_id) == 1
