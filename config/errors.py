"""Error pages: on /koogallery/ paths even Django's own failures (a disallowed Host header, an
unhandled exception in middleware) become a signed JSON envelope, never an HTML page (contract.md).
The seller's JSON APIs (/api/…) answer their errors as JSON `{"detail": …}`, the agents gateway
(/agents/…) in its own OpenAI-style shape (agents_gateway/errors.py); the admin, SSO and buyer
pages keep Django's pages."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from agents_gateway import errors as agents_errors
from marketplace_isv import keys
from marketplace_isv.envelope import CONTENT_TYPE, INTERNAL_ERROR, PARAM_INVALID, Result, render


def _koogallery(request: HttpRequest, code: str) -> HttpResponse | None:
    if not request.path.startswith("/koogallery/"):
        return None
    key = keys.primary_kit() if "/produceAPI/" in request.path else keys.primary_basic()
    body, signature = render(Result.of(code), key.secret)
    response = HttpResponse(body, content_type=CONTENT_TYPE, status=200)
    response["Body-Sign"] = signature
    return response


def _json_api(request: HttpRequest, status: int, detail: str) -> HttpResponse | None:
    if not request.path.startswith("/api/"):
        return None
    response = JsonResponse({"detail": detail}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def bad_request(request, exception=None):
    if request.path.startswith("/agents/"):
        return agents_errors.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        answer = _json_api(request, 413, "the body is too large")
    else:
        answer = _json_api(request, 400, "bad request")
    return _koogallery(request, PARAM_INVALID) or answer or defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    if request.path.startswith("/agents/"):
        return agents_errors.permission_denied(request, exception)
    return (
        _koogallery(request, PARAM_INVALID)
        or _json_api(request, 403, "forbidden")
        or defaults.permission_denied(request, exception)
    )


def page_not_found(request, exception=None):
    if request.path.startswith("/agents/"):
        return agents_errors.page_not_found(request, exception)
    return (
        _koogallery(request, PARAM_INVALID)
        or _json_api(request, 404, "not found")
        or defaults.page_not_found(request, exception)
    )


def server_error(request):
    if request.path.startswith("/agents/"):
        return agents_errors.server_error(request)
    return (
        _koogallery(request, INTERNAL_ERROR)
        or _json_api(request, 500, "internal error")
        or defaults.server_error(request)
    )
