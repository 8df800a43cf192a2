"""The app's HTTP endpoints (docs/agents_gateway.md):

- `/agents/<agent>/v1/chat/completions` — the reference backend, for the gateway only;
- `/agents/usage` — the usage journal, for the seller's own AI service (a bearer token of ours).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.dateparse import parse_datetime
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from config.bearer import bearer_matches

from . import backend, conf, services
from .chat import BadRequest, error_body, has_nul, read_json
from .guard import gateway_required, not_found, unauthorized
from .models import UsageRecord
from .usage import UsageError

logger = logging.getLogger(__name__)


@csrf_exempt
@never_cache
@gateway_required
def chat_completions(request: HttpRequest, agent: str) -> HttpResponse:
    return backend.answer(request, agent)


def _bad(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse(error_body(message, "invalid_request_error"), status=status)


def _received_at(value: Any) -> datetime | None:
    """ISO 8601 (with an offset, else UTC) or epoch milliseconds, like the gateway's timestamps."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise UsageError("received_at is out of range") from exc
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value)  # None when not ISO 8601, ValueError when no such time
        except ValueError as exc:  # 2025-02-30, 25:00, an offset of +99:00
            raise UsageError("received_at is not a valid date and time") from exc
        if parsed is not None:
            parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            try:
                parsed.astimezone(UTC)  # stored in UTC: 9999-12-31T23:59-01:00 is beyond year 9999
            except OverflowError as exc:
                raise UsageError("received_at is out of range") from exc
            return parsed
    raise UsageError("received_at must be ISO 8601 or epoch milliseconds")


def _text(body: dict, name: str) -> str:
    value = body.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UsageError(f"{name} must be a string")
    return value


@csrf_exempt
@never_cache
def usage_journal(request: HttpRequest) -> HttpResponse:
    """Record one forwarded call. 201 when new; 200 with `created: false` for a request id already
    journaled (nothing is changed). Disabled (404) until AGENTS_GATEWAY_JOURNAL_TOKEN is set."""
    token = conf.journal_token()
    if not token:
        return not_found()
    if not bearer_matches(request, token):
        logger.warning("agents_gateway.journal_refused path=%s", request.path)
        return unauthorized()
    if request.method != "POST":
        response = _bad("use POST with a JSON body", 405)
        response["Allow"] = "POST"
        return response
    try:
        raw = request.body
    except RequestDataTooBig:
        return _bad("the body is too large", 413)
    try:
        body = read_json(raw)  # nesting too deep, NaN, lone surrogates: 400 with the reason
    except BadRequest as exc:
        return _bad(str(exc))
    if not isinstance(body, dict):
        return _bad("the body is not a JSON object")
    # PostgreSQL text and jsonb hold no NUL: name the member, as for any other bad value.
    for name, value in body.items() if has_nul(raw, body) else ():
        if has_nul(raw, name):
            return _bad("a member name contains a NUL character (\\u0000)")
        if has_nul(raw, value):
            return _bad(f"{name} contains a NUL character (\\u0000)")
    try:
        http_status = body.get("http_status")
        if http_status is not None and (
            isinstance(http_status, bool) or not isinstance(http_status, int) or not 100 <= http_status <= 599
        ):
            raise UsageError("http_status must be an HTTP status code")
        latency = body.get("latency_ms")
        if latency is not None and (isinstance(latency, bool) or not isinstance(latency, (int, float))):
            raise UsageError("latency_ms must be a number")
        if not isinstance(body.get("stream", False), bool):
            raise UsageError("stream must be true or false")
        record, created = services.usage_record(
            request_id=_text(body, "request_id"),
            agent=_text(body, "agent"),
            status=_text(body, "status") or UsageRecord.Status.OK,
            usage=body.get("usage"),
            received_at=_received_at(body.get("received_at")),
            customer_id=_text(body, "customer_id"),
            customer_name=_text(body, "customer_name"),
            model=_text(body, "model"),
            stream=body.get("stream", False),
            http_status=http_status,
            api_key=_text(body, "api_key"),
            source=UsageRecord.Source.API,
            latency_ms=latency,
            error=_text(body, "error"),
        )
    except UsageError as exc:
        return _bad(str(exc))
    except DatabaseError:
        logger.exception("agents_gateway.journal_failed source=api")
        return JsonResponse(error_body("the journal is unavailable, retry", "server_error"), status=503)
    return JsonResponse(
        {"request_id": record.request_id, "created": created, "status": record.status}, status=201 if created else 200
    )
