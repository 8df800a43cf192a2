"""Orders and instances: what KooGallery sold, what we provisioned, and every step in between.

An `Instance` is one purchased SaaS resource (one V2 order line, or one V1 order + productId). Its
lifecycle `status` (active → frozen → released) is what KooGallery told us; its
`provisioning_state` (pending / ready / failed) says whether the provisioner has caught up. Both
change only through `orders.states.transition`, which appends a `Transition` row. Slow work is a
`Job` row written in the same transaction and run by Celery (orders.jobs): the row is also the
message, published by the outbox dispatcher (orders.outbox).

Idempotency lives in the unique constraints below (koogallery-protocol.md §5.1).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class ChargingMode(models.TextChoices):
    """KooGallery's words (Query Order, §7.1); V1's numbers are mapped onto them (§4.2.1)."""

    PERIOD = "PERIOD", "periodic (包周期)"
    ONE_TIME = "ONE_TIME", "one-time (按次)"
    ON_DEMAND = "ON_DEMAND", "pay-per-use (按需)"
    ON_DEMAND_PKG = "ON_DEMAND_PKG", "pay-per-use package (按需套餐包)"


class Status(models.TextChoices):
    ACTIVE = "active", "active"
    FROZEN = "frozen", "frozen (data kept)"
    RELEASED = "released", "released"


class Provisioning(models.TextChoices):
    PENDING = "pending", "pending (work queued)"
    READY = "ready", "ready (provisioner in sync)"
    FAILED = "failed", "failed (operator attention)"


class Instance(models.Model):
    instance_id = models.CharField(max_length=64, unique=True, help_text="our id, answered to KooGallery")
    generation = models.PositiveSmallIntegerField(choices=[(1, "V1"), (2, "V2")])
    order_id = models.CharField(max_length=255, help_text="the purchase order")
    order_line_id = models.CharField(max_length=255, blank=True, default="", help_text="V2 only")
    purchase_product_id = models.CharField(
        max_length=255, blank=True, default="", help_text="V1: the productId bought (the key; product_id may change)"
    )
    business_id = models.CharField(max_length=255, blank=True, help_text="businessId of the first call")

    customer_id = models.CharField(max_length=255, blank=True)
    customer_name = models.CharField(max_length=255, blank=True)
    user_id = models.CharField(max_length=255, blank=True, help_text="IAM sub-user (V1)")
    user_name = models.CharField(max_length=255, blank=True, help_text="IAM sub-user (V1)")
    mobile_phone = models.CharField(max_length=255, blank=True, help_text="decrypted (V1)")
    email = models.CharField(max_length=255, blank=True, help_text="decrypted (V1)")

    product_id = models.CharField(max_length=255, blank=True)
    sku_code = models.CharField(max_length=255, blank=True)
    product_name = models.CharField(max_length=255, blank=True)
    charging_mode = models.CharField(max_length=16, blank=True, choices=ChargingMode.choices)
    period_type = models.CharField(max_length=16, blank=True)
    period_number = models.IntegerField(null=True, blank=True)
    order_amount = models.DecimalField(max_digits=24, decimal_places=4, null=True, blank=True)
    provision_type = models.CharField(max_length=32, blank=True, help_text="stored raw (U25)")
    quantity = models.IntegerField(null=True, blank=True, help_text="linear attribute: amount / linearValue")
    disk_size = models.IntegerField(null=True, blank=True)
    band_width = models.IntegerField(null=True, blank=True)
    saas_extend_params = models.JSONField(default=list, blank=True, help_text="decoded saasExtendParams")
    related_instance_id = models.CharField(max_length=64, blank=True, help_text="package → pay-per-use instance")

    effective_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    is_trial = models.BooleanField(default=False)
    is_test = models.BooleanField(default=False, help_text="testFlag=1: debug and dial tests")

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    frozen_reason = models.CharField(max_length=16, blank=True, help_text="expired / marketplace / operator")
    provisioning_state = models.CharField(max_length=16, choices=Provisioning.choices, default=Provisioning.PENDING)
    provisioned_at = models.DateTimeField(null=True, blank=True, help_text="first provisioning finished")
    failure_code = models.CharField(max_length=8, blank=True, help_text="answered by queryInstance once failed")
    failure_reason = models.TextField(blank=True)

    # appInfo (§4.1.2): kept so it can be served again on every query.
    front_end_url = models.CharField(max_length=512, blank=True)
    admin_url = models.CharField(max_length=512, blank=True)
    app_user_name = models.CharField(max_length=128, blank=True)
    app_password = models.CharField(max_length=128, blank=True)
    app_memo = models.CharField(max_length=1024, blank=True)

    # Pay-per-use running total for queryInstance usageInfo (§4.1.2, §5.7).
    usage_value = models.DecimalField(max_digits=16, decimal_places=4, null=True, blank=True)
    usage_at = models.DateTimeField(null=True, blank=True)

    request_params = models.JSONField(default=dict, blank=True, help_text="the first call's fields")
    query_order = models.JSONField(null=True, blank=True, help_text="raw Query Order answer (V2)")
    query_order_at = models.DateTimeField(null=True, blank=True)
    query_order_error = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        # Every index costs each newInstance an insertion (they were 17): plain b-trees for the
        # exact lookups and the operators' filters, none for LIKE prefixes (nothing searches by
        # prefix; the console's contains-searches cannot use them) or two-valued columns.
        indexes = [
            models.Index(fields=["order_id"], name="instance_order"),
            models.Index(fields=["customer_id"], name="instance_customer"),
            models.Index(fields=["status"], name="instance_status"),
            models.Index(fields=["provisioning_state"], name="instance_provisioning"),
        ]
        constraints = [
            # §5.1: V2 newInstance is keyed by order line; V1 by order + product (pay-per-use
            # creates one instance per productId, and the pair works for every V1 order).
            models.UniqueConstraint(
                fields=["order_id", "order_line_id"], condition=Q(generation=2), name="instance_once_per_v2_line"
            ),
            # product_id follows upgrades and trial conversions; the key keeps the productId bought.
            models.UniqueConstraint(
                fields=["order_id", "purchase_product_id"],
                condition=Q(generation=1),
                name="instance_once_per_v1_product",
            ),
        ]

    def __str__(self) -> str:
        return self.instance_id

    @property
    def summary_status(self) -> str:
        """provisioning | active | frozen | released | failed (orders.selectors.InstanceSummary)."""
        if self.status == Status.RELEASED:
            return "released"
        if self.provisioned_at is None:
            return "failed" if self.provisioning_state == Provisioning.FAILED else "provisioning"
        return self.status


class InstanceOrder(models.Model):
    """Every KooGallery order seen for an instance: once per (order, order line, kind), a refresh
    once per (order, scene)."""

    class Kind(models.TextChoices):
        PURCHASE = "purchase", "purchase"
        RENEWAL = "renewal", "renewal"
        TRIAL_TO_FORMAL = "trial_to_formal", "trial to formal"
        UNSUBSCRIBE_RENEWAL = "unsubscribe_renewal", "renewal period refunded"
        RENEWAL_CHANGE = "renewal_change", "renewal with a spec change"
        UPGRADE = "upgrade", "upgrade"
        UNSUBSCRIBE = "unsubscribe", "unsubscribe"
        OTHER = "other", "other (unknown scene)"

    # Found by instance through instance_order_once_per_kind (its first column): no index of its own.
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="orders", db_index=False)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    scene = models.CharField(max_length=64, blank=True, help_text="as received (V2 refreshInstance)")
    order_id = models.CharField(max_length=255)
    order_line_id = models.CharField(max_length=255, blank=True, default="")
    product_id = models.CharField(max_length=255, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="expiry this order set")
    amount = models.DecimalField(max_digits=24, decimal_places=4, null=True, blank=True)
    params = models.JSONField(default=dict, blank=True, help_text="the call's fields")
    query_order = models.JSONField(null=True, blank=True)
    query_order_at = models.DateTimeField(null=True, blank=True)
    delivery_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # refreshInstance's orders: one kind per scene, unknown scenes all `other` (U22).
    REFRESH_KINDS = (Kind.RENEWAL, Kind.TRIAL_TO_FORMAL, Kind.UNSUBSCRIBE_RENEWAL, Kind.RENEWAL_CHANGE, Kind.OTHER)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["order_id"], name="instance_order_order")]
        constraints = [
            # Purchases, upgrades, unsubscriptions: once per (instance, order, line, kind) (§5.1).
            # `scene` is empty for them; for a refresh it keeps two unknown scenes apart.
            models.UniqueConstraint(
                fields=["instance", "order_id", "order_line_id", "kind", "scene"], name="instance_order_once_per_kind"
            ),
            # §5.1: a refresh applies once per (instanceId, orderId, scene), whatever its order line.
            models.UniqueConstraint(
                fields=["instance", "order_id", "scene"],
                condition=Q(kind__in=["renewal", "trial_to_formal", "unsubscribe_renewal", "renewal_change", "other"]),
                name="instance_order_refresh_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.order_id}"


class Transition(models.Model):
    """Append-only log of an instance's state changes and lifecycle events (house style 5)."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="transitions")
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    event = models.CharField(max_length=32)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    from_provisioning = models.CharField(max_length=16, blank=True)
    to_provisioning = models.CharField(max_length=16, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    delivery_id = models.UUIDField(null=True, blank=True, db_index=True)
    actor = models.CharField(max_length=160, help_text="marketplace, operator:<username> or system")

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.event}: {self.from_status or '∅'} → {self.to_status}"


class Job(models.Model):
    """Slow work for the provisioner or the open API, run by Celery (orders.jobs)."""

    class Kind(models.TextChoices):
        PROVISION = "provision", "provision"
        RENEW = "renew", "renew"
        FREEZE = "freeze", "freeze"
        UNFREEZE = "unfreeze", "unfreeze"
        UPGRADE = "upgrade", "upgrade"
        RELEASE = "release", "release"
        FETCH_ORDER = "fetch_order", "fetch order (orderNotify)"

    class State(models.TextChoices):
        PENDING = "pending", "pending"
        RUNNING = "running", "running"
        RETRY = "retry", "waiting to retry"
        DONE = "done", "done"
        FAILED = "failed", "failed (needs an operator)"
        CANCELLED = "cancelled", "cancelled (superseded)"

    # Found by instance through job_instance_state (its first column): no index of its own.
    instance = models.ForeignKey(
        Instance, on_delete=models.CASCADE, null=True, blank=True, related_name="jobs", db_index=False
    )
    notification = models.ForeignKey(
        "OrderNotification", on_delete=models.CASCADE, null=True, blank=True, related_name="jobs"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    order_id = models.CharField(max_length=255, blank=True, help_text="order to fetch with Query Order")
    order_line_id = models.CharField(max_length=255, blank=True)
    fetch_order = models.BooleanField(default=False)
    is_test = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    result_code = models.CharField(max_length=8, blank=True, help_text="KooGallery code of a final failure")
    next_run_at = models.DateTimeField(help_text="when the sweep may (re-)enqueue it")
    enqueued_at = models.DateTimeField(
        null=True, blank=True, help_text="last handed to the broker or an in-process runner; empty: owed (the outbox)"
    )
    lease_until = models.DateTimeField(null=True, blank=True, help_text="a running job's lease")
    delivery_id = models.UUIDField(null=True, blank=True)
    actor = models.CharField(max_length=160, default="marketplace")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    OPEN = (State.PENDING, State.RUNNING, State.RETRY)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["state", "next_run_at"], name="job_state_due"),
            models.Index(fields=["instance", "state"], name="job_instance_state"),
            # The outbox (orders.outbox): what the dispatcher still owes the broker, found without
            # reading the table's history.
            models.Index(fields=["id"], condition=Q(enqueued_at__isnull=True), name="job_unpublished"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.state})"


class Alert(models.Model):
    """Something an operator must look at (U38): one open row per (kind, instance id), counted."""

    class Kind(models.TextChoices):
        UNKNOWN_INSTANCE = "unknown_instance", "call for a never-seen instance"
        RELEASED_INSTANCE = "released_instance", "change to a released instance"
        JOB_FAILED = "job_failed", "job failed (out of retries or not retryable)"
        NEW_FOR_RELEASED = "new_for_released", "newInstance repeated after release"
        USAGE_REFUSED = "usage_refused", "usage record refused or out of attempts"
        USAGE_REPORT_REFUSED = "usage_report_refused", "usage report refused here"

    kind = models.CharField(max_length=24, choices=Kind.choices)
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, null=True, blank=True, related_name="alerts")
    instance_ref = models.CharField(max_length=255, help_text="the instance id named by the call")
    message = models.CharField(max_length=1000)
    delivery_id = models.UUIDField(null=True, blank=True, help_text="the latest call that raised it")
    count = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=160, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "instance_ref"], condition=Q(resolved_at__isnull=True), name="alert_open_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.instance_ref}"


class OrderNotification(models.Model):
    """orderNotify (§4.1.8), once per (orderId, orderLineId); details fetched in the background."""

    order_id = models.CharField(max_length=255)
    order_line_id = models.CharField(max_length=255)
    is_test = models.BooleanField(default=False)
    count = models.PositiveIntegerField(default=1)
    delivery_id = models.UUIDField(null=True, blank=True, help_text="the latest notification")
    query_order = models.JSONField(null=True, blank=True)
    query_order_at = models.DateTimeField(null=True, blank=True)
    query_order_error = models.TextField(blank=True)
    first_received_at = models.DateTimeField(auto_now_add=True)
    last_received_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_received_at"]
        constraints = [
            models.UniqueConstraint(fields=["order_id", "order_line_id"], name="order_notification_once_per_line")
        ]

    def __str__(self) -> str:
        return f"{self.order_id} / {self.order_line_id}"


class DemoWorkspace(models.Model):
    """What the built-in demo provisioner creates: a workspace with an admin account."""

    instance_id = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    admin_user = models.CharField(max_length=128)
    admin_password = models.CharField(max_length=128)
    front_end_url = models.CharField(max_length=512)
    plan = models.CharField(max_length=255, blank=True, help_text="productId / skuCode")
    seats = models.IntegerField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    is_test = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"workspace {self.instance_id}"


class UsageRecord(models.Model):
    """One usage window of a pay-per-use instance, for KooGallery's usage push (§7.2, §5.7).

    The ISV reports it (orders.usage: the API, the command or the service); the push task sends
    due records in batches of at most 100 with the same `metering_sn` on every retry, so a
    record KooGallery already took is answered as a duplicate and counted once. Test-traffic
    instances' records are kept but never pushed. Once out of attempts, or refused, a record
    waits for an operator."""

    class State(models.TextChoices):
        PENDING = "pending", "pending (to be pushed)"
        PUSHING = "pushing", "being pushed"
        ACCEPTED = "accepted", "accepted by KooGallery"
        REJECTED = "rejected", "refused by KooGallery (operator attention)"
        FAILED = "failed", "out of attempts (operator attention)"
        TEST = "test", "test traffic: kept, never pushed"

    instance = models.ForeignKey(Instance, on_delete=models.PROTECT, related_name="usage_records", db_index=False)
    metering_sn = models.CharField(max_length=64, unique=True, help_text="the record's id, reused on every retry")
    begin_at = models.DateTimeField()
    end_at = models.DateTimeField()
    recorded_at = models.DateTimeField(help_text="record_time")
    value = models.DecimalField(max_digits=16, decimal_places=4)
    package_instance_id = models.CharField(
        max_length=64, blank=True, default="", help_text="relate_pkg_instance: the package consumed"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    alone = models.BooleanField(default=False, help_text="pushed on its own: its batch was refused as a whole")
    attempts = models.PositiveIntegerField(default=0)
    next_push_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    record_code = models.CharField(max_length=16, blank=True, help_text="KooGallery's code for this record")
    last_error = models.TextField(blank=True)
    actor = models.CharField(max_length=160, default="isv")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    first_sent_at = models.DateTimeField(
        null=True, blank=True, help_text="first handed to a push: from then on its value is fixed"
    )
    pushed_at = models.DateTimeField(null=True, blank=True, help_text="when KooGallery accepted it")

    class Meta:
        ordering = ["-begin_at", "-id"]
        verbose_name = "pay-per-use usage record"
        indexes = [models.Index(fields=["state", "next_push_at"], name="usage_state_due")]
        constraints = [
            # One record per window: a repeated report of the same window is the same record.
            models.UniqueConstraint(
                fields=["instance", "begin_at", "end_at", "package_instance_id"], name="usage_once_per_window"
            ),
            models.CheckConstraint(condition=Q(value__gt=0), name="usage_value_positive"),
            models.CheckConstraint(condition=Q(end_at__gt=models.F("begin_at")), name="usage_window_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.metering_sn} ({self.state})"
