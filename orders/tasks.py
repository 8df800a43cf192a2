"""Celery tasks of the orders app: they take ids and call orders.jobs (house style 6)."""

from __future__ import annotations

from celery import shared_task

from . import execution, jobs, usage_pusher


@shared_task(
    name="orders.run_job",
    bind=True,
    autoretry_for=(execution.RetryJob,),
    retry_backoff=jobs.RETRY_BACKOFF,
    retry_backoff_max=jobs.RETRY_BACKOFF_MAX,
    retry_jitter=True,
    # A backstop: the job's own budget (ORDERS_JOB_MAX_ATTEMPTS, counted in the database across
    # sweeps and worker restarts) marks it failed first.
    max_retries=50,
    acks_late=True,
    ignore_result=True,
)
def run_job(self, job_id: int) -> str:
    return execution.job_run(job_id, retries=self.request.retries)


@shared_task(name="orders.sweep_jobs", ignore_result=True)
def sweep_jobs() -> int:
    """Periodic: re-enqueue jobs that never started, whose retry is due or whose lease expired."""
    return jobs.jobs_sweep()


@shared_task(name="orders.push_usage", ignore_result=True)
def push_usage() -> int:
    """Push due usage records (§7.2): after each report commits, and periodically
    (ORDERS_USAGE_PUSH_SECONDS) for retries and anything a broker outage held back."""
    return usage_pusher.usage_push().calls
