"""gunicorn settings shared by `make run`, the Dockerfile and `make bench` (contract.md).

Environment: PORT (8000), BIND (127.0.0.1:$PORT), WEB_CONCURRENCY (workers, 2×cores),
GUNICORN_THREADS (1), GUNICORN_TIMEOUT (30).
"""

import multiprocessing
import os

port = os.environ.get("PORT", "8000")
bind = os.environ.get("BIND", f"127.0.0.1:{port}")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# V1 queryInstance with 100 ids makes request lines of ~8 KB (§4.0); gunicorn answers anything
# over its limits with an HTML error page, which KooGallery counts as a failed call. No limit on
# the request line (0), generous header limits; the proxy in front bounds what reaches us.
limit_request_line = 0
limit_request_field_size = 32768
limit_request_fields = 200
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "1") == "1" else None
# Secrets travel in V1 query strings (authToken) — log the path only, never the query.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def child_exit(server, worker):
    # Prometheus multiprocess mode: drop the dead worker's live gauges.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
