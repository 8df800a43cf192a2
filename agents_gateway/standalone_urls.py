"""URLconf of the separate agents process (AGENTS_GATEWAY_SERVE_ONLY=1): the agents endpoints and
the orchestrator's probes, nothing else — no KooGallery callbacks, no admin. Model traffic then
never occupies the workers that must answer KooGallery within 5 s (docs/agents_gateway.md)."""

from django.urls import include, path, re_path

from config import ops

from .errors import bad_request, page_not_found, permission_denied, server_error

urlpatterns = [
    path("agents/", include("agents_gateway.urls")),
    re_path(r"^healthz/?$", ops.healthz, name="healthz"),
    re_path(r"^readyz/?$", ops.readyz, name="readyz"),
    re_path(r"^metrics/?$", ops.metrics, name="metrics"),
]


handler400 = bad_request
handler403 = permission_denied
handler404 = page_not_found
handler500 = server_error
