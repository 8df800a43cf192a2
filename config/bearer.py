"""The shared-token check of the service's own APIs for the seller's systems (the Agents usage
journal, the pay-per-use usage API): `Authorization: Bearer <token>`, the prefix optional,
compared in constant time."""

from __future__ import annotations

import hmac

from django.http import HttpRequest


def bearer_matches(request: HttpRequest, token: str) -> bool:
    given = request.headers.get("Authorization", "").strip()
    if given[:7].lower() == "bearer ":
        given = given[7:].strip()
    return hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))
