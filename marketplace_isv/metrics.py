"""Prometheus metrics for the KooGallery endpoints (served at /metrics by config.ops).

Under gunicorn with several workers set PROMETHEUS_MULTIPROC_DIR (the Dockerfile and `make run`
do) so every worker's counts are summed; otherwise the process's own registry is used.
Domain apps add gauges computed at scrape time with `register_gauge`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

DELIVERIES = Counter(
    "koogallery_deliveries_total",
    "Inbound KooGallery calls by scheme, activity and result code",
    ["scheme", "activity", "result_code"],
)
LATENCY = Histogram(
    "koogallery_delivery_seconds",
    "Time to answer an inbound KooGallery call",
    ["scheme"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
)

# (name, help, labels, fn() -> iterable of (label values, value))
_GAUGES: list[tuple[str, str, list[str], Callable[[], Iterable[tuple[list[str], float]]]]] = []


_children: dict[tuple[str, str, str], tuple] = {}  # labelled series, looked up once per process


def observe_delivery(scheme: str, activity: str, result_code: str, elapsed_ms: float) -> None:
    series = _children.get((scheme, activity, result_code))
    if series is None:
        # Activity names come from the caller: keep the label set (and this cache) bounded.
        from .routes import TABLES

        known = any(activity in table for table in TABLES.values())
        label = activity if known else "other"
        series = (DELIVERIES.labels(scheme, label, result_code), LATENCY.labels(scheme))
        if known:
            _children[(scheme, activity, result_code)] = series
    series[0].inc()
    series[1].observe(elapsed_ms / 1000)


def register_gauge(name: str, help_text: str, labels: list[str], fn) -> None:
    _GAUGES.append((name, help_text, labels, fn))


class _ScrapeTimeGauges:
    def collect(self):
        for name, help_text, labels, fn in _GAUGES:
            family = GaugeMetricFamily(name, help_text, labels=labels)
            try:
                for values, value in fn():
                    family.add_metric(values, value)
            except Exception:
                logger.warning("metrics.gauge_failed name=%s", name)
                continue
            yield family


def exposition() -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
        registry.register(_ScrapeTimeGauges())
        return generate_latest(registry)
    from prometheus_client import REGISTRY

    registry.register(_ScrapeTimeGauges())
    return generate_latest(REGISTRY) + generate_latest(registry)
