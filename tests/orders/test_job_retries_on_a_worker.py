"""Job retries on a real Celery worker (docs/orders.md §5, §6): the worker's own Redis, the test
database, and a provisioner that is down for its first calls (tests.orders.provisioners.Flaky,
selected with ISV_PROVISIONER). Nothing of the job machinery is replaced: the worker's outbox
dispatcher publishes the jobs, Celery schedules the retries, and the operator clicks in the admin.

The worker retries after 1–2 s, 2–4 s, 4–8 s … (ORDERS_JOB_RETRY_BACKOFF_SECONDS = 2) and fails a
job at its third attempt; with no sweep grace, a waiting job's next_run_at is the moment its retry
is due. The provisioner logs the time of each call: the waits between calls are the backoffs."""

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from config.celery import app as celery_app
from orders.models import Alert, DemoWorkspace, Instance, Job, Transition
from tests.conftest import subprocess_env
from tests.orders.conftest import created_v2, use_broker
from tests.support import processes

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BACKOFF = 2.0  # the longest wait before the first retry; doubled for each later one
MAX_ATTEMPTS = 3
LATE = 3.0  # how much later than its backoff a retry may run on a busy machine


class Backend:
    """The files the Flaky provisioner shares with the test (see tests.orders.provisioners)."""

    def __init__(self, directory: Path):
        self.directory = directory
        (directory / "calls").write_text("")
        self.down_for(0)

    def down_for(self, calls: int) -> None:
        (self.directory / "failures").write_text(str(calls))

    def calls(self, instance: Instance) -> list[float]:
        lines = (self.directory / "calls").read_text().splitlines()
        return [
            float(at) for at, instance_id in (line.split() for line in lines) if instance_id == instance.instance_id
        ]


@pytest.fixture(scope="module")
def backend_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("flaky-backend")


@pytest.fixture(scope="module")
def module_redis():
    """A Redis of this module's own: the retries it schedules cannot reach the session's worker."""
    redis = processes.PrivateRedis().start()
    yield redis
    redis.stop()


@pytest.fixture(scope="module")
def worker(django_db_setup, fake_openapi_server, module_redis, backend_dir):
    """`celery -A config worker` with its outbox dispatcher, on the test database."""
    env = subprocess_env(
        fake_openapi_server,
        REDIS_URL=module_redis.url,
        ISV_PROVISIONER="tests.orders.provisioners.Flaky",
        FLAKY_BACKEND_DIR=str(backend_dir),
        ORDERS_JOB_RETRY_BACKOFF_SECONDS=str(BACKOFF),
        ORDERS_JOB_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
        ORDERS_JOB_SWEEP_GRACE_SECONDS="0",
    )
    worker = processes.celery_worker(env).start(timeout=60)
    yield worker
    worker.stop()


@pytest.fixture
def backend(worker, backend_dir, module_redis, settings, fake_openapi):
    """The backend, up until the test says otherwise; the test's calls commit their jobs to the
    outbox, which the worker's dispatcher publishes (ISV_JOB_DISPATCH=broker, as in production)."""
    settings.ISV_JOB_DISPATCH = "broker"
    original = celery_app.conf.broker_url
    use_broker(module_redis.url)
    yield Backend(backend_dir)
    use_broker(original)


def provisioning_of(instance: Instance) -> Job:
    return Job.objects.get(instance=instance, kind=Job.Kind.PROVISION)


def waiting(instance: Instance, attempts: int) -> Job | None:
    """The provisioning job, once it waits out its backoff after `attempts` attempts."""
    job = provisioning_of(instance)
    return job if (job.state, job.attempts) == (Job.State.RETRY, attempts) else None


def finished(instance: Instance) -> Job | None:
    job = provisioning_of(instance)
    return job if job.state in (Job.State.DONE, Job.State.FAILED) else None


def waits(calls: list[float]) -> list[float]:
    return [later - earlier for earlier, later in zip(calls, calls[1:], strict=False)]


def skipped_runs(worker) -> int:
    """Jobs the worker's messages found nothing to do for (Celery logs each task's result:
    "Task orders.run_job[…] succeeded in 0.01s: 'skipped'")."""
    lines = worker.output().splitlines()
    return sum(1 for line in lines if "orders.run_job[" in line and line.endswith(": 'skipped'"))


def retry_now(admin_client, instance: Instance) -> str:
    """The console's action on the instance list, "Retry provisioning": the messages it shows."""
    data = {"action": "retry_provisioning", "_selected_action": [instance.pk]}
    response = admin_client.post(reverse("admin:orders_instance_changelist"), data, follow=True)
    assert response.status_code == 200
    return " | ".join(str(message) for message in response.context["messages"])


def test_a_provisioning_down_twice_is_retried_with_growing_waits_and_applied_once(koogallery, backend):
    backend.down_for(2)
    instance = created_v2(koogallery, test=False)  # real traffic: ISV_PROVISIONER applies (§5.4)
    job = processes.wait_for(lambda: finished(instance), timeout=30)

    calls = backend.calls(instance)
    assert len(calls) == 3
    first, second = waits(calls)
    # After attempt n the retry waits half to all of 2 s × 2ⁿ⁻¹, counted from the job's attempts.
    assert BACKOFF / 2 <= first <= BACKOFF + LATE
    assert BACKOFF <= second <= 2 * BACKOFF + LATE
    assert (job.state, job.attempts) == ("done", 3)
    assert job.last_error == "ProvisionerError: backend unreachable (call 2)"  # kept: "(an earlier attempt)"
    instance.refresh_from_db()
    assert (instance.provisioning_state, instance.failure_reason) == ("ready", "")
    workspace = DemoWorkspace.objects.get()
    assert (workspace.instance_id, instance.app_password) == (instance.instance_id, workspace.admin_password)
    assert Transition.objects.filter(instance=instance, event="provisioned").count() == 1
    assert not Alert.objects.exists()
    time.sleep(1.5)  # nothing else was left to run it again
    assert len(backend.calls(instance)) == 3


def test_a_provisioning_out_of_attempts_is_failed_with_an_operator_alert(koogallery, backend):
    backend.down_for(99)
    instance = created_v2(koogallery, test=False)
    job = processes.wait_for(lambda: finished(instance), timeout=30)

    assert len(backend.calls(instance)) == MAX_ATTEMPTS
    assert (job.state, job.attempts, job.result_code) == ("failed", MAX_ATTEMPTS, "000005")
    assert job.last_error == "ProvisionerError: backend unreachable (call 3)"
    instance.refresh_from_db()
    assert (instance.provisioning_state, instance.provisioned_at) == ("failed", None)
    assert instance.failure_reason == job.last_error
    alert = Alert.objects.get(kind=Alert.Kind.JOB_FAILED, instance=instance, resolved_at__isnull=True)
    assert alert.message == f"provision job #{job.pk} failed after 3 attempt(s): {job.last_error}"
    assert Transition.objects.filter(instance=instance, event="provision_failed").count() == 1
    assert not DemoWorkspace.objects.exists()


def test_run_now_spends_one_attempt_and_the_retry_it_overtook_is_skipped(admin_client, koogallery, backend, worker):
    """An operator runs a job waiting out its backoff. The job's own retry of attempt 1 was
    scheduled before the click; once the operator's attempt 2 has run (and failed), that retry
    names an attempt that is no longer the last one and is dropped: attempt 3 is the retry of
    attempt 2, with attempt 2's backoff."""
    backend.down_for(2)  # attempt 1 (the worker's) and 2 (the operator's) fail; 3 succeeds
    skipped_before = skipped_runs(worker)
    instance = created_v2(koogallery, test=False)
    job = processes.wait_for(lambda: waiting(instance, attempts=1), timeout=30)
    overtaken_due = job.next_run_at
    # The console refuses a run-now within 10 s of the job's last hand-over to a worker (a double
    # click must not spend two attempts). Here attempt 1 was handed over a second ago, as backoffs
    # are seconds, not minutes: date that hand-over back.
    Job.objects.filter(pk=job.pk).update(enqueued_at=F("enqueued_at") - timedelta(minutes=1))

    clicked = retry_now(admin_client, instance)
    assert timezone.now() < overtaken_due, "clicked after the retry was due: too slow a machine for this test"
    double_click = retry_now(admin_client, instance)
    assert clicked == "1 job(s) waiting to retry run now."
    assert double_click.startswith("nothing to retry — ") and double_click.endswith(f": {instance.instance_id}.")

    job = processes.wait_for(lambda: waiting(instance, attempts=2), timeout=30)
    retry_due = job.next_run_at  # of attempt 2's retry: after the overtaken one (1–2 s vs 2–4 s after a failure)
    assert overtaken_due < retry_due
    again = retry_now(admin_client, instance)  # seconds after the operator's hand-over
    refused = "its retry is already on its way to a worker: wait a few seconds"
    assert again == f"nothing to retry — {refused}: {instance.instance_id}."

    job = processes.wait_for(lambda: finished(instance), timeout=30)
    processes.wait_for(lambda: skipped_runs(worker) > skipped_before, timeout=10)
    assert skipped_runs(worker) == skipped_before + 1  # the retry of attempt 1, received and dropped
    assert (job.state, job.attempts) == ("done", 3)
    calls = backend.calls(instance)
    assert len(calls) == 3  # the worker's attempt, the operator's, and one retry
    assert calls[2] >= retry_due.timestamp()  # nothing ran the job before attempt 2's retry was due
    assert BACKOFF <= waits(calls)[1] <= 2 * BACKOFF + LATE  # attempt 2's backoff, though a click sent it
    retries = Transition.objects.filter(instance=instance, event="retry")
    assert list(retries.values_list("actor", flat=True)) == ["operator:admin"]
    instance.refresh_from_db()
    assert instance.provisioning_state == "ready"
    assert DemoWorkspace.objects.filter(instance_id=instance.instance_id).count() == 1
    assert Transition.objects.filter(instance=instance, event="provisioned").count() == 1
