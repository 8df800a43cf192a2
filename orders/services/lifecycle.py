"""Everything after newInstance: refreshInstance, freezes, releases, upgrades and
changeInstanceCheck (§4.1.3–§4.1.7, §4.2.2–§4.2.6)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from marketplace_isv.envelope import INTERNAL_ERROR, PARAM_INVALID, SUCCESS

from .. import jobs, provisioners
from ..models import Instance, InstanceOrder, Job, Provisioning, Status
from ..provisioners import ChangeRequest, ProvisionerError
from ..specs import spec_of
from ..states import transition
from .common import Outcome, assign, locked, record_order, released, unknown

logger = logging.getLogger("orders.services")

# §4.1.3 scenes → the kind of order recorded; an unknown scene is still an expiry update (U22).
SCENES = {
    "TRIAL_TO_FORMAL": InstanceOrder.Kind.TRIAL_TO_FORMAL,
    "RENEWAL": InstanceOrder.Kind.RENEWAL,
    "UNSUBSCRIBE_RENEWAL_PERIOD": InstanceOrder.Kind.UNSUBSCRIBE_RENEWAL,
    "RENEWAL_CHANGE": InstanceOrder.Kind.RENEWAL_CHANGE,
}
FETCH_SCENES = {"TRIAL_TO_FORMAL", "RENEWAL_CHANGE"}  # the new spec comes from Query Order (§4.1.3)


@dataclass(frozen=True)
class SpecChange:
    """V1 `upgrade` carries the new spec itself (§4.2.5); V2 learns it from Query Order."""

    sku_code: str
    product_id: str
    quantity: int | None = None
    disk_size: int | None = None
    band_width: int | None = None
    saas_extend_params: list | None = None


# --- refreshInstance -----------------------------------------------------------------------------


def instance_refresh(
    *,
    instance_id: str,
    order_id: str,
    expires_at: datetime,
    scene: str,
    generation: int,
    is_test: bool,
    order_line_id: str = "",
    product_id: str = "",
    period_type: str = "",
    period_number: int | None = None,
    amount: Decimal | None = None,
    params: dict | None = None,
    delivery_id=None,
    actor: str,
) -> Outcome:
    """refreshInstance (§4.1.3, §4.2.2): set the expiry to the absolute value received."""
    instance = locked(instance_id)
    if instance is None:
        return unknown(instance_id, "refreshInstance", is_test=is_test, delivery_id=delivery_id)
    if instance.status == Status.RELEASED:
        return released(instance, "refreshInstance", delivery_id=delivery_id)
    kind = SCENES.get(scene, InstanceOrder.Kind.OTHER)
    if kind == InstanceOrder.Kind.OTHER:
        logger.warning("orders.unknown_scene scene=%s delivery=%s", scene[:64], delivery_id)  # U22
    _, new_order = record_order(
        instance,
        kind,
        scene=scene,
        order_id=order_id,
        order_line_id=order_line_id,
        product_id=product_id,
        expires_at=expires_at,
        amount=amount,
        params=params or {},
        delivery_id=delivery_id,
    )
    if not new_order:
        # A repeat of an order already applied (KooGallery's retry, an operator's replay) changes
        # nothing: replaying an older renewal must not roll the expiry back (§5.1).
        return Outcome(instance=instance)
    changed = assign(
        instance,
        expires_at=expires_at,
        product_id=product_id,
        period_type=period_type,
        period_number=period_number,
        is_trial=False if kind == InstanceOrder.Kind.TRIAL_TO_FORMAL else None,
    )
    if (
        generation == 1
        and instance.status == Status.FROZEN
        and instance.frozen_reason == "expired"
        and expires_at > timezone.now()
    ):
        # §5.6: V1 has no unfreeze call for periodic products; a renewal into the future lifts an
        # expiry freeze. (A V2 refresh waits for updateInstanceStatus UNFREEZE.)
        jobs.job_add(instance, Job.Kind.UNFREEZE, actor=actor, delivery_id=delivery_id)
        transition(
            instance,
            "unfreeze",
            status=Status.ACTIVE,
            provisioning=Provisioning.PENDING,
            reason="V1 renewal moved the expiry into the future",
            delivery_id=delivery_id,
            actor=actor,
        )
    if not (new_order or changed):
        return Outcome(instance=instance)
    fetch = generation == 2 and new_order and scene in FETCH_SCENES
    jobs.job_add(
        instance,
        Job.Kind.RENEW,
        actor=actor,
        delivery_id=delivery_id,
        order_id=order_id if fetch else "",
        order_line_id=order_line_id if fetch else "",
        fetch_order=fetch,
    )
    transition(
        instance,
        "renew",
        provisioning=Provisioning.PENDING,
        reason=f"{scene} order {order_id}: expires {expires_at:%Y-%m-%d %H:%M:%S}",
        delivery_id=delivery_id,
        actor=actor,
        note=True,
        save_fields=tuple(changed),
    )
    return Outcome(instance=instance)


# --- freeze / unfreeze ---------------------------------------------------------------------------


def instance_freeze(
    *, instance_id: str, reason: str, activity: str, is_test: bool, delivery_id=None, actor: str
) -> Outcome:
    """updateInstanceStatus FREEZE, V1 expireInstance / instanceStatus FREEZE, or an operator.
    Freezing blocks use and keeps every byte of data (§5.6)."""
    instance = locked(instance_id)
    if instance is None:
        return unknown(instance_id, activity, is_test=is_test, delivery_id=delivery_id)
    if instance.status == Status.RELEASED:
        if activity == "expireInstance":
            return Outcome(instance=instance)  # expiry after release: already beyond frozen
        return released(instance, activity, delivery_id=delivery_id)
    if instance.status == Status.FROZEN:
        return Outcome(instance=instance, changed=False)  # §5.1: already in that state
    instance.frozen_reason = reason
    jobs.job_add(instance, Job.Kind.FREEZE, actor=actor, delivery_id=delivery_id)
    transition(
        instance,
        "freeze",
        status=Status.FROZEN,
        provisioning=Provisioning.PENDING,
        reason=f"{activity} ({reason})",
        delivery_id=delivery_id,
        actor=actor,
        save_fields=("frozen_reason",),
    )
    return Outcome(instance=instance)


def instance_unfreeze(*, instance_id: str, activity: str, is_test: bool, delivery_id=None, actor: str) -> Outcome:
    instance = locked(instance_id)
    if instance is None:
        return unknown(instance_id, activity, is_test=is_test, delivery_id=delivery_id)
    if instance.status == Status.RELEASED:
        return released(instance, activity, delivery_id=delivery_id)
    if instance.status == Status.ACTIVE:
        return Outcome(instance=instance, changed=False)
    jobs.job_add(instance, Job.Kind.UNFREEZE, actor=actor, delivery_id=delivery_id)
    transition(
        instance,
        "unfreeze",
        status=Status.ACTIVE,
        provisioning=Provisioning.PENDING,
        reason=activity,
        delivery_id=delivery_id,
        actor=actor,
    )
    return Outcome(instance=instance)


# --- releaseInstance -----------------------------------------------------------------------------


def instance_release(
    *,
    instance_id: str,
    is_test: bool,
    unsubscribe_order_id: str = "",
    unsubscribe_order_line_id: str = "",
    params: dict | None = None,
    delivery_id=None,
    actor: str,
) -> Outcome:
    """releaseInstance (§4.1.5, §4.2.4): deprovision; a release of a released instance is 000000."""
    instance = locked(instance_id)
    if instance is None:
        return unknown(instance_id, "releaseInstance", is_test=is_test, delivery_id=delivery_id)
    if unsubscribe_order_id:
        record_order(
            instance,
            InstanceOrder.Kind.UNSUBSCRIBE,
            order_id=unsubscribe_order_id,
            order_line_id=unsubscribe_order_line_id,
            params=params or {},
            delivery_id=delivery_id,
        )
    if instance.status == Status.RELEASED:
        return Outcome(instance=instance)
    # Queued work is superseded (release while provisioning: nothing gets provisioned); a job
    # already running finishes first and the release follows it.
    jobs.cancel_unstarted(instance)
    Job.objects.filter(instance=instance, state=Job.State.FAILED).update(state=Job.State.CANCELLED)
    deprovision = jobs.provision_attempted(instance) or instance.jobs.filter(state=Job.State.RUNNING).exists()
    if deprovision:
        jobs.job_add(instance, Job.Kind.RELEASE, actor=actor, delivery_id=delivery_id)
    transition(
        instance,
        "release",
        status=Status.RELEASED,
        provisioning=jobs.provisioning_state_of(instance),
        reason="releaseInstance" + (f" (unsubscribe order {unsubscribe_order_id})" if unsubscribe_order_id else ""),
        delivery_id=delivery_id,
        actor=actor,
    )
    return Outcome(instance=instance)


# --- upgrade -------------------------------------------------------------------------------------


def instance_upgrade(
    *,
    instance_id: str,
    order_id: str,
    generation: int,
    is_test: bool,
    order_line_id: str = "",
    change: SpecChange | None = None,
    params: dict | None = None,
    delivery_id=None,
    actor: str,
) -> Outcome:
    """upgradeInstance (§4.1.6) / V1 upgrade (§4.2.5): applied once per upgrade order."""
    instance = locked(instance_id)
    if instance is None:
        return unknown(instance_id, "upgradeInstance", is_test=is_test, delivery_id=delivery_id)
    if instance.status == Status.RELEASED:
        return released(instance, "upgradeInstance", delivery_id=delivery_id)
    _, new_order = record_order(
        instance,
        InstanceOrder.Kind.UPGRADE,
        order_id=order_id,
        order_line_id=order_line_id,
        product_id=change.product_id if change else "",
        params=params or {},
        delivery_id=delivery_id,
    )
    if not new_order:
        return Outcome(instance=instance)  # §5.1: apply once
    changed: list[str] = []
    if change is not None:
        changed = assign(
            instance,
            sku_code=change.sku_code,
            product_id=change.product_id,
            quantity=change.quantity,
            disk_size=change.disk_size,
            band_width=change.band_width,
            saas_extend_params=change.saas_extend_params or None,
        )
    jobs.job_add(
        instance,
        Job.Kind.UPGRADE,
        actor=actor,
        delivery_id=delivery_id,
        order_id=order_id if generation == 2 else "",
        order_line_id=order_line_id if generation == 2 else "",
        fetch_order=generation == 2,
    )
    transition(
        instance,
        "upgrade",
        provisioning=Provisioning.PENDING,
        reason=f"upgrade order {order_id}" + (f": {', '.join(changed)}" if changed else ""),
        delivery_id=delivery_id,
        actor=actor,
        note=True,
        save_fields=tuple(changed),
    )
    return Outcome(instance=instance)


# --- changeInstanceCheck -------------------------------------------------------------------------


def instance_check_change(
    *, instance_id: str, change: ChangeRequest, is_test: bool, delivery_id=None, actor: str
) -> Outcome:
    """changeInstanceCheck (§4.1.7) for real traffic (debug calls are accepted by the callback,
    before any field is checked): the provisioner decides. Every refusal is 000002 (U23; 000003 is
    not among this interface's codes, §5.5, §6), also for a never-seen or released instance, which
    still raise their operator alerts."""
    instance = Instance.objects.filter(instance_id=instance_id).first()
    if instance is None:
        unknown(instance_id, "changeInstanceCheck", is_test=is_test, delivery_id=delivery_id)
        return Outcome(PARAM_INVALID, "instance does not exist: no change can be checked")
    if instance.status == Status.RELEASED:
        outcome = released(instance, "changeInstanceCheck", delivery_id=delivery_id)
        if outcome.code == SUCCESS:  # a released test instance: a no-op, 000000 (§5.4)
            return outcome
        return Outcome(PARAM_INVALID, "instance was released: no change can be checked", instance)
    try:
        verdict = provisioners.for_instance(instance.is_test).check_change(spec_of(instance), change)
    except ProvisionerError as exc:
        logger.warning("orders.check_change_unavailable delivery=%s error=%s", delivery_id, exc)
        return Outcome(INTERNAL_ERROR, "the change cannot be checked right now", instance)
    target = f"{change.product_id}/{change.sku_code}" + (f" ×{change.linear_value}" if change.linear_value else "")
    transition(
        instance,
        "change_check",
        note=True,
        reason=f"{'accepted' if verdict.accepted else 'rejected'} {target}"
        + (f": {verdict.reason}" if verdict.reason else ""),
        delivery_id=delivery_id,
        actor=actor,
    )
    if verdict.accepted:
        return Outcome(instance=instance)
    return Outcome(PARAM_INVALID, verdict.reason or "the requested change is not possible for this instance", instance)
