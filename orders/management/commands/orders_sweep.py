"""Re-enqueue provisioning jobs that never started, whose retry is due or whose lease expired.

Celery beat runs this every ORDERS_JOB_SWEEP_SECONDS (the `orders-sweep-jobs` schedule); the
command is for operators after an outage, or for a cron job where beat does not run.
"""

from django.core.management.base import BaseCommand

from orders.jobs import jobs_sweep


class Command(BaseCommand):
    help = "Re-enqueue provisioning jobs that never started, are due for a retry, or whose worker died."

    def handle(self, *args, **options):
        count = jobs_sweep()
        self.stdout.write(f"{count} job(s) re-enqueued")
