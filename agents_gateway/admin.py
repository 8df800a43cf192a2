"""The usage journal and the header-name samples in the operators' console (house style 10).

Both are records: read-only. The journal filters by customer, agent, status and date, searches by
request id / customer id, and exports CSV (per call, or totals per customer and agent) for the
selected rows — "select all" across a filtered list exports a customer's period. Samples can be
deleted, so that the next gateway calls are sampled again (e.g. after changing the auth header).
"""

from __future__ import annotations

import io
import json

from django.contrib import admin
from django.http import HttpResponse
from django.utils import timezone
from django.utils.html import format_html

from . import export
from .models import HeaderSample, UsageRecord


class CustomerFilter(admin.SimpleListFilter):
    """The most recent customers; any `?customer=<id>` works even when not listed."""

    title = "customer"
    parameter_name = "customer"
    LISTED = 50

    def lookups(self, request, model_admin):
        seen: dict[str, str] = {}
        rows = UsageRecord.objects.exclude(customer_id="").order_by("-received_at")
        for customer_id, name in rows.values_list("customer_id", "customer_name")[:1000]:
            if customer_id not in seen:
                seen[customer_id] = f"{name} ({customer_id})" if name else customer_id
            if len(seen) >= self.LISTED:
                break
        return sorted(seen.items(), key=lambda item: item[1])

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(customer_id=self.value())
        return queryset


def _csv_response(name: str, write) -> HttpResponse:
    buffer = io.StringIO()
    write(buffer)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="agents-{name}-{stamp}.csv"'
    return response


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = (
        "received_at",
        "request_id",
        "customer_id",
        "customer_name",
        "agent",
        "status",
        "http_status",
        "stream",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "source",
    )
    list_filter = (
        CustomerFilter,
        ("agent", admin.AllValuesFieldListFilter),
        "status",
        "stream",
        "source",
        "received_at",
    )
    search_fields = ("request_id__exact", "customer_id__exact", "^customer_name")
    search_help_text = "Exact request id or customer id, or the start of a customer name."
    date_hierarchy = "received_at"
    show_full_result_count = False
    list_per_page = 100
    actions = ["export_calls", "export_totals"]
    fieldsets = (
        (None, {"fields": ("request_id", "received_at", "recorded_at", "agent", "model", "stream", "source")}),
        ("Customer", {"fields": ("customer_id", "customer_name", "api_key")}),
        ("Outcome", {"fields": ("status", "http_status", "error", "latency_ms")}),
        (
            "Usage",
            {
                "fields": (
                    "prompt_tokens",
                    "completion_tokens",
                    "total_tokens",
                    "input_tokens",
                    "output_tokens",
                    "image_count",
                    "video_duration",
                    "usage_pretty",
                )
            },
        ),
    )
    readonly_fields = tuple(name for _, section in fieldsets for name in section["fields"])

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="usage as reported")
    def usage_pretty(self, obj):
        if obj.usage is None:
            return "(none reported)"
        return format_html("<pre>{}</pre>", json.dumps(obj.usage, indent=2, ensure_ascii=False))

    @admin.action(description="Export the selected calls as CSV")
    def export_calls(self, request, queryset):
        records = queryset.order_by("received_at", "id")
        return _csv_response("calls", lambda out: export.write_calls(records.iterator(), out))

    @admin.action(description="Export totals per customer and agent as CSV")
    def export_totals(self, request, queryset):
        return _csv_response("totals", lambda out: export.write_totals(queryset, out))


@admin.register(HeaderSample)
class HeaderSampleAdmin(admin.ModelAdmin):
    list_display = ("slot", "received_at", "outcome", "token_header", "token_form", "names", "method", "path")
    list_filter = ("outcome", "token_form")
    readonly_fields = (
        "slot",
        "received_at",
        "method",
        "path",
        "header_names",
        "token_header",
        "token_form",
        "outcome",
        "api_key",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="header names (never values)")
    def names(self, obj):
        return ", ".join(obj.header_names)
