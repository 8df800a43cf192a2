"""The instance state machine: one function moves an instance and logs the move (house style 5).

Lifecycle `status` (what KooGallery says)::

    ∅ ──create──▶ active ──freeze──▶ frozen ──unfreeze──▶ active
                    │                  │
                    └─────release──────┴──▶ released ──revive (test instances only, §5.4)──▶ active

`provisioning_state` (whether the provisioner caught up) moves freely between pending, ready and
failed as jobs are queued and finish; it rides along in the same log row. A request for the state
the instance is already in changes nothing, logs nothing and is a success.
"""

from __future__ import annotations

from django.utils import timezone

from .models import Instance, Provisioning, Status, Transition

ACTOR_SYSTEM = "system"

ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        ("", Status.ACTIVE),  # created
        (Status.ACTIVE, Status.FROZEN),
        (Status.FROZEN, Status.ACTIVE),
        (Status.ACTIVE, Status.RELEASED),
        (Status.FROZEN, Status.RELEASED),
        (Status.RELEASED, Status.ACTIVE),  # revival: test instances only
    }
)


class IllegalTransition(Exception):
    def __init__(self, instance: Instance, to_status: str):
        super().__init__(f"{instance.instance_id}: {instance.status} → {to_status} is not allowed")


def transition(
    instance: Instance,
    event: str,
    *,
    actor: str,
    status: str | None = None,
    provisioning: str | None = None,
    reason: str = "",
    delivery_id=None,
    note: bool = False,
    save_fields: tuple[str, ...] = (),
) -> bool:
    """Move `instance` to `status` / `provisioning` and append one log row.

    Returns True when something changed (or `note` asks to log an event that changes no state,
    such as a renewal). Raises IllegalTransition for a move the machine does not allow. The caller
    holds the instance row lock (select_for_update) inside the transaction. `save_fields` are other
    fields the caller changed, saved in the same UPDATE.
    """
    from_status, from_provisioning = instance.status, instance.provisioning_state
    to_status = status if status is not None else from_status
    to_provisioning = provisioning if provisioning is not None else from_provisioning
    if to_status != from_status:
        if (from_status, to_status) not in ALLOWED:
            raise IllegalTransition(instance, to_status)
        if from_status == Status.RELEASED and not instance.is_test:
            raise IllegalTransition(instance, to_status)
    changed = (to_status, to_provisioning) != (from_status, from_provisioning)
    fields = set(save_fields)
    if changed:
        instance.status, instance.provisioning_state = to_status, to_provisioning
        fields.update({"status", "provisioning_state"})
        if to_status == Status.RELEASED and from_status != Status.RELEASED:
            instance.released_at = timezone.now()
            fields.add("released_at")
        if to_status != Status.FROZEN and instance.frozen_reason:
            instance.frozen_reason = ""
            fields.add("frozen_reason")
    if fields:
        instance.save(update_fields=sorted(fields | {"updated_at"}))
    if not (changed or note):
        return False
    Transition.objects.create(
        instance=instance,
        event=event[:32],
        from_status=from_status,
        to_status=to_status,
        from_provisioning=from_provisioning,
        to_provisioning=to_provisioning,
        reason=reason[:500],
        delivery_id=delivery_id,
        actor=actor[:160],
    )
    return True


def log_created(instance: Instance, *, reason: str, delivery_id, actor: str) -> None:
    """The first row of every instance's log: ∅ → active, provisioning pending."""
    Transition.objects.create(
        instance=instance, **log_created_values(reason=reason, delivery_id=delivery_id, actor=actor)
    )


def log_created_values(*, reason: str, delivery_id, actor: str) -> dict:
    """The creation row's columns (orders.statements writes it in the instance's own statement)."""
    return {
        "event": "create",
        "from_status": "",
        "to_status": Status.ACTIVE,
        "from_provisioning": "",
        "to_provisioning": Provisioning.PENDING,
        "reason": reason[:500],
        "delivery_id": delivery_id,
        "actor": actor[:160],
    }


def is_ready(instance: Instance) -> bool:
    """Usable by the buyer: provisioned at least once (a revived test instance keeps its appInfo)."""
    return instance.provisioned_at is not None


def has_failed(instance: Instance) -> bool:
    """Provisioning failed for good before the instance was ever usable (U20)."""
    return instance.provisioned_at is None and instance.provisioning_state == Provisioning.FAILED
