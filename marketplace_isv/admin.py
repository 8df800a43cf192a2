"""The delivery journal in the operators' console (house style 10): read-only, searchable by
order, instance and tenant, the raw call pretty-printed, and a replay action."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.html import format_html

from . import replay, routes
from .console import ReadOnlyAdminMixin, operator_actor, pretty_json
from .models import Delivery


class ResultFilter(admin.SimpleListFilter):
    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return [("ok", "success (000000)"), ("pending", "in progress (000004)"), ("failed", "failed (any other code)")]

    def queryset(self, request, queryset):
        if self.value() == "ok":
            return queryset.filter(result_code="000000")
        if self.value() == "pending":
            return queryset.filter(result_code="000004")
        if self.value() == "failed":
            return queryset.exclude(result_code__in=["000000", "000004"])
        return queryset


class ActivityFilter(admin.SimpleListFilter):
    """The activities and Kit interfaces of the route table, and "other": the column holds whatever
    unsigned callers sent, so its distinct values are no menu (and cost a scan of the journal)."""

    title = "activity"
    parameter_name = "activity"

    @staticmethod
    def known() -> list[str]:
        return sorted({name for table in routes.TABLES.values() for name in table})

    def lookups(self, request, model_admin):
        return [(name, name) for name in self.known()] + [("~other", "other (unknown or none)")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value == "~other":
            return queryset.exclude(activity__in=self.known())
        return queryset.filter(activity=value)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "received_at",
        "activity",
        "scheme",
        "result_code",
        "result_msg",
        "verified",
        "test_flag",
        "order_id",
        "instance_id",
        "latency_ms",
        "actor",
    )
    list_filter = (ResultFilter, "result_code", "scheme", ActivityFilter, "verified", "test_flag", "received_at")
    search_fields = ("id__exact", "order_id__exact", "instance_id__exact", "tenant_id__exact")
    search_help_text = "Exact delivery id, order id, instance id or tenant id."
    date_hierarchy = "received_at"
    show_full_result_count = False
    list_per_page = 50
    actions = ["replay_selected"]
    readonly_fields = (
        "id",
        "received_at",
        "scheme",
        "method",
        "path",
        "activity",
        "verified",
        "key_name",
        "auth_variant",
        "test_flag",
        "order_id",
        "instance_id",
        "tenant_id",
        "result_code",
        "result_msg",
        "error",
        "latency_ms",
        "actor",
        "replay_of",
        "remote_addr",
        "body_bytes",
        "body_omitted",
        "query_pretty",
        "headers_pretty",
        "body_pretty",
        "response_pretty",
    )
    fieldsets = (
        (None, {"fields": ("id", "received_at", "activity", "result_code", "result_msg", "error", "latency_ms")}),
        ("Business keys", {"fields": ("order_id", "instance_id", "tenant_id", "test_flag")}),
        ("Authentication", {"fields": ("scheme", "verified", "key_name", "auth_variant", "actor", "replay_of")}),
        (
            "Raw call",
            {
                "fields": (
                    "method",
                    "path",
                    "remote_addr",
                    "query_pretty",
                    "headers_pretty",
                    "body_bytes",
                    "body_omitted",
                    "body_pretty",
                    "response_pretty",
                )
            },
        ),
    )

    @admin.display(description="query string (secrets redacted)")
    def query_pretty(self, obj):
        return format_html("<pre>{}</pre>", obj.raw_query.replace("&", "\n&"))

    @admin.display(description="headers (secrets redacted)")
    def headers_pretty(self, obj):
        return pretty_json(obj.raw_headers)

    @admin.display(description="request body")
    def body_pretty(self, obj):
        if obj.body_omitted:
            return "(not stored: over the size limit)"
        return pretty_json(obj.raw_body)

    @admin.display(description="our answer")
    def response_pretty(self, obj):
        return pretty_json(obj.response_body)

    def has_operate_permission(self, request) -> bool:
        """A replay applies a KooGallery call again, as of now (it can freeze, renew or release):
        only for users who may change deliveries, never for view-only staff."""
        return request.user.has_perm("marketplace_isv.change_delivery")

    @admin.action(description="Replay the selected verified calls (applied again, as of now)", permissions=["operate"])
    def replay_selected(self, request, queryset):
        """A replay applies each call again, as of now: the operator first sees what will be
        replayed (and what changes state) and confirms; nothing runs on the first click."""
        count = queryset.count()
        if count > MAX_REPLAY:
            self.message_user(
                request, f"select at most {MAX_REPLAY} calls to replay at once ({count} selected).", messages.ERROR
            )
            return None
        deliveries = list(queryset.order_by("received_at"))
        if request.POST.get("post") != "yes":
            return self._confirm_replay(request, deliveries)
        done = refused = 0
        for delivery in deliveries:
            if not delivery.verified:
                refused += 1
                continue
            outcome = replay.replay_delivery(delivery, actor=operator_actor(request))
            done += 1
            self.message_user(
                request,
                f"replayed {delivery.activity} {delivery.id} as {outcome.id}: answered {outcome.result_code} "
                f"{outcome.result_msg}",
                messages.SUCCESS if outcome.result_code in ("000000", "000004") else messages.WARNING,
            )
        if refused:
            self.message_user(
                request, f"{refused} unverified call(s) not replayed: they were never authenticated.", messages.ERROR
            )
        return None

    def _confirm_replay(self, request, deliveries: list[Delivery]) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Replay these calls?",
            "opts": self.model._meta,
            "rows": [(d, d.activity not in routes.READ_ONLY) for d in deliveries],
            "changing": sum(1 for d in deliveries if d.verified and d.activity not in routes.READ_ONLY),
            "unverified": sum(1 for d in deliveries if not d.verified),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/marketplace_isv/delivery/replay_confirmation.html", context)


MAX_REPLAY = 100  # a replay applies calls again: never the whole journal by a stray "select all"
