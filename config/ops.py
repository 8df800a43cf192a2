"""Operational endpoints for the orchestrator and Prometheus (contract.md). No redirects here.

Probes reach a pod by its address, so their `Host` is an IP that is not in ALLOWED_HOSTS:
`ProbeHostMiddleware` (first in the stack) lets the probe paths answer whatever `Host` they come
with. They build nothing from it (no URLs, no redirects), so the host check protects nothing there;
every other path keeps Django's check.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.http.request import validate_host
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from marketplace_isv.metrics import exposition

PROBE_PATHS = frozenset(p + tail for p in ("/healthz", "/readyz", "/metrics") for tail in ("", "/"))


def _stand_in_host() -> str:
    for host in settings.ALLOWED_HOSTS:
        if host != "*":
            return host.lstrip(".")
    return "localhost"


class ProbeHostMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.stand_in = _stand_in_host()
        self.verdicts: dict[str, bool] = {}  # Host header -> allowed (probes send the same few)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info in PROBE_PATHS:
            meta = request.META
            header = meta.get("HTTP_HOST", "")
            allowed = self.verdicts.get(header)
            if allowed is None:
                if len(self.verdicts) > 256:
                    self.verdicts.clear()
                allowed = validate_host(header.rsplit(":", 1)[0].strip("[]"), settings.ALLOWED_HOSTS)
                self.verdicts[header] = allowed
            if not allowed:
                meta["HTTP_HOST"] = self.stand_in
            if "HTTP_X_FORWARDED_HOST" in meta:
                meta.pop("HTTP_X_FORWARDED_HOST")
        return self.get_response(request)


def _json(data: dict, status: int = 200) -> HttpResponse:
    return HttpResponse(json.dumps(data), content_type="application/json", status=status)


@csrf_exempt
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. No I/O."""
    return _json({"status": "ok"})


def _database_ok() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return type(exc).__name__
    return None


def _broker_ok() -> str | None:
    if settings.EMBEDDED:
        return None
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        client.close()
    except Exception as exc:
        return type(exc).__name__
    return None


@csrf_exempt
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: the database and (outside embedded mode) the broker answer; 503 otherwise."""
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    failed = {name: err for name, err in checks.items() if err}
    body = {
        "status": "ok" if not failed else "unavailable",
        "mode": "embedded" if settings.EMBEDDED else "celery",
        "checks": {name: (err or "ok") for name, err in checks.items()},
    }
    return _json(body, status=503 if failed else 200)


@csrf_exempt
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    return HttpResponse(exposition(), content_type="text/plain; version=0.0.4; charset=utf-8")
