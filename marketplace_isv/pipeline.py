"""One verified call through one handler, journaled (house style: the data flow).

`run()` is shared by the HTTP views and by the operators' replay: claim the nonce, parse the
payload, resolve the route, call the handler, render and sign the answer, journal the call.
A state-changing handler runs in one transaction with its journal row, so both commit or
neither does. Errors are values: a ProtocolError rolls the handler's work back and the call is
journaled on its own (`refuse`). Read-only interfaces (routes.READ_ONLY) need no transaction.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from django.db import DatabaseError, OperationalError, connection, transaction

from . import keys, metrics, nonces, routes
from .envelope import INTERNAL_ERROR, AuthError, ProtocolError, Result, render
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
    delivery_id: object = None


def _database_connected() -> bool:
    raw = connection.connection
    return raw is not None and not getattr(raw, "closed", False)


def _resolve(surface: Surface, payload: dict[str, Any], caller: Caller, draft: Draft) -> Callable:
    name = surface.name if surface.name is not None else payload.get("activity")
    name = name if isinstance(name, str) else ""
    draft.activity = name[:64]
    return routes.resolve(caller.scheme, name)


def run(draft: Draft, surface: Surface, inbound: Inbound, caller: Caller) -> Outcome:
    """Process a verified call. Never raises."""
    draft.caller = caller
    try:
        if caller.nonce is not None:
            try:
                nonces.claim(caller.scheme, caller.nonce)  # consumed whatever happens next (§2.3)
            except AuthError as exc:  # a replay: authentication failed, signed like any such failure (§2.8)
                return refuse(draft, surface, exc.result(), str(exc))
        payload = payload_of(caller, inbound)
        draft.take_fields(payload)
        handler = _resolve(surface, payload, caller, draft)
        if draft.activity in routes.READ_ONLY:
            # Nothing to commit: no transaction, and the journal row goes to the batch writer.
            result = handler(payload, caller)
            body, signature = render(result, caller.key.secret)
            draft.write(result, body, durable=False)
            return _observed(draft, Outcome(result, body, signature))
        if (caller.scheme, draft.activity) in routes.ONE_STATEMENT:
            outcome = _in_one_statement(draft, handler, payload, caller)
            if outcome is not None:
                return _observed(draft, outcome)
        with transaction.atomic():
            result = handler(payload, caller)
            body, signature = render(result, caller.key.secret)
            draft.write(result, body)  # the journal row commits with the handler's work
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


class OneStatement:
    """Handed to the handler of a routes.ONE_STATEMENT interface as `caller.one_statement`.

    The handler may finish the call with ONE autocommitted statement that writes its effects and
    the call's journal row together — one round trip instead of four (BEGIN, the statement, the
    journal INSERT, COMMIT) — by rendering its answer here first: `journal_row(result)` returns
    the row to insert, and the handler returns that same result once its statement has run. A
    handler that cannot finish that way writes nothing and returns None; the call then takes the
    usual transaction. (The row's latency is measured up to the statement, not through it.)"""

    def __init__(self, draft: Draft, key: keys.Key):
        self.draft, self.key = draft, key
        self.answer: tuple[Result, bytes, str] | None = None

    def journal_row(self, result: Result) -> dict[str, Any]:
        body, signature = render(result, self.key.secret)
        self.answer = (result, body, signature)
        return self.draft.values(result, body)


def _in_one_statement(draft: Draft, handler: Callable, payload: dict[str, Any], caller: Caller) -> Outcome | None:
    if connection.vendor != "postgresql":
        return None
    attempt = OneStatement(draft, caller.key)
    # Inside an outer transaction (an operator's replay, a test) a savepoint keeps a failed
    # statement from breaking it; on its own the statement is its own transaction.
    with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
        result = handler(payload, replace(caller, one_statement=attempt))
    if result is None:
        return None
    if attempt.answer is None or attempt.answer[0] is not result:
        raise RuntimeError(f"{draft.activity}: answered in one statement without its journal row")
    return Outcome(*attempt.answer)


def refuse(draft: Draft, surface: Surface, result: Result, error: str, *, caller: Caller | None = None) -> Outcome:
    """Answer and journal a call that did not (or could not) complete; it changed nothing."""
    key = caller.key if caller else surface.primary()
    body, signature = render(result, key.secret)
    try:
        draft.write(result, body, error, durable=False)
    except Exception:
        logger.exception("delivery.journal_failed delivery=%s", draft.id)
    return _observed(draft, Outcome(result, body, signature))


def _observed(draft: Draft, outcome: Outcome) -> Outcome:
    outcome.delivery_id = draft.id
    metrics.observe_delivery(draft.scheme, draft.activity, outcome.result.code, draft.elapsed_ms())
    return outcome
