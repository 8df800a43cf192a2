"""The delivery journal and the replay-protection nonce store (house style 2; §2.3 step 5)."""

from __future__ import annotations

import uuid

from django.db import models


class Delivery(models.Model):
    """One inbound call from KooGallery (or an operator's replay of one), whatever its outcome.

    Written even when verification fails. Secrets (`authToken`, `signature`, `x-sign`) are
    redacted; the body is kept verbatim so a verified call can be replayed by an operator.
    """

    class Scheme(models.TextChoices):
        V1 = "v1", "V1 authToken (GET)"
        V2 = "v2", "V2 signature (POST)"
        KIT_V1 = "kit_v1", "Kit V1 authToken"
        KIT_V2 = "kit_v2", "Kit V2 x-sign"
        NONE = "none", "no scheme (unknown path or method)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    received_at = models.DateTimeField()
    scheme = models.CharField(max_length=8, choices=Scheme.choices)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=512)
    activity = models.CharField(max_length=64, blank=True)
    raw_query = models.TextField(blank=True)
    raw_headers = models.JSONField(default=dict, blank=True)
    raw_body = models.TextField(blank=True)
    body_bytes = models.PositiveIntegerField(default=0)
    body_omitted = models.BooleanField(default=False, help_text="the body was over the size limit")
    remote_addr = models.CharField(max_length=64, blank=True)

    verified = models.BooleanField(default=False)
    key_name = models.CharField(max_length=32, blank=True, help_text="which configured key verified it")
    auth_variant = models.CharField(max_length=32, blank=True)
    test_flag = models.BooleanField(default=False)
    order_id = models.CharField(max_length=255, blank=True)
    instance_id = models.CharField(max_length=255, blank=True)
    tenant_id = models.CharField(max_length=255, blank=True)

    result_code = models.CharField(max_length=8)
    result_msg = models.CharField(max_length=255, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True)
    latency_ms = models.FloatField(default=0)
    actor = models.CharField(max_length=150, default="marketplace")
    replay_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays", db_index=False
    )

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-received_at"]
        # Every index costs each call an insert: only what operators search by, partial where
        # most rows have nothing to find (journal.py writes these rows on every call).
        indexes = [
            models.Index(fields=["received_at"], name="delivery_time"),
            models.Index(fields=["result_code", "received_at"], name="delivery_code_time"),
            models.Index(fields=["order_id"], name="delivery_order", condition=~models.Q(order_id="")),
            models.Index(fields=["instance_id"], name="delivery_instance", condition=~models.Q(instance_id="")),
            models.Index(fields=["tenant_id"], name="delivery_tenant", condition=~models.Q(tenant_id="")),
        ]

    def __str__(self) -> str:
        return f"{self.activity or self.path} {self.result_code} @ {self.received_at:%Y-%m-%d %H:%M:%S}"

    @property
    def succeeded(self) -> bool:
        return self.result_code == "000000"


class SeenNonce(models.Model):
    """A nonce accepted on a V2 or Kit V2 call, keyed `<scheme>:<nonce>`; the primary key refuses
    it a second time, across every worker process (§2.3 step 5)."""

    key = models.CharField(primary_key=True, max_length=300)
    seen_at = models.DateTimeField()  # pruned every few minutes by a scan; no index to maintain

    def __str__(self) -> str:
        return self.key
