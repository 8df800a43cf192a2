from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders and instances"

    def ready(self) -> None:
        from config.celery import app
        from marketplace_isv.metrics import register_gauge

        # Every Celery worker (`celery -A config worker`) also publishes the jobs the web process
        # wrote: the outbox dispatcher (orders/outbox.py). A worker builds its bootsteps after
        # Django is set up, so the step is in place in time; elsewhere it is never built.
        app.steps["worker"].add("orders.outbox:DispatcherStep")

        from . import metrics

        register_gauge(
            "orders_jobs", "Provisioning jobs not yet done, by kind and state", ["kind", "state"], metrics.jobs
        )
        register_gauge("orders_jobs_owed", "Jobs committed but not yet published to the broker", [], metrics.owed_jobs)
        register_gauge("orders_alerts_open", "Open operator alerts, by kind", ["kind"], metrics.open_alerts)
        register_gauge("orders_instances", "Instances by status", ["status"], metrics.instances)
