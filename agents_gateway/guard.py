"""The verifier in Django: a view decorator and a middleware (koogallery-protocol.md §12).

Callers get a generic answer — 401 with one fixed body whatever the reason, 404 while the app is
off — and the precise reason goes to the log and to the header-name samples of the first calls.
On success the view finds the `Verified` caller on `request.agents_gateway`.
"""

from __future__ import annotations

import functools
import logging

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse

from . import conf, services
from .chat import error_body
from .verifier import Refusal, Verified

logger = logging.getLogger(__name__)

UNAUTHORIZED = error_body("unauthorized", "authentication_error")


def unauthorized() -> JsonResponse:
    return JsonResponse(UNAUTHORIZED, status=401)


def not_found() -> JsonResponse:
    return JsonResponse(error_body("not found", "invalid_request_error"), status=404)


def header_names(request: HttpRequest) -> list[str]:
    """The request's header names as the gateway sent them (WSGI keeps no case: title-cased)."""
    names = []
    for key in request.META:
        if key.startswith("HTTP_"):
            names.append("-".join(part.capitalize() for part in key[5:].split("_")))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and request.META[key]:
            names.append("-".join(part.capitalize() for part in key.split("_")))
    return sorted(names)


def _sample(request: HttpRequest, *, header: str, form: str, outcome: str, api_key: str = "") -> None:
    try:
        services.header_sample_take(
            method=request.method or "",
            path=request.path,
            header_names=header_names(request),
            token_header=header,
            token_form=form,
            outcome=outcome,
            api_key=api_key,
            limit=conf.header_sample_limit(),
        )
    except Exception as exc:  # a sample is a diagnostic: never fail the call for it (a NUL, a database error)
        logger.warning(
            "agents_gateway.header_sample_failed path=%r error=%s", request.path, type(exc).__name__, exc_info=True
        )


def authenticate(request: HttpRequest) -> Verified | HttpResponse:
    """The verified gateway call, or the response to send instead."""
    try:
        auth = conf.gateway_auth()
    except ImproperlyConfigured as exc:
        logger.error("agents_gateway.misconfigured error=%s", exc)
        return JsonResponse(error_body("service unavailable", "server_error"), status=503)
    if auth is None:
        return not_found()
    try:
        verified = auth.verify(request.headers)
    except Refusal as refusal:
        logger.warning(
            "agents_gateway.refused reason=%s detail=%s header=%s form=%s key=%s path=%s",
            refusal.reason,
            refusal.detail,
            auth.header,
            refusal.form or "-",
            refusal.api_key or "-",
            request.path,
        )
        _sample(request, header=auth.header, form=refusal.form, outcome=str(refusal.reason), api_key=refusal.api_key)
        return unauthorized()
    _sample(request, header=verified.header, form=verified.form, outcome="accepted", api_key=verified.api_key)
    return verified


def gateway_required(view):
    """Decorate a view that only Huawei's Agents gateway may call."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        outcome = authenticate(request)
        if isinstance(outcome, HttpResponse):
            return outcome
        request.agents_gateway = outcome
        return view(request, *args, **kwargs)

    return wrapper


class AgentsGatewayMiddleware:
    """Protect every path under AGENTS_GATEWAY_PROTECTED_PATHS (prefixes) with the verifier, for
    sellers who serve their agent from their own Django views. Add it to MIDDLEWARE after
    CommonMiddleware; the protected views must be csrf_exempt (the gateway sends no CSRF token)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        prefixes = conf.protected_paths()
        if prefixes and request.path.startswith(prefixes):
            outcome = authenticate(request)
            if isinstance(outcome, HttpResponse):
                return outcome
            request.agents_gateway = outcome
        return self.get_response(request)
