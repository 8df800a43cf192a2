"""What every service shares: the outcome type, the row lock, and the answers for never-seen
and released instances (§5.5)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from marketplace_isv.envelope import INSTANCE_NOT_FOUND, SUCCESS

from .. import alerts
from ..inserts import fitted
from ..models import Instance, InstanceOrder

logger = logging.getLogger("orders.services")


@dataclass(frozen=True)
class Outcome:
    code: str = SUCCESS
    message: str | None = None
    instance: Instance | None = None
    changed: bool = True  # False: a success that changed nothing (already in that state, §5.1)


def frontend_url(instance_id: str) -> str:
    return settings.ISV_FRONTEND_URL.replace("{instance_id}", instance_id)[:512]


def locked(instance_id: str) -> Instance | None:
    return Instance.objects.select_for_update().filter(instance_id=instance_id).first()


def unknown(instance_id: str, activity: str, *, is_test: bool, delivery_id) -> Outcome:
    """Never seen (§5.5): 000003, and operators are told about real traffic (U38)."""
    logger.info("orders.unknown_instance activity=%s delivery=%s", activity, delivery_id)
    if not is_test:
        alerts.raise_alert(
            alerts.Alert.Kind.UNKNOWN_INSTANCE,
            instance_ref=instance_id,
            message=f"{activity} for an instance never seen",
            delivery_id=delivery_id,
        )
    return Outcome(INSTANCE_NOT_FOUND, "instance does not exist")


def released(instance: Instance, activity: str, *, delivery_id) -> Outcome:
    """A change to a released instance (§5.4, §5.5): a no-op for a test instance (dial tests replay
    forever); for a real one 000003 and an operator alert."""
    if instance.is_test:
        return Outcome(instance=instance)
    alerts.raise_alert(
        alerts.Alert.Kind.RELEASED_INSTANCE,
        instance=instance,
        message=f"{activity} for an instance already released",
        delivery_id=delivery_id,
    )
    return Outcome(INSTANCE_NOT_FOUND, "instance was released", instance)


def record_order(instance: Instance, kind: str, *, order_id: str, order_line_id: str = "", scene: str = "", **values):
    """Every order seen, once per (instance, order, line, kind); a refresh once per (instance,
    order, scene), whatever its line (§5.1). Returns (row, created): the row that won if not."""
    key = fitted(InstanceOrder, order_id=order_id, order_line_id=order_line_id, scene=scene)
    try:
        with transaction.atomic():
            return InstanceOrder.objects.create(
                instance=instance, kind=kind, **key, **fitted(InstanceOrder, **values)
            ), True
    except IntegrityError:
        if kind in InstanceOrder.REFRESH_KINDS:
            key.pop("order_line_id")
        return InstanceOrder.objects.get(instance=instance, kind=kind, **key), False


def assign(instance: Instance, **values) -> list[str]:
    """Set the non-empty values that differ; returns the names of the fields changed."""
    changed = []
    for name, value in fitted(Instance, **values).items():  # cut first: a repeat compares equal
        if value is None or value == "" or getattr(instance, name) == value:
            continue
        setattr(instance, name, value)
        changed.append(name)
    return changed
