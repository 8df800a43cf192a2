"""Error pages: on /koogallery/ paths even Django's own failures (a disallowed Host header, an
unhandled exception in middleware) become a signed JSON envelope, never an HTML page (contract.md)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views import defaults

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


def bad_request(request, exception=None):
    return _koogallery(request, PARAM_INVALID) or defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    return _koogallery(request, PARAM_INVALID) or defaults.permission_denied(request, exception)


def page_not_found(request, exception=None):
    return _koogallery(request, PARAM_INVALID) or defaults.page_not_found(request, exception)


def server_error(request):
    return _koogallery(request, INTERNAL_ERROR) or defaults.server_error(request)
