"""Jobs (orders.jobs): ordering per instance, leases, retries, and the sweep that loses nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orders import execution, jobs
from orders.models import DemoWorkspace, Job
from orders.tasks import run_job
from tests.orders.conftest import created_v2

pytestmark = pytest.mark.django_db


def queued(koogallery, **kwargs):
    """An instance whose provisioning job was written but never delivered to a worker."""
    koogallery.run_jobs = False
    instance = created_v2(koogallery, **kwargs)
    koogallery.run_jobs = True
    return instance


def test_the_task_declares_its_retries_and_late_acknowledgement():
    assert run_job.acks_late and run_job.max_retries >= 10


@pytest.mark.parametrize("attempts,low,high", [(1, 2.5, 5), (2, 5, 10), (4, 20, 40), (10, 450, 900), (30, 450, 900)])
def test_the_backoff_grows_with_the_jobs_own_attempts(attempts, low, high):
    countdowns = [jobs.backoff_countdown(attempts) for _ in range(200)]
    assert low <= min(countdowns) and max(countdowns) <= high
    assert max(countdowns) - min(countdowns) > (high - low) / 4  # jittered, not one value


def test_a_failed_attempt_is_retried_by_a_message_naming_it(koogallery, settings):
    """The retry of attempt N runs only while N is the job's last attempt: a retry scheduled before
    an operator's "run now" (or a sweep) does not run the job again on top of it."""
    settings.ISV_PROVISIONER = "tests.orders.provisioners.Down"
    queued(koogallery, test=False)
    job = Job.objects.get()
    with pytest.raises(execution.RetryJob) as failed:
        execution.job_run(job.pk)
    assert failed.value.attempts == 1 and 2.5 <= failed.value.countdown <= 5
    with pytest.raises(execution.RetryJob):
        execution.job_run(job.pk)  # run again meanwhile (attempt 2)
    assert execution.job_run(job.pk, after_attempt=1) == "skipped"  # the stale retry
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("retry", 2)
    with pytest.raises(execution.RetryJob):
        execution.job_run(job.pk, after_attempt=2)  # the current one runs


def test_the_sweep_leaves_a_fresh_job_alone_and_runs_one_that_never_started(koogallery, run_on_commit):
    instance = queued(koogallery)
    with run_on_commit():
        assert jobs.jobs_sweep() == 0  # still inside its grace period: its own message may be on the way
    Job.objects.update(next_run_at=timezone.now() - timedelta(seconds=1))
    with run_on_commit():
        assert jobs.jobs_sweep() == 1
    instance.refresh_from_db()
    assert instance.provisioning_state == "ready"
    assert Job.objects.get().state == "done"


def test_a_job_whose_worker_died_is_taken_over_after_its_lease_and_applied_once(koogallery, run_on_commit):
    instance = queued(koogallery)
    job = execution._claim(Job.objects.get().pk)  # a worker took it…
    DemoWorkspace.objects.create(  # …created the workspace, and died before recording it
        instance_id=instance.instance_id,
        admin_user=instance.app_user_name,
        admin_password=instance.app_password,
        front_end_url=instance.front_end_url,
    )
    with run_on_commit():
        assert jobs.jobs_sweep() == 0  # the lease still runs
    Job.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    with run_on_commit():
        assert jobs.jobs_sweep() == 1
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("done", 2)
    assert DemoWorkspace.objects.count() == 1
    instance.refresh_from_db()
    assert instance.provisioning_state == "ready"
    # the first worker, had it survived, could not record a second outcome
    execution._finish(
        Job(pk=job.pk, instance_id=job.instance_id, kind=job.kind, attempts=1), Job.State.FAILED, error="late"
    )
    job.refresh_from_db()
    assert job.state == "done"


def test_jobs_of_one_instance_run_oldest_first(koogallery, run_on_commit):
    instance = queued(koogallery)
    koogallery.run_jobs = False
    koogallery.v2("updateInstanceStatus", {"instanceId": instance.instance_id, "status": "FREEZE"})
    provision, freeze = Job.objects.order_by("pk")
    assert execution.job_run(freeze.pk) == "skipped"  # the provisioning goes first
    freeze.refresh_from_db()
    assert (freeze.state, freeze.attempts) == ("pending", 0)
    with run_on_commit():
        assert execution.job_run(provision.pk) == "done"  # …and hands over to the freeze
    freeze.refresh_from_db()
    assert freeze.state == "done"
    assert DemoWorkspace.objects.get().status == "frozen"


def test_a_release_while_provisioning_runs_deprovisions_after_it(koogallery, run_on_commit):
    instance = queued(koogallery)
    provision = execution._claim(Job.objects.get().pk)  # a worker is provisioning right now
    reply = koogallery.v2("releaseInstance", {"instanceId": instance.instance_id}).assert_envelope()
    assert reply["resultCode"] == "000000"
    provision.refresh_from_db()
    assert provision.state == "running"  # not cancelled: it may already have had an effect
    Job.objects.filter(pk=provision.pk).update(lease_until=timezone.now())  # let the sweep finish it
    with run_on_commit():
        jobs.jobs_sweep()
    assert list(Job.objects.order_by("pk").values_list("kind", "state")) == [("provision", "done"), ("release", "done")]
    assert DemoWorkspace.objects.get().status == "released"
    instance.refresh_from_db()
    assert (instance.status, instance.provisioning_state) == ("released", "ready")


def test_a_retryable_failure_waits_for_its_backoff(koogallery, settings):
    settings.ISV_PROVISIONER = "tests.orders.provisioners.Down"
    queued(koogallery, test=False)
    job = Job.objects.get()
    Job.objects.filter(pk=job.pk).update(attempts=3)  # three attempts failed before
    with pytest.raises(execution.RetryJob) as failed:
        execution.job_run(job.pk)
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("retry", 4)
    assert "backend unreachable" in job.last_error
    # the sweep would resend it only after the retry itself was due (5 s × 2³, jittered, + grace)
    assert 20 <= failed.value.countdown <= 40
    assert job.next_run_at > timezone.now() + timedelta(seconds=failed.value.countdown + 25)
    assert jobs.jobs_sweep() == 0


def test_a_sweep_resends_a_job_only_once_per_grace_period(koogallery, published_jobs):
    queued(koogallery)
    Job.objects.update(next_run_at=timezone.now() - timedelta(seconds=1))
    assert jobs.jobs_sweep() == 1
    assert jobs.jobs_sweep() == 0
    assert Job.objects.get().next_run_at > timezone.now()


def test_a_retry_queues_what_the_instance_needs_now_not_a_stale_operation(koogallery, settings, run_on_commit):
    from orders import services

    instance = created_v2(koogallery, test=False)
    settings.ISV_PROVISIONER = "tests.orders.provisioners.FreezeFails"
    koogallery.v2("updateInstanceStatus", {"instanceId": instance.instance_id, "status": "FREEZE"}, test=False)
    koogallery.v2("updateInstanceStatus", {"instanceId": instance.instance_id, "status": "UNFREEZE"}, test=False)
    instance.refresh_from_db()
    assert instance.provisioning_state == "failed"
    settings.ISV_PROVISIONER = "demo"
    with run_on_commit():
        assert (
            services.instance_retry_provisioning(instance_id=instance.instance_id, actor="operator:alice").queued == 1
        )
    assert list(Job.objects.order_by("pk").values_list("kind", "state")) == [
        ("provision", "done"),
        ("freeze", "cancelled"),
        ("unfreeze", "done"),
        ("unfreeze", "done"),  # the instance is active now: the provider is unfrozen, never frozen again
    ]
    instance.refresh_from_db()
    assert instance.provisioning_state == "ready"
    assert DemoWorkspace.objects.get().status == "active"


def test_in_embedded_mode_a_retry_waits_for_the_sweep_instead_of_running_at_once(koogallery, settings):
    """Embedded mode runs tasks eagerly: a retry there would spend every attempt in a row."""
    settings.ISV_PROVISIONER = "tests.orders.provisioners.Down"
    queued(koogallery, test=False)
    job = Job.objects.get()
    settings.ISV_JOB_DISPATCH = "thread"
    assert run_job.apply(args=(job.pk,)).get() == "retry"
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("retry", 1)
    assert job.next_run_at > timezone.now()  # the sweep runs it when the backoff is over


def test_each_retry_message_names_the_attempt_it_follows(koogallery, settings, monkeypatch):
    """The task hands `after_attempt` to every retry it schedules (the guard in execution._claim
    works only if the message carries it). A spy around the real job_run records the calls."""
    settings.ISV_PROVISIONER = "tests.orders.provisioners.Down"
    settings.ORDERS_JOB_MAX_ATTEMPTS = 3
    queued(koogallery, test=False)
    job = Job.objects.get()
    seen, real = [], execution.job_run

    def spy(job_id, *, after_attempt=None):
        seen.append(after_attempt)
        return real(job_id, after_attempt=after_attempt)

    monkeypatch.setattr(execution, "job_run", spy)
    run_job.apply(args=(job.pk,))  # eager: each retry runs at once
    assert seen == [None, 1, 2]
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("failed", 3)
