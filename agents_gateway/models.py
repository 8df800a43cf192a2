"""The usage journal (one row per forwarded call, per X-Request-Id) and the header-name samples of
the first gateway calls (koogallery-protocol.md §12)."""

from __future__ import annotations

from django.db import models


class UsageRecord(models.Model):
    """One call the gateway forwarded, with the usage our answer reported: what Huawei billed the
    buyer for, kept so its bills can be reconciled. Idempotent per request id: the first report
    wins and a repeat changes nothing."""

    class Status(models.TextChoices):
        OK = "ok", "answered with usage"
        CLIENT_ERROR = "client_error", "refused the body (4xx)"
        ERROR = "error", "backend or model failed"
        INCOMPLETE = "incomplete", "stream ended before usage was sent"

    class Source(models.TextChoices):
        BACKEND = "backend", "reference backend"
        API = "api", "journal endpoint"
        LIBRARY = "library", "library call"

    request_id = models.CharField(max_length=255, unique=True, help_text="X-Request-Id")
    received_at = models.DateTimeField(db_index=True)
    recorded_at = models.DateTimeField(auto_now_add=True)
    customer_id = models.CharField(max_length=128, blank=True, help_text="X-Customer-Id (Huawei Cloud account id)")
    customer_name = models.CharField(max_length=255, blank=True, help_text="X-Customer-Name")
    agent = models.CharField(max_length=128, db_index=True)
    model = models.CharField(max_length=128, blank=True)
    stream = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    total_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    input_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    output_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    image_count = models.PositiveBigIntegerField(null=True, blank=True)
    video_duration = models.DecimalField(max_digits=16, decimal_places=3, null=True, blank=True)
    usage = models.JSONField(null=True, blank=True, help_text="the usage object exactly as reported")
    api_key = models.CharField(max_length=128, blank=True, help_text="the APP Key that verified the call")
    source = models.CharField(max_length=8, choices=Source.choices)
    latency_ms = models.FloatField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["customer_id", "received_at"], name="usage_customer_time"),
            models.Index(fields=["agent", "received_at"], name="usage_agent_time"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.agent} {self.status}"


class HeaderSample(models.Model):
    """The header *names* (never values) of one of the first gateway calls: the documentation does
    not say which header carries the token, so the first calls show it (§12). `slot` numbers the
    samples 1..AGENTS_GATEWAY_HEADER_SAMPLES; its unique index caps the table across processes."""

    slot = models.PositiveIntegerField(unique=True)
    received_at = models.DateTimeField()
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=512)
    header_names = models.JSONField(default=list)
    token_header = models.CharField(max_length=128, blank=True, help_text="the configured auth header")
    token_form = models.CharField(max_length=16, blank=True, help_text="bearer, bare or constant")
    outcome = models.CharField(max_length=32, help_text="accepted, or the refusal reason")
    api_key = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["slot"]

    def __str__(self) -> str:
        return f"#{self.slot} {self.outcome} {self.path}"
