"""One verified call through one handler, journaled in the same transaction (house style, data flow).

`run()` is shared by the HTTP views and by the operators' replay: claim the nonce, parse the
payload, resolve the route, call the handler, render and sign the answer, write the journal row —
all in one transaction, so the journal row and the handler's state changes commit together.
Errors are values: a ProtocolError rolls the transaction back and is journaled on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, OperationalError, connection, transaction

from . import keys, metrics, nonces, routes
from .envelope import INTERNAL_ERROR, ProtocolError, Result, render
from .inbound import Inbound
from .journal import Draft
from .schemes import Caller, payload_of

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Surface:
    """Where a call landed: which scheme authenticates it and where its name comes from."""

    scheme: str | None  # None: no scheme applies (wrong method or unknown path) → 000002
    primary: Callable[[], keys.Key]  # signs the answer when no key verified the call (§2.6)
    name: str | None = None  # the Kit name from the path; None = the payload's `activity`


@dataclass
class Outcome:
    result: Result
    body: bytes
    signature: str


def _database_connected() -> bool:
    raw = connection.connection
    return raw is not None and not getattr(raw, "closed", False)


def _handle(surface: Surface, payload: dict[str, Any], caller: Caller, draft: Draft) -> Result:
    name = surface.name if surface.name is not None else payload.get("activity")
    name = name if isinstance(name, str) else ""
    draft.activity = name[:64]
    return routes.resolve(caller.scheme, name)(payload, caller)


def run(draft: Draft, surface: Surface, inbound: Inbound, caller: Caller) -> Outcome:
    """Process a verified call. Never raises."""
    draft.caller = caller
    try:
        with transaction.atomic():
            if caller.nonce is not None:
                nonces.claim(caller.scheme, caller.nonce)
            payload = payload_of(caller, inbound)
            draft.take_fields(payload)
            result = _handle(surface, payload, caller, draft)
            body, signature = render(result, caller.key.secret)
            draft.write(result, body)
        return _observed(draft, Outcome(result, body, signature))
    except ProtocolError as exc:
        return refuse(draft, surface, exc.result(), str(exc), caller=caller)
    except OperationalError as exc:
        if not _database_connected():
            # Unreachable: answer promptly instead of waiting for it a second time (U39).
            logger.error("delivery.database_unavailable delivery=%s", draft.id)
            body, signature = render(Result.of(INTERNAL_ERROR), caller.key.secret)
            return _observed(draft, Outcome(Result.of(INTERNAL_ERROR), body, signature))
        logger.exception("delivery.database_error delivery=%s", draft.id)
        error = f"database error: {type(exc).__name__}"
    except DatabaseError as exc:
        logger.exception("delivery.database_error delivery=%s", draft.id)
        error = f"database error: {type(exc).__name__}"
    except Exception as exc:  # never a 500, never a stack trace to the caller (house style 8)
        logger.exception("delivery.unexpected_error delivery=%s", draft.id)
        error = f"unexpected error: {type(exc).__name__}: {exc}"
    return refuse(draft, surface, Result.of(INTERNAL_ERROR), error, caller=caller)


def refuse(draft: Draft, surface: Surface, result: Result, error: str, *, caller: Caller | None = None) -> Outcome:
    """Answer and journal a call that did not (or could not) complete. A verified call's nonce is
    consumed even so (§2.3 step 5): its claim was rolled back with the handler's work."""
    body, signature = render(result, (caller.key if caller else surface.primary()).secret)
    try:
        with transaction.atomic():
            if caller is not None and caller.nonce is not None:
                nonces.remember(caller.scheme, caller.nonce)
            draft.write(result, body, error)
    except Exception:
        logger.exception("delivery.journal_failed delivery=%s", draft.id)
    return _observed(draft, Outcome(result, body, signature))


def _observed(draft: Draft, outcome: Outcome) -> Outcome:
    metrics.observe_delivery(draft.scheme, draft.activity, outcome.result.code, draft.elapsed_ms())
    return outcome
