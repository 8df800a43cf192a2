"""A licence's status and expiry as the ISV's software should see them right now.

V1 licences and License 2.0 codes carry their own state (KooGallery's calls change it). An online
licence (getLicenseAsync) gets no calls of its own after it is issued: it follows its instance —
frozen while the instance is frozen, released once the instance is released, and its expiry is
the instance's current expiry when the instance has one, so renewals and refunds of the
subscription reach the software through the check endpoint (docs/licenses.md, protocol notes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .instances import find_instance
from .models import License

Status = License.Status

_FROM_INSTANCE = {"frozen": Status.FROZEN, "released": Status.RELEASED, "failed": Status.RELEASED}


@dataclass(frozen=True)
class EffectiveState:
    status: str
    valid_until: datetime | None


def effective_state(license: License) -> EffectiveState:
    if license.kind != License.Kind.ONLINE or license.status == Status.REVOKED:
        return EffectiveState(license.status, license.valid_until)
    instance = find_instance(license.instance_id)
    if instance is None:
        return EffectiveState(license.status, license.valid_until)
    status = _FROM_INSTANCE.get(instance.status, license.status)
    return EffectiveState(status, instance.expires_at or license.valid_until)
