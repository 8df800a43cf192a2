"""The jobs outbox (orders.outbox): with a broker, a call commits its job row and publishes
nothing; a dispatcher publishes what is owed, gives it back when the broker fails, and a job run
in-process is never owed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from config.celery import app as celery_app
from orders import execution, jobs, outbox
from orders.models import DemoWorkspace, Instance, Job
from tests.orders.conftest import created_v2, new_v2, use_broker
from tests.support.processes import free_port, wait_for

pytestmark = pytest.mark.django_db


def test_a_job_written_in_process_mode_is_owed_to_no_dispatcher(koogallery):
    koogallery.run_jobs = False
    created_v2(koogallery)
    job = Job.objects.get()
    assert job.enqueued_at is not None
    assert outbox.dispatch_owed() == (0, False)


def test_with_a_broker_the_job_is_owed_until_a_dispatcher_publishes_it(koogallery, published_jobs):
    created_v2(koogallery)
    job = Job.objects.get()
    assert (job.state, job.enqueued_at) == ("pending", None)
    assert outbox.dispatch_owed() == (1, False)
    job.refresh_from_db()
    assert job.enqueued_at is not None
    assert outbox.dispatch_owed() == (0, False)  # claimed once


def test_a_job_that_waited_behind_another_is_owed_again_when_that_one_finishes(koogallery, published_jobs):
    instance = created_v2(koogallery)
    koogallery.v2("updateInstanceStatus", {"instanceId": instance.instance_id, "status": "FREEZE"})
    provision, freeze = Job.objects.order_by("pk")
    assert outbox.dispatch_owed() == (2, False)
    assert execution.job_run(freeze.pk) == "skipped"  # the provisioning goes first
    assert execution.job_run(provision.pk) == "done"
    freeze.refresh_from_db()
    assert (freeze.state, freeze.enqueued_at) == ("pending", None)
    assert outbox.dispatch_owed() == (1, False)


def test_metrics_count_the_jobs_no_dispatcher_published_yet(koogallery, published_jobs, client):
    created_v2(koogallery)
    assert "orders_jobs_owed 1.0" in client.get("/metrics").content.decode()
    outbox.dispatch_owed()
    assert "orders_jobs_owed 0.0" in client.get("/metrics").content.decode()


def test_a_broker_failure_gives_the_jobs_back_to_the_outbox(koogallery, published_jobs):
    created_v2(koogallery)
    created_v2(koogallery)
    original = celery_app.conf.broker_url
    use_broker(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(Exception):  # noqa: B017 — whatever the transport raises
            outbox.dispatch_owed()
    finally:
        use_broker(original)
    assert Job.objects.filter(enqueued_at__isnull=True).count() == 2
    assert outbox.dispatch_owed() == (2, False)


def test_a_job_cancelled_before_dispatch_is_not_published(koogallery, published_jobs):
    instance = created_v2(koogallery)
    koogallery.v2("releaseInstance", {"instanceId": instance.instance_id})  # release while still queued
    assert Job.objects.get().state == "cancelled"
    assert outbox.dispatch_owed() == (0, False)
    assert not Job.objects.filter(enqueued_at__isnull=True).exists()


def test_the_sweep_publishes_an_owed_job_no_dispatcher_took(koogallery, published_jobs):
    created_v2(koogallery)
    Job.objects.update(next_run_at=timezone.now() - timedelta(seconds=1))
    assert jobs.jobs_sweep() == 1
    assert Job.objects.get().enqueued_at is not None
    assert outbox.dispatch_owed() == (0, False)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_jobs_reach_the_real_worker_through_the_outbox(broker_jobs, koogallery):
    data = new_v2(koogallery).assert_envelope()
    assert data["resultCode"] == "000004"
    wait_for(lambda: Job.objects.filter(state="done").exists(), timeout=60)
    instance = Instance.objects.get(instance_id=data["instanceId"])
    assert instance.provisioning_state == "ready"
    assert DemoWorkspace.objects.filter(instance_id=instance.instance_id).count() == 1


def published_messages() -> list[tuple[list, dict]]:
    """The run_job messages on this session's queue, as (args, kwargs), taken off it."""
    from django.conf import settings

    found = []
    with celery_app.connection_for_read() as conn:
        queue = conn.SimpleQueue(settings.CELERY_TASK_DEFAULT_QUEUE)
        try:
            while True:
                message = queue.get(timeout=0.5)
                args, kwargs, _ = message.payload
                found.append((args, kwargs))
                message.ack()
        except queue.Empty:
            pass
        finally:
            queue.close()
    return found


def test_run_now_racing_the_jobs_own_retry_runs_one_attempt_not_two(koogallery, published_jobs, settings):
    """An operator's "run now" is published by the outbox naming the attempt it follows, like the
    job's own Celery retry: whichever arrives first runs, the other is dropped — never an attempt
    right after another without its backoff."""
    settings.ISV_PROVISIONER = "tests.orders.provisioners.Down"
    instance = created_v2(koogallery, test=False)
    job = Job.objects.get(instance=instance)
    outbox.dispatch_owed()
    published_messages()  # the first hand-over
    with pytest.raises(execution.RetryJob) as first:
        execution.job_run(job.pk)  # attempt 1 fails: its retry names attempt 1
    assert first.value.attempts == 1
    Job.objects.filter(pk=job.pk).update(enqueued_at=timezone.now() - timedelta(minutes=1))
    from django.db import transaction

    with transaction.atomic():
        assert jobs.run_waiting_now(instance) == 1  # the operator's click
    assert outbox.dispatch_owed() == (1, False)
    (run_now,) = published_messages()
    assert run_now == ([job.pk], {"after_attempt": 1})
    # The job's own retry of attempt 1 arrives first and fails again...
    with pytest.raises(execution.RetryJob):
        execution.job_run(job.pk, after_attempt=1)
    # ...then the operator's message: the attempt it follows is no longer the last.
    assert execution.job_run(*run_now[0], **run_now[1]) == "skipped"
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("retry", 2)
