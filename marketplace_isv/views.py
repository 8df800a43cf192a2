"""The KooGallery endpoints: the production address and its Kit sub-paths (contract.md).

Every answer is HTTP 200, `application/json;charset=UTF-8`, a signed JSON envelope — whatever went
wrong. `answer()` takes the raw call (method, path, query string, headers, body), finds the surface
it landed on, verifies it (§2) and hands the verified call to `pipeline.run`; a refused call is
journaled and answered by `pipeline.refuse`.

Two thin adapters feed it the raw call:
- `wsgi()`, mounted in front of Django by config/wsgi.py. KooGallery's calls skip Django's
  request objects, middleware and URL resolver — none of which they use (no sessions, cookies,
  CSRF or templates) — which is most of the protocol layer's cost besides the database. This is
  what gunicorn and runserver serve.
- `django_view()`, routed in config/urls.py, for anything that goes through Django's handler
  instead (Django's test client, a deployment that mounts Django's own WSGI handler).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace

from django.conf import settings
from django.core import signals
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from . import keys, pipeline
from .envelope import CONTENT_TYPE, INTERNAL_ERROR, ParamError, ProtocolError, Result, render
from .inbound import Inbound
from .journal import Draft
from .pipeline import Outcome, Surface
from .schemes import KIT_V1, KIT_V2, V1, V2, VERIFIERS

logger = logging.getLogger(__name__)

PREFIX = "/koogallery/"
# Each path is matched with and without a trailing slash: a redirect is a failed call (§1.3).
_PRODUCE = re.compile(r"^/koogallery/produce/?$")
# A bare `v2` segment (…/produceAPI/v2, …/produceAPI/v2/) is Kit V2 without a name, not a Kit V1
# call named "v2": it is an unknown path (§1.3).
_KIT = re.compile(r"^/koogallery/produce/produceAPI/(?:(?P<version>v2)/|(?!v2/?$))(?P<name>[^/]+)/?$")


DRAIN_LIMIT = 64 * 1024 * 1024  # read (and drop) at most this much of an oversized body


class BodyTooLarge(ParamError):
    def __init__(self, limit: int, size: int):
        super().__init__(f"request body over the {limit} byte limit (§4.0)")
        self.size = size


class QueryTooLarge(ParamError):
    """A query string over the request size limit. A V1 call's parameters are its query string, so
    the limit of the whole request applies to it as it does to a body (§4.0, U42)."""

    def __init__(self, limit: int, size: int):
        super().__init__(f"query string over the {limit} byte limit (§4.0)")
        self.size = size


class BodyUnreadable(ParamError):
    """The body could not be read as HTTP frames it (a malformed chunk, a connection cut short):
    the caller's fault, answered 000002 and logged on one line, never a traceback."""

    def __init__(self, exc: Exception):
        super().__init__(f"request body unreadable ({type(exc).__name__})")


def _read(read, *args) -> bytes:
    try:
        return read(*args)
    except Exception as exc:  # gunicorn's InvalidChunkSize, NoMoreData…; OSError from the socket
        logger.info("delivery.body_unreadable error=%s", type(exc).__name__)
        raise BodyUnreadable(exc) from None


def drain_oversized(request) -> None:
    """For Django views (the seller APIs, error pages) refusing a body over the limit unread:
    read it to its end first, so the caller gets the answer rather than a reset."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    try:
        _drain(request, length)
    except Exception as exc:  # the caller hung up, or the stream is already spent
        logger.info("request.drain_stopped error=%s", type(exc).__name__)


def _drain(stream, length: int) -> None:
    """Read an oversized body to its end before answering: a server that answers with the body
    unread closes the connection, and the caller sees a reset instead of our answer (§4.0)."""
    left = min(length, DRAIN_LIMIT)
    while left > 0:
        chunk = stream.read(min(65536, left))
        if not chunk:
            break
        left -= len(chunk)


def surface_for(method: str, path: str) -> Surface:
    """Which scheme authenticates a call on this path, and where its handler's name comes from."""
    if _PRODUCE.match(path):
        return Surface({"GET": V1, "POST": V2}.get(method), keys.primary_basic)
    match = _KIT.match(path)
    if match:
        scheme = (KIT_V2 if match["version"] else KIT_V1) if method == "POST" else None
        return Surface(scheme, keys.primary_kit, name=match["name"])
    # Anything else under /koogallery/ answers 000002, signed with the key of its family (§2.6):
    # the Kit key for …/produceAPI and anything under it.
    return Surface(None, keys.primary_kit if "/produceAPI/" in path + "/" else keys.primary_basic)


def answer(
    method: str, path: str, raw_query: str, headers: dict[str, str], read_body: Callable[[int], bytes], remote_addr: str
) -> Outcome:
    """Process one raw call. `read_body(limit)` returns the body, or raises BodyTooLarge."""
    surface = surface_for(method, path)
    draft = Draft(
        scheme=surface.scheme or "none",
        method=method,
        path=path,
        raw_query=raw_query,
        headers=headers,
        remote_addr=remote_addr,
        activity=surface.name or "",
    )
    inbound = None
    try:
        body = read_body(settings.KOOGALLERY_MAX_BODY_BYTES)
        if len(raw_query) > settings.KOOGALLERY_MAX_BODY_BYTES:
            raise QueryTooLarge(settings.KOOGALLERY_MAX_BODY_BYTES, len(raw_query))
        inbound = Inbound(method, path, raw_query, headers, body, remote_addr)
        draft.take_inbound(inbound)
        if surface.scheme is None:
            raise ParamError(f"no KooGallery interface at {method} {path[:100]}")
        caller = replace(VERIFIERS[surface.scheme](inbound), delivery_id=draft.id)
    except ProtocolError as exc:
        error = str(exc)
        if isinstance(exc, BodyTooLarge):
            draft.body_omitted, draft.body_bytes = True, exc.size
        elif isinstance(exc, QueryTooLarge):  # journaled without it, as an oversized body is
            draft.raw_query, error = "", f"{exc}: {exc.size} characters, not stored"
        elif surface.scheme is not None:
            logger.info("auth.refused delivery=%s scheme=%s reason=%s", draft.id, surface.scheme, exc)
        draft.take_fields(_unverified_fields(inbound))
        return pipeline.refuse(draft, surface, exc.result(), error)
    except Exception as exc:
        logger.exception("delivery.unexpected_error delivery=%s", draft.id)
        return pipeline.refuse(draft, surface, Result.of(INTERNAL_ERROR), f"unexpected error: {type(exc).__name__}")
    return pipeline.run(draft, surface, inbound, caller)


def _unverified_fields(inbound: Inbound | None) -> dict:
    """Best-effort identifiers from a refused call, so operators can still find it by order."""
    if inbound is None:
        return {}
    try:
        if inbound.method == "GET":
            return inbound.query()
        return inbound.json_object_or_none() or {}
    except Exception:
        return {}


# --- the WSGI adapter (production) -----------------------------------------------------------------

_RESPONSE_HEADERS = [
    ("Content-Type", CONTENT_TYPE),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
]


def _wsgi_headers(environ: dict) -> dict[str, str]:
    headers = {}
    for name, value in environ.items():
        if name.startswith("HTTP_"):
            headers[name[5:].replace("_", "-").lower()] = value
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(name):
            headers[name.replace("_", "-").lower()] = environ[name]
    return headers


def _path_info(environ: dict) -> str:
    # WSGI hands over the path as latin-1-decoded bytes; KooGallery's paths are ASCII.
    return environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", errors="replace")


def handles(environ: dict) -> bool:
    path = _path_info(environ)
    return path.startswith(PREFIX) or path == PREFIX.rstrip("/")  # "/koogallery" must not redirect either


def _query_string(environ: dict) -> str:
    # WSGI hands the query over as latin-1-decoded bytes; a raw (unencoded) UTF-8 query is UTF-8.
    raw = environ.get("QUERY_STRING", "")
    return raw if raw.isascii() else raw.encode("latin-1", errors="replace").decode("utf-8", errors="replace")


def wsgi(environ: dict, start_response) -> list[bytes]:
    """WSGI entry for /koogallery/ paths (config/wsgi.py mounts it in front of Django)."""
    stream = environ["wsgi.input"]

    def read_body(limit: int) -> bytes:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            _read(_drain, stream, length)
            raise BodyTooLarge(limit, length)
        if length > 0:
            return _read(stream.read, length)
        data = _read(stream.read, limit + 1)  # chunked or unknown length: read at most one byte too many
        if len(data) > limit:
            _read(_drain, stream, DRAIN_LIMIT)
            raise BodyTooLarge(limit, len(data))
        return data

    signals.request_started.send(sender=None, environ=environ)  # Django's connection housekeeping
    try:
        outcome = answer(
            environ.get("REQUEST_METHOD", "GET"),
            _path_info(environ),
            _query_string(environ),
            _wsgi_headers(environ),
            read_body,
            environ.get("REMOTE_ADDR", ""),
        )
        body, signature, delivery = outcome.body, outcome.signature, str(outcome.delivery_id)
    except Exception:  # the last resort: even a failure outside the pipeline is a signed envelope
        logger.exception("delivery.unhandled_failure path=%s", _path_info(environ)[:100])
        surface = surface_for("", _path_info(environ))
        body, signature = render(Result.of(INTERNAL_ERROR), surface.primary().secret)
        delivery = ""
    finally:
        signals.request_finished.send(sender=None)
    start_response(
        "200 OK",
        [*_RESPONSE_HEADERS, ("Content-Length", str(len(body))), ("Body-Sign", signature), ("X-Delivery-Id", delivery)],
    )
    return [body]


# --- the Django adapter --------------------------------------------------------------------------


@csrf_exempt
def django_view(request: HttpRequest, rest: str = "") -> HttpResponse:
    def read_body(limit: int) -> bytes:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            _read(_drain, request, length)
            raise BodyTooLarge(limit, length)
        data = _read(request.read, limit + 1)
        if len(data) > limit:
            raise BodyTooLarge(limit, len(data))
        return data

    outcome = answer(
        request.method or "GET",
        request.path,
        request.META.get("QUERY_STRING", ""),
        {k.lower(): v for k, v in request.headers.items()},
        read_body,
        request.META.get("REMOTE_ADDR", ""),
    )
    response = HttpResponse(outcome.body, content_type=CONTENT_TYPE, status=200)
    response["Body-Sign"] = outcome.signature
    response["X-Delivery-Id"] = str(outcome.delivery_id)
    response["Cache-Control"] = "no-store"
    return response
