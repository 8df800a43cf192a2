"""Django's own error answers on the agents paths, in the gateway's OpenAI-style shape
(`{"error": {...}}`, chat.error_body): used by the separate agents process's URLconf and, for
/agents/ paths, by the main process's (config/errors.py), so a caller sees one shape."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

from .chat import error_body


def page_not_found(request, exception=None):
    return JsonResponse(error_body("not found", "invalid_request_error"), status=404)


def server_error(request):
    return JsonResponse(error_body("internal error", "server_error"), status=500)


def bad_request(request, exception=None):
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(error_body("the body is too large", "invalid_request_error"), status=413)
    return JsonResponse(error_body("bad request", "invalid_request_error"), status=400)


def permission_denied(request, exception=None):
    return JsonResponse(error_body("forbidden", "invalid_request_error"), status=403)
