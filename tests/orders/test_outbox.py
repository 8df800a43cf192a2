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
