"""Replay protection: each V2 / Kit V2 nonce is accepted once (koogallery-protocol.md §2.3 step 5).

The store is PostgreSQL (SQLite in embedded mode), not Redis, so that a broker outage never stops
KooGallery's calls from being answered. Every verified nonce is consumed, whatever the call's
outcome. The claim runs inside the call's transaction (one commit per call): a concurrent
duplicate waits on the unique index and is refused once the first commits. When the call fails
and its transaction rolls back, the refusal path records the nonce again with the journal row.
Nonces are stored only after the signature verified, so forged calls cannot fill the table.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from .envelope import AuthError
from .models import SeenNonce

logger = logging.getLogger(__name__)

PRUNE_PROBABILITY = 0.002
MAX_NONCE_LENGTH = 255


def retention() -> timedelta:
    # Twice the window on either side of our clock: no replay inside it can slip through.
    return timedelta(seconds=4 * settings.KOOGALLERY_SIGNATURE_TOLERANCE_SECONDS + 60)


def claim(scheme: str, nonce: str) -> None:
    """Record the nonce, or raise AuthError if it was seen already. Call inside a transaction."""
    if len(nonce) > MAX_NONCE_LENGTH:
        raise AuthError("nonce too long")
    if not _insert(scheme, nonce):
        raise AuthError("nonce already used")
    if random.random() < PRUNE_PROBABILITY:
        prune()


def remember(scheme: str, nonce: str) -> None:
    """Record the nonce if it is not there yet (after a failed call rolled its claim back)."""
    if len(nonce) <= MAX_NONCE_LENGTH:
        _insert(scheme, nonce)


def _insert(scheme: str, nonce: str) -> bool:
    table = SeenNonce._meta.db_table
    # One statement, no savepoint: ON CONFLICT DO NOTHING RETURNING works in PostgreSQL and SQLite.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (scheme, nonce, seen_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (scheme, nonce) DO NOTHING RETURNING id",
            [scheme, nonce, timezone.now()],
        )
        return cursor.fetchone() is not None


def prune() -> int:
    deleted, _ = SeenNonce.objects.filter(seen_at__lt=timezone.now() - retention()).delete()
    if deleted:
        logger.info("nonces.pruned count=%d", deleted)
    return deleted
