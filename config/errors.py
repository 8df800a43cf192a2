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
from marketplace_isv.views import drain_oversized


def _koogallery(request: HttpRequest, code: str) -> HttpResponse:
    key = keys.primary_kit() if "/produceAPI/" in request.path else keys.primary_basic()
    body, signature = render(Result.of(code), key.secret)
    response = HttpResponse(body, content_type=CONTENT_TYPE, status=200)
    response["Body-Sign"] = signature
    return response


def _answer(request: HttpRequest, *, code: str, status: int, detail: str, agents, django) -> HttpResponse:
    """The error answer for the request's path: the gateway's own shape under /agents/, a signed
    envelope under /koogallery/, `{"detail"}` under /api/, else Django's page."""
    if request.path.startswith("/agents/"):
        return agents()
    if request.path.startswith("/koogallery/"):
        return _koogallery(request, code)
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": detail}, status=status)
        response["Cache-Control"] = "no-store"
        return response
    return django()


def bad_request(request, exception=None):
    too_big = isinstance(exception, RequestDataTooBig)
    if too_big:
        drain_oversized(request)  # answered after the body is read: no reset for the caller
    return _answer(
        request,
        code=PARAM_INVALID,
        status=413 if too_big else 400,
        detail="the body is too large" if too_big else "bad request",
        agents=lambda: agents_errors.bad_request(request, exception),
        django=lambda: defaults.bad_request(request, exception),
    )


def permission_denied(request, exception=None):
    return _answer(
        request,
        code=PARAM_INVALID,
        status=403,
        detail="forbidden",
        agents=lambda: agents_errors.permission_denied(request, exception),
        django=lambda: defaults.permission_denied(request, exception),
    )


def page_not_found(request, exception=None):
    return _answer(
        request,
        code=PARAM_INVALID,
        status=404,
        detail="not found",
        agents=lambda: agents_errors.page_not_found(request, exception),
        django=lambda: defaults.page_not_found(request, exception),
    )


def server_error(request):
    return _answer(
        request,
        code=INTERNAL_ERROR,
        status=500,
        detail="internal error",
        agents=lambda: agents_errors.server_error(request),
        django=lambda: defaults.server_error(request),
    )
