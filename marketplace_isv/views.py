"""The KooGallery endpoints: one view for the production address, one for the Kit sub-paths.

Every answer is HTTP 200, `application/json;charset=UTF-8`, a signed JSON envelope — whatever went
wrong (contract.md). The view reads the raw request, verifies it (§2) and hands the verified call
to `pipeline.run`; a refused call is journaled and answered by `pipeline.refuse`.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from . import keys, pipeline
from .envelope import CONTENT_TYPE, INTERNAL_ERROR, ParamError, ProtocolError, Result
from .inbound import Inbound
from .journal import Draft
from .pipeline import Surface
from .schemes import KIT_V1, KIT_V2, V1, V2, VERIFIERS

logger = logging.getLogger(__name__)


@csrf_exempt
def produce(request: HttpRequest) -> HttpResponse:
    scheme = {"GET": V1, "POST": V2}.get(request.method)
    return answer(request, Surface(scheme, keys.primary_basic))


@csrf_exempt
def kit(request: HttpRequest, name: str, version: str = "") -> HttpResponse:
    scheme = (KIT_V2 if version else KIT_V1) if request.method == "POST" else None
    return answer(request, Surface(scheme, keys.primary_kit, name=name))


@csrf_exempt
def unknown_path(request: HttpRequest, rest: str = "") -> HttpResponse:
    primary = keys.primary_kit if "/produceAPI/" in request.path else keys.primary_basic
    return answer(request, Surface(None, primary))


def read_inbound(request: HttpRequest, draft: Draft) -> Inbound:
    """The raw request; a body over KOOGALLERY_MAX_BODY_BYTES is refused unread (§4.0, U42)."""
    limit = settings.KOOGALLERY_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        draft.body_bytes, draft.body_omitted = declared, True
        raise ParamError(f"request body over the {limit} byte limit")
    try:
        body = request.body
    except RequestDataTooBig:
        draft.body_bytes, draft.body_omitted = limit + 1, True
        raise ParamError(f"request body over the {limit} byte limit") from None
    inbound = Inbound(
        method=request.method or "",
        path=request.path,
        raw_query=draft.raw_query,
        headers=draft.headers,
        body=body,
        remote_addr=draft.remote_addr,
    )
    draft.take_inbound(inbound)
    return inbound


def _unverified_fields(surface: Surface, inbound: Inbound | None) -> dict:
    """Best-effort identifiers from a refused call, so operators can still find it by order."""
    if inbound is None:
        return {}
    if inbound.method == "GET":
        return inbound.query()
    return inbound.json_object_or_none() or {}


def answer(request: HttpRequest, surface: Surface) -> HttpResponse:
    draft = Draft(
        scheme=surface.scheme or "none",
        method=request.method or "",
        path=request.path,
        raw_query=request.META.get("QUERY_STRING", ""),
        headers={k.lower(): v for k, v in request.headers.items()},
        remote_addr=request.META.get("REMOTE_ADDR", ""),
        activity=surface.name or "",
    )
    inbound = None
    try:
        inbound = read_inbound(request, draft)
        if surface.scheme is None:
            raise ParamError(f"no KooGallery interface at {request.method} {request.path[:100]}")
        caller = replace(VERIFIERS[surface.scheme](inbound), delivery_id=draft.id)
    except ProtocolError as exc:
        if surface.scheme is not None:
            logger.info("auth.refused delivery=%s scheme=%s reason=%s", draft.id, surface.scheme, exc)
        draft.take_fields(_unverified_fields(surface, inbound))
        outcome = pipeline.refuse(draft, surface, exc.result(), str(exc))
    except Exception as exc:
        logger.exception("delivery.unexpected_error delivery=%s", draft.id)
        outcome = pipeline.refuse(draft, surface, Result.of(INTERNAL_ERROR), f"unexpected error: {type(exc).__name__}")
    else:
        outcome = pipeline.run(draft, surface, inbound, caller)
    response = HttpResponse(outcome.body, content_type=CONTENT_TYPE, status=200)
    response["Body-Sign"] = outcome.signature
    response["X-Delivery-Id"] = str(draft.id)
    return response
