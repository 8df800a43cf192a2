"""The usage journal and the header-name samples: the only code that writes this app's tables."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from marketplace_isv import strict_json
from marketplace_isv.fields import key_fit

from .models import HeaderSample, UsageRecord
from .usage import TOKEN_FIELDS, Usage, UsageError

logger = logging.getLogger(__name__)

# What the journal's columns hold (models.UsageRecord); beyond it a report is refused (UsageError).
BIGINT_MAX = 2**63 - 1  # the token columns are PostgreSQL bigint
DURATION_LIMIT = Decimal(10) ** 13  # video_duration is numeric(16, 3): 13 digits before the point
USAGE_MAX_DEPTH = 32  # a usage object is flat, or one level deeper (OpenAI's *_tokens_details)


def _clip(value: Any, limit: int) -> str:
    return "" if value is None else str(value)[:limit]


def _fit_columns(usage: Usage) -> None:
    """UsageError for a value the journal's columns cannot hold: the database would refuse it
    (bigint out of range, numeric overflow), and a refused row is a 400, not a journal outage."""
    for name in TOKEN_FIELDS:
        value = getattr(usage, name)
        if value is not None and value > BIGINT_MAX:
            raise UsageError(f"usage.{name} is larger than the journal holds (2**63 - 1)")
    duration = usage.video_duration
    if duration is not None:
        if not duration.is_finite():
            raise UsageError("usage.video_duration is not a finite number")
        # Compared before rounding (1e30 cannot be rounded to 3 places), then after (a
        # 9999999999999.9999 rounds to 14 digits).
        if abs(duration) >= DURATION_LIMIT or abs(duration.quantize(Decimal("0.001"))) >= DURATION_LIMIT:
            raise UsageError("usage.video_duration is larger than the journal holds (13 digits)")


def _latency(value: float | None) -> float | None:
    """Milliseconds as the float column holds them; an integer of 400 digits is no float."""
    if value is None:
        return None
    try:
        latency = round(float(value), 3)
    except OverflowError as exc:
        raise UsageError("latency_ms is out of range") from exc
    if not math.isfinite(latency):
        raise UsageError("latency_ms is not a finite number")
    if latency < 0:
        raise UsageError("latency_ms must not be negative")
    return latency


def usage_record(
    *,
    request_id: str,
    agent: str,
    status: str = UsageRecord.Status.OK,
    usage: Usage | Mapping[str, Any] | None = None,
    received_at: datetime | None = None,
    customer_id: str = "",
    customer_name: str = "",
    model: str = "",
    stream: bool = False,
    http_status: int | None = None,
    api_key: str = "",
    source: str = UsageRecord.Source.LIBRARY,
    latency_ms: float | None = None,
    error: str = "",
) -> tuple[UsageRecord, bool]:
    """Journal one forwarded call; (row, created). Idempotent per `request_id`: a repeat changes
    nothing and returns the first row with created=False. `usage` is a `Usage` or the object as
    reported (validated: UsageError when the gateway could not bill from it)."""
    # An id longer than the column keeps its beginning and a digest of the whole (key_fit): the
    # gateway has billed the call already, so refusing the row would only lose it from the journal;
    # every report of the same id still finds the same row.
    request_id = key_fit((request_id or "").strip())
    if not request_id:
        raise UsageError("request_id is required")
    if not (agent or "").strip():
        raise UsageError("agent is required")
    if status not in UsageRecord.Status.values:
        raise UsageError(f"status must be one of {', '.join(UsageRecord.Status.values)}")
    if usage is None:
        if status == UsageRecord.Status.OK:
            raise UsageError("usage is required when status is ok")
        parsed, raw = Usage(), None
    elif isinstance(usage, Usage):
        parsed, raw = usage, usage.as_json()
    else:
        parsed, raw = Usage.parse(usage), dict(usage)
        # Whatever depth the body's reading allowed, the JSONField encodes the object again from
        # a deeper stack: the journal keeps only a sane depth.
        if strict_json.depth_exceeds(raw, USAGE_MAX_DEPTH):
            raise UsageError(f"usage nests deeper than {USAGE_MAX_DEPTH} levels")
    _fit_columns(parsed)
    latency = _latency(latency_ms)
    defaults = {
        "received_at": received_at or timezone.now(),
        "customer_id": _clip(customer_id, 128),
        "customer_name": _clip(customer_name, 255),
        "agent": _clip(agent.strip(), 128),
        "model": _clip(model, 128),
        "stream": bool(stream),
        "status": status,
        "http_status": http_status,
        "prompt_tokens": parsed.prompt_tokens,
        "completion_tokens": parsed.completion_tokens,
        "total_tokens": parsed.total_tokens,
        "input_tokens": parsed.input_tokens,
        "output_tokens": parsed.output_tokens,
        "image_count": parsed.image_count,
        "video_duration": parsed.video_duration,
        "usage": raw,
        "api_key": _clip(api_key, 128),
        "source": source,
        "latency_ms": latency,
        "error": _clip(error, 255),
    }
    try:
        with transaction.atomic():
            record, created = UsageRecord.objects.get_or_create(request_id=request_id, defaults=defaults)
    except IntegrityError:
        # Another process inserted the same request id between our read and our write.
        record, created = UsageRecord.objects.get(request_id=request_id), False
    if created:
        logger.info("agents_gateway.usage_recorded request_id=%s agent=%s status=%s", request_id, agent, status)
    else:
        logger.info("agents_gateway.usage_repeat request_id=%s kept=%s", request_id, record.status)
    return record, created


def header_sample_take(
    *,
    method: str,
    path: str,
    header_names: list[str],
    token_header: str,
    token_form: str,
    outcome: str,
    api_key: str = "",
    limit: int,
) -> HeaderSample | None:
    """Keep the header names of one of the first `limit` gateway calls; None once full.

    The unique `slot` makes the cap hold across processes: two calls racing for the same slot
    insert once, and the loser simply keeps no sample."""
    if limit <= 0 or HeaderSample.objects.filter(slot__gte=limit).exists():
        return None
    slot = (HeaderSample.objects.aggregate(last=Max("slot"))["last"] or 0) + 1
    if slot > limit:
        return None
    try:
        with transaction.atomic():
            sample = HeaderSample.objects.create(
                slot=slot,
                received_at=timezone.now(),
                method=method[:8],
                path=path.replace("\x00", "%00")[:512],  # PostgreSQL text holds no NUL: its wire spelling
                header_names=sorted(name.replace("\x00", "%00") for name in header_names),
                token_header=token_header[:128],
                token_form=token_form[:16],
                outcome=outcome[:32],
                api_key=api_key[:128],
            )
    except IntegrityError:
        return None
    logger.info(
        "agents_gateway.header_sample slot=%s outcome=%s names=%s", slot, outcome, ",".join(sample.header_names)
    )
    return sample
