"""What the check endpoint asks of the service: is this a valid key of ours, and what is the
licence's status now? Read fresh on every call, so a renewal or a freeze shows at once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from .. import signing
from ..models import License
from ..state import EffectiveState, effective_state

Kind, Status = License.Kind, License.Status


class CheckRefused(Exception):
    """Not a valid licence key of ours (or not for this device). The endpoint says only that."""


@dataclass(frozen=True)
class CheckAnswer:
    license: License
    state: EffectiveState
    token: str | None
    reason: str = ""


def license_check(*, token: str, fingerprint: str | None) -> CheckAnswer:
    """The licence's current status, read fresh from the database (so a renewal or a freeze shows
    on the very next call), and, while it is active, a newly signed key with the current expiry.
    Expiry is not held against the key: an expired key is how the software learns of a renewal."""
    verdict = signing.trusted_verifier().verify(token, fingerprint=fingerprint, check_time=False)
    if not verdict.valid:
        raise CheckRefused(verdict.reason)
    claims = verdict.claims or {}
    try:
        license = License.objects.filter(public_id=uuid.UUID(str(claims.get("lid")))).first()
    except ValueError:
        license = None
    if license is None or license.kind == Kind.CODE:
        raise CheckRefused("unknown licence")
    if claims.get("gen") != license.token_generation:
        return CheckAnswer(license, EffectiveState(Status.REVOKED, license.valid_until), None, "superseded")
    state = effective_state(license)
    fresh = None
    if state.status == Status.ACTIVE:
        fresh, _ = signing.sign(signing.claims_for(license, valid_until=state.valid_until))
    return CheckAnswer(license, state, fresh)
