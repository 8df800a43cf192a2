"""The reference backend: one registered agent's URL, answering an OpenAI-style chat.completions
body synchronously or as server-sent events, with `usage` at the top level of the answer or in
the last data event before `[DONE]` (koogallery-protocol.md §12). Every answered call is journaled.

Model traffic is long: run this in its own gunicorn (docs/agents_gateway.md), never in the workers
that answer KooGallery's callbacks within 5 s.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime

from django.core.exceptions import ImproperlyConfigured, RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone

from . import conf, services
from .chat import DONE, BadRequest, ChatRequest, Completion, error_body, parse_request, run_model, sse
from .models import UsageRecord
from .usage import Usage
from .verifier import Verified

logger = logging.getLogger(__name__)

Status = UsageRecord.Status


def header_text(value: str | None) -> str:
    """A header as text. WSGI decodes header bytes as Latin-1; a UTF-8 customer name (Chinese,
    most likely) is recovered from that, anything else is kept as received."""
    if not value:
        return ""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


@dataclass
class Call:
    """One forwarded call, from arrival to its journal row."""

    agent: str
    request_id: str
    customer_id: str
    customer_name: str
    api_key: str
    received_at: datetime = field(default_factory=timezone.now)
    started: float = field(default_factory=time.perf_counter)
    model: str = ""
    stream: bool = False

    @classmethod
    def of(cls, request: HttpRequest, agent: str) -> Call:
        request_id = (request.headers.get("X-Request-Id") or "").strip()
        if not request_id:
            # The gateway always sends one (§12); a call without it is journaled under our own id.
            request_id = f"local-{uuid.uuid4().hex}"
            logger.warning("agents_gateway.no_request_id agent=%s assigned=%s", agent, request_id)
        verified: Verified | None = getattr(request, "agents_gateway", None)
        return cls(
            agent=agent,
            request_id=request_id,
            customer_id=header_text(request.headers.get("X-Customer-Id")).strip(),
            customer_name=header_text(request.headers.get("X-Customer-Name")).strip(),
            api_key=verified.api_key if verified else "",
        )

    def journal(self, status: str, http_status: int, usage: Usage | None = None, error: str = "") -> None:
        try:
            services.usage_record(
                request_id=self.request_id,
                agent=self.agent,
                status=status,
                usage=usage,
                received_at=self.received_at,
                customer_id=self.customer_id,
                customer_name=self.customer_name,
                model=self.model,
                stream=self.stream,
                http_status=http_status,
                api_key=self.api_key,
                source=UsageRecord.Source.BACKEND,
                latency_ms=(time.perf_counter() - self.started) * 1000,
                error=error,
            )
        except Exception as exc:
            # The gateway bills from our answer, not from this row: answer anyway, and say so. Any
            # exception, not only DatabaseError: a value the database driver refuses (ValueError)
            # must not break an answer, least of all a stream whose events are already sent.
            logger.exception(
                "agents_gateway.journal_failed request_id=%s error=%s", self.request_id, type(exc).__name__
            )


def _json(body: dict, status: int = 200) -> JsonResponse:
    return JsonResponse(
        body, status=status, json_dumps_params={"ensure_ascii": False, "separators": (",", ":"), "allow_nan": False}
    )


def _refuse(call: Call, status: int, message: str) -> JsonResponse:
    call.journal(Status.CLIENT_ERROR, status, error=message)
    return _json(error_body(message, "invalid_request_error"), status)


def answer(request: HttpRequest, agent: str) -> HttpResponse:
    call = Call.of(request, agent)
    if request.method != "POST":
        response = _refuse(call, 405, "use POST with a chat.completions body")
        response["Allow"] = "POST"
        return response
    try:
        raw = request.body
    except RequestDataTooBig:
        return _refuse(call, 413, "the body is too large")
    try:
        chat = parse_request(
            raw,
            agent=agent,
            default_model=conf.default_model_name(),
            request_id=call.request_id,
            customer_id=call.customer_id,
            customer_name=call.customer_name,
        )
    except BadRequest as exc:
        return _refuse(call, 400, str(exc))
    try:
        registered = conf.agent_modes().get(agent)
    except ImproperlyConfigured as exc:
        logger.error("agents_gateway.misconfigured error=%s", exc)
        call.journal(Status.ERROR, 503, error="AGENTS_GATEWAY_AGENT_MODES is not agent:sync|stream pairs")
        return _json(error_body("service unavailable", "server_error"), 503)
    if registered is not None:
        # §12: one response mode per registered agent. The gateway reads the answer in the mode the
        # agent was registered with (a JSON body with top-level usage, or events ending with usage
        # and [DONE]), whatever `stream` the buyer's body carries: an answer in the other mode
        # could not be billed.
        chat = replace(chat, stream=registered == "stream")
    call.model, call.stream = chat.model, chat.stream
    completion = Completion(id=f"chatcmpl-{uuid.uuid4().hex}", model=chat.model)
    try:
        model = conf.model_function()
    except ImproperlyConfigured as exc:
        logger.error("agents_gateway.misconfigured error=%s", exc)
        call.journal(Status.ERROR, 503, error="AGENTS_GATEWAY_MODEL cannot be imported")
        return _json(error_body("service unavailable", "server_error"), 503)
    if chat.stream:
        response = StreamingHttpResponse(_stream(call, chat, model, completion), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
        return response
    try:
        pieces, usage = [], None
        for item in run_model(model, chat):
            if isinstance(item, Usage):
                usage = item
            else:
                pieces.append(item)
        # Rendered before the journal says ok: text UTF-8 cannot carry (a lone surrogate from the
        # model) fails here, as the model's failure, not after an ok row was written.
        response = _json(completion.message("".join(pieces), usage))
    except Exception as exc:
        logger.exception("agents_gateway.model_failed request_id=%s agent=%s", call.request_id, agent)
        call.journal(Status.ERROR, 502, error=f"model failed: {type(exc).__name__}")
        return _json(error_body("the model failed", "server_error"), 502)
    call.journal(Status.OK, 200, usage)
    return response


def _stream(call: Call, chat: ChatRequest, model: Callable, completion: Completion) -> Iterator[bytes]:
    """The events; the journal row is written when the stream ends, however it ends."""
    outcome: dict = {"status": Status.INCOMPLETE, "usage": None, "error": "client went away before usage"}
    try:
        yield sse(completion.chunk({"role": "assistant", "content": ""}))
        usage = None
        for item in run_model(model, chat):
            if isinstance(item, Usage):
                usage = item
            else:
                yield sse(completion.chunk({"content": item}))
        final = sse(completion.chunk({}, "stop", usage=usage.as_json()))
        # From here on the gateway has what it bills from, even if the connection drops.
        outcome = {"status": Status.OK, "usage": usage, "error": ""}
        yield final
        yield DONE
    except Exception as exc:  # a model failure mid-stream; a client gone is GeneratorExit, not caught
        logger.exception("agents_gateway.model_failed request_id=%s agent=%s", call.request_id, call.agent)
        outcome = {"status": Status.ERROR, "usage": None, "error": f"model failed: {type(exc).__name__}"}
        yield sse(error_body("the model failed", "server_error"))
        yield DONE
    finally:
        call.journal(outcome["status"], 200, outcome["usage"], outcome["error"])
