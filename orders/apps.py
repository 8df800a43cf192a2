from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders and instances"

    def ready(self) -> None:
        from marketplace_isv.metrics import register_gauge

        from . import metrics

        register_gauge(
            "orders_jobs", "Provisioning jobs not yet done, by kind and state", ["kind", "state"], metrics.jobs
        )
        register_gauge("orders_jobs_owed", "Jobs committed but not yet published to the broker", [], metrics.owed_jobs)
        register_gauge("orders_alerts_open", "Open operator alerts, by kind", ["kind"], metrics.open_alerts)
        register_gauge("orders_instances", "Instances by status", ["status"], metrics.instances)
