"""URLconf of the separate agents process (AGENTS_GATEWAY_SERVE_ONLY=1): the agents endpoints and
the orchestrator's probes, nothing else — no KooGallery callbacks, no admin. Model traffic then
never occupies the workers that must answer KooGallery within 5 s (docs/agents_gateway.md)."""

from django.http import JsonResponse
from django.urls import include, path, re_path

from config import ops

from .chat import error_body

urlpatterns = [
    path("agents/", include("agents_gateway.urls")),
    re_path(r"^healthz/?$", ops.healthz, name="healthz"),
    re_path(r"^readyz/?$", ops.readyz, name="readyz"),
    re_path(r"^metrics/?$", ops.metrics, name="metrics"),
]


def page_not_found(request, exception=None):
    return JsonResponse(error_body("not found", "invalid_request_error"), status=404)


def server_error(request):
    return JsonResponse(error_body("internal error", "server_error"), status=500)


def bad_request(request, exception=None):
    return JsonResponse(error_body("bad request", "invalid_request_error"), status=400)


handler400 = bad_request
handler404 = page_not_found
handler500 = server_error
