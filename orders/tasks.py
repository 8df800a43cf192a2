"""Celery tasks of the orders app: they take ids and call orders.jobs (house style 6)."""

from __future__ import annotations

from celery import shared_task

from config.celery import dispatch_mode

from . import execution, jobs, usage_pusher


@shared_task(
    name="orders.run_job",
    bind=True,
    # A backstop: the job's own budget (ORDERS_JOB_MAX_ATTEMPTS, counted in the database across
    # sweeps and worker restarts) marks it failed first.
    max_retries=50,
    acks_late=True,
    ignore_result=True,
)
def run_job(self, job_id: int, after_attempt: int | None = None) -> str:
    """Run one job. A retryable failure is retried with the backoff of the job's own attempt count
    (orders.jobs.backoff_countdown); the retry message names the attempt it follows, so it is
    dropped if the job ran again meanwhile (an operator's "run now", the sweep)."""
    try:
        return execution.job_run(job_id, after_attempt=after_attempt)
    except execution.RetryJob as exc:
        if dispatch_mode() == "thread":
            # Embedded mode runs tasks eagerly, where a retry would run at once and spend the
            # job's attempts in a row: the job waits in `retry` and the embedded sweep runs it
            # when due (its next_run_at holds the backoff).
            return "retry"
        raise self.retry(args=(job_id,), kwargs={"after_attempt": exc.attempts}, countdown=exc.countdown) from exc


@shared_task(name="orders.sweep_jobs", ignore_result=True)
def sweep_jobs() -> int:
    """Periodic: re-enqueue jobs that never started, whose retry is due or whose lease expired."""
    return jobs.jobs_sweep()


@shared_task(name="orders.push_usage", ignore_result=True)
def push_usage() -> int:
    """Push due usage records (§7.2): after each report commits, and periodically
    (ORDERS_USAGE_PUSH_SECONDS) for retries and anything a broker outage held back."""
    return usage_pusher.usage_push().calls
