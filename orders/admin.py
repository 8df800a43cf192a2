"""Instances, jobs and alerts in the operators' console (house style 10).

Records are read-only here; operators act through actions that call the same services KooGallery's
calls go through, recorded with `operator:<username>` as the actor.
"""

from __future__ import annotations

from datetime import UTC
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from marketplace_isv.console import ReadOnlyAdminMixin, operator_actor, pretty_json
from marketplace_isv.models import Delivery

from . import alerts, services, usage
from .models import (
    Alert,
    DemoWorkspace,
    Instance,
    InstanceOrder,
    Job,
    OrderNotification,
    Transition,
    UsageRecord,
)

MASK = "••••••••"


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False


class OrderInline(ReadOnlyInline):
    model = InstanceOrder
    fields = ("created_at", "kind", "scene", "order_id", "order_line_id", "product_id", "expires_at", "amount")
    readonly_fields = fields
    verbose_name_plural = "orders seen"


class TransitionInline(ReadOnlyInline):
    model = Transition
    fields = ("at", "event", "from_status", "to_status", "from_provisioning", "to_provisioning", "actor", "reason")
    readonly_fields = fields
    verbose_name_plural = "transition log"


class JobInline(ReadOnlyInline):
    model = Job
    fields = ("id", "kind", "state", "attempts", "result_code", "last_error", "created_at", "finished_at")
    readonly_fields = fields


class AlertInline(ReadOnlyInline):
    model = Alert
    fields = ("last_seen_at", "kind", "count", "message", "resolved_at", "resolved_by")
    readonly_fields = fields


class OpenAlertFilter(admin.SimpleListFilter):
    title = "open alerts"
    parameter_name = "alert"

    def lookups(self, request, model_admin):
        return [("open", "has an open alert"), ("none", "no open alert")]

    def queryset(self, request, queryset):
        # A subquery, not a join: a join would multiply the alerts column's count, and alerts for
        # never-seen instances have no instance (NOT IN with a NULL matches nothing).
        with_open = Alert.objects.filter(resolved_at__isnull=True, instance__isnull=False).values("instance")
        if self.value() == "open":
            return queryset.filter(pk__in=with_open)
        if self.value() == "none":
            return queryset.exclude(pk__in=with_open)
        return queryset


@admin.register(Instance)
class InstanceAdmin(admin.ModelAdmin):
    list_display = (
        "instance_id",
        "status",
        "provisioning_state",
        "charging_mode",
        "is_test",
        "order_id",
        "customer_id",
        "sku_code",
        "expires_at",
        "created_at",
        "open_alerts",
    )
    list_filter = (
        "status",
        "provisioning_state",
        "charging_mode",
        "is_test",
        "generation",
        "is_trial",
        OpenAlertFilter,
        "created_at",
    )
    search_fields = (
        "instance_id__exact",
        "order_id__exact",
        "order_line_id__exact",
        "customer_id__exact",
        "^customer_name",
        "orders__order_id__exact",
    )
    search_help_text = (
        "Exact instance id, order id (purchase, renewal, upgrade…), order line id or customer id; customer name prefix."
    )
    show_full_result_count = False
    list_per_page = 50
    date_hierarchy = "created_at"
    inlines = (OrderInline, TransitionInline, JobInline, AlertInline)
    actions = ("retry_provisioning", "freeze_as_operator", "unfreeze_as_operator")
    fieldsets = (
        (None, {"fields": ("instance_id", "generation", "is_test", "is_trial", "order_id", "order_line_id", "business_id")}),
        ("Lifecycle", {"fields": ("status", "frozen_reason", "provisioning_state", "provisioned_at", "failure_code", "failure_reason", "effective_at", "expires_at", "released_at")}),
        ("Customer", {"fields": ("customer_id", "customer_name", "user_id", "user_name", "mobile_phone", "email")}),
        ("Product", {"fields": ("product_id", "sku_code", "product_name", "charging_mode", "period_type", "period_number", "order_amount", "quantity", "disk_size", "band_width", "provision_type", "related_instance_id", "extend_params_pretty")}),
        ("App info (served to KooGallery)", {"fields": ("front_end_url", "admin_url", "app_user_name", "password_masked", "app_memo")}),
        ("Usage (pay-per-use)", {"fields": ("usage_value", "usage_at", "usage_records")}),
        ("Deliveries (the KooGallery calls about this instance)", {"fields": ("deliveries",)}),
        ("Raw", {"classes": ("collapse",), "fields": ("request_params_pretty", "query_order_pretty", "query_order_at", "query_order_error", "created_at", "updated_at")}),
    )  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        return [f for fieldset in self.fieldsets for f in fieldset[1]["fields"]]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # a record: every change goes through an action and a service

    def has_operate_permission(self, request):
        return request.user.has_perm("orders.change_instance")

    def get_queryset(self, request):
        open_alerts = Count("alerts", filter=Q(alerts__resolved_at__isnull=True))
        return super().get_queryset(request).annotate(open_alert_count=open_alerts)

    @admin.display(description="alerts", ordering="open_alert_count")
    def open_alerts(self, obj):
        return obj.open_alert_count or ""

    @admin.display(description="password")
    def password_masked(self, obj):
        return MASK if obj.app_password else "—"

    @admin.display(description="extend params")
    def extend_params_pretty(self, obj):
        return pretty_json(obj.saas_extend_params)

    @admin.display(description="first call's fields")
    def request_params_pretty(self, obj):
        return pretty_json(obj.request_params)

    @admin.display(description="Query Order answer")
    def query_order_pretty(self, obj):
        return pretty_json(obj.query_order)

    @admin.display(description="usage records")
    def usage_records(self, obj):
        counts = dict(obj.usage_records.values_list("state").annotate(n=Count("id")).order_by())
        if not counts:
            return "—"
        url = reverse("admin:orders_usagerecord_changelist") + "?" + urlencode({"q": obj.instance_id})
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        return format_html('<a href="{}">{}</a>', url, summary)

    @admin.display(description="deliveries")
    def deliveries(self, obj):
        order_ids = {obj.order_id, *obj.orders.values_list("order_id", flat=True)}
        # Its own calls, and order-level calls that name no instance (orderNotify): never a sibling
        # order line's calls that merely share the order id.
        own = Q(instance_id=obj.instance_id) | Q(instance_id="", order_id__in=order_ids)
        rows = Delivery.objects.filter(own).order_by("-received_at")[:100]
        if not rows:
            return "—"
        return format_html(
            "<table><tr><th>received</th><th>activity</th><th>result</th><th>actor</th></tr>{}</table>",
            format_html_join(
                "",
                '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{} {}</td><td>{}</td></tr>',
                (
                    (
                        reverse("admin:marketplace_isv_delivery_change", args=[d.pk]),
                        f"{d.received_at:%Y-%m-%d %H:%M:%S}",
                        d.activity,
                        d.result_code,
                        d.result_msg,
                        d.actor,
                    )
                    for d in rows
                ),
            ),
        )

    def _each(self, request, queryset, action, label: str) -> None:
        done = 0
        for instance_id in queryset.values_list("instance_id", flat=True):
            with transaction.atomic():
                outcome = action(instance_id)
            if isinstance(outcome, int):
                ok, why = outcome > 0, "nothing failed or waiting"
            else:
                ok, why = outcome.code == "000000", outcome.message
            done += 1 if ok else 0
            if not ok:
                self.message_user(request, f"{instance_id}: not {label} ({why})", messages.WARNING)
        if done:
            self.message_user(request, f"{done} instance(s) {label}.", messages.SUCCESS)

    @admin.action(description="Retry provisioning (re-queue failed jobs)", permissions=["operate"])
    def retry_provisioning(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda iid: services.instance_retry_provisioning(instance_id=iid, actor=operator_actor(request)),
            "queued for provisioning again",
        )

    @admin.action(description="Freeze as operator (data kept)", permissions=["operate"])
    def freeze_as_operator(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda iid: services.instance_freeze_by_operator(instance_id=iid, actor=operator_actor(request)),
            "frozen",
        )

    @admin.action(description="Unfreeze as operator", permissions=["operate"])
    def unfreeze_as_operator(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda iid: services.instance_unfreeze_by_operator(instance_id=iid, actor=operator_actor(request)),
            "unfrozen",
        )


@admin.register(Job)
class JobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "state",
        "instance",
        "attempts",
        "result_code",
        "short_error",
        "next_run_at",
        "created_at",
    )
    list_filter = ("state", "kind", "is_test", "created_at")
    # An instance's jobs carry no order id of their own (only renewals and upgrades do): its
    # purchase order finds them too.
    search_fields = (
        "instance__instance_id__exact",
        "order_id__exact",
        "instance__order_id__exact",
        "notification__order_id__exact",
    )
    search_help_text = "Exact instance id or order id."
    show_full_result_count = False
    list_per_page = 50
    list_select_related = ("instance",)
    readonly_fields = [f.name for f in Job._meta.fields]
    actions = ("retry_failed",)

    @admin.display(description="last error")
    def short_error(self, obj):
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error

    def has_operate_permission(self, request):
        return request.user.has_perm("orders.change_instance")

    @admin.action(description="Retry the selected jobs' work (re-queue failed jobs)", permissions=["operate"])
    def retry_failed(self, request, queryset):
        """An instance's failed jobs are queued again as what the instance needs now; an
        orderNotify's failed Query Order is fetched again."""
        count, actor = 0, operator_actor(request)
        for instance_id in set(queryset.filter(instance__isnull=False).values_list("instance__instance_id", flat=True)):
            with transaction.atomic():
                count += services.instance_retry_provisioning(instance_id=instance_id, actor=actor)
        for notification_id in set(
            queryset.filter(notification__isnull=False).values_list("notification_id", flat=True)
        ):
            with transaction.atomic():
                count += services.order_notification_retry_fetch(notification_id=notification_id, actor=actor)
        level = messages.SUCCESS if count else messages.WARNING
        self.message_user(request, f"{count} job(s) queued again.", level)


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Usage windows and what KooGallery made of them (§7.2): rejected and failed ones need a look."""

    list_display = ("metering_sn", "instance", "window", "value", "state", "record_code", "attempts", "pushed")
    list_filter = ("state", "record_code", "begin_at")
    search_fields = ("instance__instance_id__exact", "metering_sn__exact", "package_instance_id__exact")
    search_help_text = "Exact instance id, metering_sn or package instance id."
    show_full_result_count = False
    list_per_page = 50
    list_select_related = ("instance",)
    readonly_fields = ["window", "code_meaning", *(f.name for f in UsageRecord._meta.fields)]
    actions = ("push_again",)

    @admin.display(description="window (UTC)", ordering="begin_at")
    def window(self, obj):
        return usage.window_text(obj.begin_at, obj.end_at)

    @admin.display(description="pushed (UTC)", ordering="pushed_at")
    def pushed(self, obj):
        return f"{obj.pushed_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}" if obj.pushed_at else "—"

    @admin.display(description="KooGallery's code means")
    def code_meaning(self, obj):
        return usage.code_meaning(obj.record_code) or "—"

    def has_operate_permission(self, request):
        return request.user.has_perm("orders.change_instance")

    @admin.action(description="Push the selected rejected or failed records again", permissions=["operate"])
    def push_again(self, request, queryset):
        records = list(queryset.filter(state__in=[UsageRecord.State.REJECTED, UsageRecord.State.FAILED]))
        with transaction.atomic():
            count = usage.usage_retry(record_ids=[r.pk for r in records], actor=operator_actor(request))
        for record in records:
            self.log_change(request, record, "pushed again")
        self.message_user(request, f"{count} record(s) queued to be pushed again.", messages.SUCCESS)


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", "open"), ("no", "resolved")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("last_seen_at", "kind", "instance_ref", "count", "message", "resolved_at", "resolved_by")
    list_filter = (OpenFilter, "kind", "last_seen_at")
    search_fields = ("instance_ref__exact",)
    show_full_result_count = False
    readonly_fields = [f.name for f in Alert._meta.fields]
    actions = ("resolve",)

    def has_operate_permission(self, request):
        return request.user.has_perm("orders.change_instance")

    @admin.action(description="Mark the selected alerts resolved", permissions=["operate"])
    def resolve(self, request, queryset):
        count = alerts.alert_resolve(
            alert_ids=list(queryset.values_list("pk", flat=True)), actor=operator_actor(request)
        )
        self.message_user(request, f"{count} alert(s) resolved.", messages.SUCCESS)


@admin.register(OrderNotification)
class OrderNotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("last_received_at", "order_id", "order_line_id", "count", "is_test", "query_order_at")
    list_filter = ("is_test", "last_received_at")
    search_fields = ("order_id__exact", "order_line_id__exact")
    show_full_result_count = False
    readonly_fields = [f.name for f in OrderNotification._meta.fields if f.name != "query_order"] + ["answer"]
    exclude = ("query_order",)
    actions = ("fetch_again",)

    def has_operate_permission(self, request):
        return request.user.has_perm("orders.change_instance")

    @admin.action(description="Fetch the order again (Query Order failed for good)", permissions=["operate"])
    def fetch_again(self, request, queryset):
        count, actor = 0, operator_actor(request)
        for notification_id in queryset.values_list("pk", flat=True):
            with transaction.atomic():
                count += services.order_notification_retry_fetch(notification_id=notification_id, actor=actor)
        level = messages.SUCCESS if count else messages.WARNING
        self.message_user(request, f"{count} order fetch(es) queued again.", level)

    @admin.display(description="Query Order answer")
    def answer(self, obj):
        return pretty_json(obj.query_order)


@admin.register(DemoWorkspace)
class DemoWorkspaceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("instance_id", "status", "admin_user", "plan", "seats", "expires_at", "is_test", "updated_at")
    list_filter = ("status", "is_test")
    search_fields = ("instance_id__exact",)
    show_full_result_count = False
    exclude = ("admin_password",)
    readonly_fields = [f.name for f in DemoWorkspace._meta.fields if f.name != "admin_password"]
