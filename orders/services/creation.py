"""newInstance (§4.1.1, §4.2.1), queryInstance (§4.1.2) and orderNotify (§4.1.8)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from .. import alerts, jobs, statements
from ..credentials import new_password, new_user_name
from ..inserts import fitted, insert_unless_conflict
from ..models import Instance, InstanceOrder, Job, OrderNotification, Provisioning, Status
from ..states import log_created, log_created_values, transition
from .common import frontend_url, locked

logger = logging.getLogger("orders.services")

# A businessId kept as the instance id (§4.1.1's recommendation) must make a usable path segment of
# the frontEndUrl: no "." or ".." (a browser resolves them away), nothing that needs escaping.
INSTANCE_ID = re.compile(r"(?!\.{1,2}$)[A-Za-z0-9._:-]{1,64}")


@dataclass(frozen=True)
class Purchase:
    """What a newInstance call says (V2: little more than the order line; V1: everything)."""

    generation: int
    order_id: str
    business_id: str
    is_test: bool
    order_line_id: str = ""
    product_id: str = ""
    sku_code: str = ""
    customer_id: str = ""
    customer_name: str = ""
    user_id: str = ""
    user_name: str = ""
    mobile_phone: str = ""
    email: str = ""
    is_trial: bool = False
    expires_at: datetime | None = None
    charging_mode: str = ""
    period_type: str = ""
    period_number: int | None = None
    order_amount: Decimal | None = None
    provision_type: str = ""
    quantity: int | None = None
    disk_size: int | None = None
    band_width: int | None = None
    saas_extend_params: list = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        # Text cut to the instance's columns (§4.0): the row is written, and found again on a
        # repeat, by the same values (the call's own are kept in `params`).
        for name, value in fitted(Instance, **{name: getattr(self, name) for name in PURCHASE_COLUMNS}).items():
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class Created:
    instance: Instance
    created: bool
    ready: bool


# --- newInstance ---------------------------------------------------------------------------------


def _find(purchase: Purchase) -> Instance | None:
    rows = Instance.objects.filter(generation=purchase.generation, order_id=purchase.order_id)
    if purchase.generation == 2:
        return rows.filter(order_line_id=purchase.order_line_id).first()
    return rows.filter(purchase_product_id=purchase.product_id).first()


# What an instance takes from the purchase as it is (the rest is computed in _new_values).
PURCHASE_COLUMNS = (
    "generation", "order_id", "order_line_id", "product_id", "sku_code", "business_id", "customer_id",
    "customer_name", "user_id", "user_name", "mobile_phone", "email", "is_trial", "is_test", "expires_at",
    "charging_mode", "period_type", "period_number", "order_amount", "provision_type", "quantity",
    "disk_size", "band_width", "saas_extend_params",
)  # fmt: skip


def _new_values(purchase: Purchase, instance_id: str, now) -> dict[str, Any]:
    values = {name: getattr(purchase, name) for name in PURCHASE_COLUMNS}
    values.update(
        instance_id=instance_id,
        purchase_product_id=purchase.product_id if purchase.generation == 1 else "",
        request_params=purchase.params,
        effective_at=now,
        front_end_url=frontend_url(instance_id),
        app_user_name=new_user_name(),
        app_password=new_password(),
    )
    return values


def _candidates(purchase: Purchase) -> list[str]:
    # §4.1.1: the instance id is the businessId of the first call, when it is a usable id (no
    # comma: queryInstance lists are comma-separated), else a UUID.
    preferred = purchase.business_id if INSTANCE_ID.fullmatch(purchase.business_id) else None
    return ([preferred] if preferred else []) + [str(uuid.uuid4()) for _ in range(2)]


def _insert(purchase: Purchase, *, delivery_id, actor: str) -> tuple[Instance, bool]:
    one_statement = connection.vendor == "postgresql"
    for candidate in _candidates(purchase):
        if one_statement:
            instance = _insert_in_one_statement(candidate, purchase, delivery_id=delivery_id, actor=actor)
        else:
            instance = _insert_with_the_orm(candidate, purchase, delivery_id=delivery_id, actor=actor)
        if instance is None:
            # Either a concurrent duplicate won (return its row), or the id is taken elsewhere.
            existing = _find(purchase)
            if existing is not None:
                return existing, False
            continue
        logger.info("orders.instance_created instance=%s delivery=%s", instance.instance_id, delivery_id)
        return instance, True
    raise RuntimeError("could not allocate an instance id")


def _insert_in_one_statement(
    candidate: str, purchase: Purchase, *, delivery_id, actor: str, journal: dict[str, Any] | None = None
) -> Instance | None:
    """PostgreSQL: the instance, its creation log row, its purchase order and its provisioning job
    in one round trip (orders.statements); the three others only if the instance was inserted."""
    now = timezone.now()
    reason = f"newInstance order {purchase.order_id}"
    inserted = statements.insert_purchase(
        _new_values(purchase, candidate, now),
        log_created_values(reason=reason, delivery_id=delivery_id, actor=actor),
        {
            "order_id": purchase.order_id,
            "order_line_id": purchase.order_line_id,
            "product_id": purchase.product_id,
            "expires_at": purchase.expires_at,
            "amount": purchase.order_amount,
            "params": purchase.params,
            "delivery_id": delivery_id,
        },
        jobs.provision_values(is_test=purchase.is_test, delivery_id=delivery_id, actor=actor, now=now),
        now=now,
        notify=jobs.through_outbox(),
        journal=journal,
    )
    if inserted is None:
        return None
    jobs.written(inserted.job_id, notified=True)
    return inserted.instance


def _insert_with_the_orm(candidate: str, purchase: Purchase, *, delivery_id, actor: str) -> Instance | None:
    instance = Instance(**_new_values(purchase, candidate, timezone.now()))
    if not insert_unless_conflict(instance):
        return None
    log_created(instance, reason=f"newInstance order {purchase.order_id}", delivery_id=delivery_id, actor=actor)
    InstanceOrder.objects.create(  # a new instance: no concurrent duplicate can exist
        instance=instance,
        kind=InstanceOrder.Kind.PURCHASE,
        **fitted(
            InstanceOrder,
            order_id=purchase.order_id,
            order_line_id=purchase.order_line_id,
            product_id=purchase.product_id,
        ),
        expires_at=purchase.expires_at,
        amount=purchase.order_amount,
        params=purchase.params,
        delivery_id=delivery_id,
    )
    jobs.job_add(instance, Job.Kind.PROVISION, actor=actor, delivery_id=delivery_id)
    return instance


def instance_create_fresh(
    *, purchase: Purchase, delivery_id, actor: str, journal_row: Callable[[str], dict[str, Any]]
) -> Instance | None:
    """A fresh order line's instance, with its log row, order, job — and the call's journal row,
    `journal_row(instance_id)` — in one autocommitted statement (PostgreSQL; V2 newInstance
    through pipeline.OneStatement). Returns None, having written nothing, when the order line
    already has an instance or the preferred id is taken: `instance_create` does the rest."""
    candidate = _candidates(purchase)[0]
    instance = _insert_in_one_statement(
        candidate, purchase, delivery_id=delivery_id, actor=actor, journal=journal_row(candidate)
    )
    if instance is not None:
        logger.info("orders.instance_created instance=%s delivery=%s", instance.instance_id, delivery_id)
    return instance


def instance_create(*, purchase: Purchase, delivery_id, actor: str) -> Created:
    """newInstance (§4.1.1, §4.2.1): one instance per order line (V2) / order + product (V1),
    whatever the number of calls and however they interleave.

    The insert comes first (fresh orders are the common case and the hot path); a repeat or a
    concurrent duplicate fails on the unique constraint and gets the row that won."""
    instance, created = _insert(purchase, delivery_id=delivery_id, actor=actor)
    if created:
        return Created(instance, True, False)
    revived = False
    if instance.status == Status.RELEASED or instance.provisioning_state == Provisioning.FAILED:
        instance = locked(instance.instance_id)
        revived = _repeat_after_end(instance, purchase, delivery_id=delivery_id, actor=actor)
    if not revived and instance.status == Status.RELEASED:
        # Released (a real instance released while it was still being provisioned never will be):
        # the repeat gets its id and 000000 (§5.5, docs/orders.md §11), never 000004 forever.
        return Created(instance, False, True)
    if not revived and instance.provisioned_at is None:
        instance = _wait_until_ready(instance)
    return Created(instance, False, not revived and instance.provisioned_at is not None)


def _repeat_after_end(instance: Instance, purchase: Purchase, *, delivery_id, actor: str) -> bool:
    """A repeated newInstance for a released or failed instance. Returns True if it was revived."""
    if instance.status == Status.RELEASED:
        if not instance.is_test:
            alerts.raise_alert(
                alerts.Alert.Kind.NEW_FOR_RELEASED,
                instance=instance,
                message=f"newInstance repeated for order {purchase.order_id} after its instance was released",
                delivery_id=delivery_id,
            )
            return False
        # §5.4: dial tests replay newInstance after release, forever: the same instance comes back.
        jobs.job_add(instance, Job.Kind.PROVISION, actor=actor, delivery_id=delivery_id)
        transition(
            instance,
            "revive",
            status=Status.ACTIVE,
            provisioning=Provisioning.PENDING,
            reason="test newInstance repeated after release",
            delivery_id=delivery_id,
            actor=actor,
        )
        return True
    if instance.provisioned_at is None and instance.provisioning_state == Provisioning.FAILED:
        # KooGallery resends newInstance (retries, or the seller's 重新启动, §5.2): try again.
        jobs.rearm_failed(instance, actor=actor, delivery_id=delivery_id)
        transition(
            instance,
            "retry",
            provisioning=jobs.provisioning_state_of(instance),
            reason="newInstance repeated after provisioning failed",
            delivery_id=delivery_id,
            actor=actor,
        )
    return False


def _wait_until_ready(instance: Instance) -> Instance:
    """ORDERS_NEW_INSTANCE_WAIT_SECONDS (default 0): wait a little for a provisioning already under
    way. Only a repeat can profit: the first call's job starts once its answer's transaction commits."""
    wait = float(getattr(settings, "ORDERS_NEW_INSTANCE_WAIT_SECONDS", 0) or 0)
    deadline = time.monotonic() + wait
    while wait > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
        instance.refresh_from_db(fields=["provisioned_at", "provisioning_state"])
        if instance.provisioned_at is not None or instance.provisioning_state == Provisioning.FAILED:
            break
    return instance


# --- queryInstance -------------------------------------------------------------------------------


def instance_query(*, instance_ids: list[str]) -> list[statements.AnswerRow]:
    """The known instances among `instance_ids`, in the order asked: one statement (§4.1.2).
    KooGallery polls this and calls it live, so it reads only the columns its answer needs."""
    rows = statements.instances_for_answer(instance_ids)
    found = {row.instance_id: row for row in rows}
    return [found[i] for i in instance_ids if i in found]


# --- orderNotify ---------------------------------------------------------------------------------


def order_notification_record(
    *, order_id: str, order_line_id: str, is_test: bool, delivery_id=None, actor: str
) -> OrderNotification:
    """orderNotify (§4.1.8): record once per order line; Query Order runs in the background."""
    key = fitted(OrderNotification, order_id=order_id, order_line_id=order_line_id)
    try:
        with transaction.atomic():
            notification = OrderNotification.objects.create(**key, is_test=is_test, delivery_id=delivery_id)
    except IntegrityError:
        notification = OrderNotification.objects.select_for_update().get(**key)
        notification.count += 1
        notification.delivery_id = delivery_id
        notification.save(update_fields=["count", "delivery_id", "last_received_at"])
        if notification.query_order is not None or notification.jobs.filter(state__in=Job.OPEN).exists():
            return notification
        # A fetch that failed is superseded by this one (so its alert can close once it answers).
        notification.jobs.filter(state=Job.State.FAILED).update(state=Job.State.CANCELLED)
    jobs.order_fetch_add(notification, actor=actor, delivery_id=delivery_id, is_test=is_test)
    return notification
