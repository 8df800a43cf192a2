"""Instances, jobs and alerts in the operators' console (house style 10).

Records are read-only here; operators act through actions that call the same services KooGallery's
calls go through, recorded with `operator:<username>` as the actor.
"""

from __future__ import annotations

from datetime import UTC
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Case, Count, Exists, OuterRef, Q, Subquery, Value, When
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


def clipped(error: str, limit: int = 240) -> str:
    """An error for a list column: long enough to keep the advice on what to fix
    (OpenApiError.operator_text), cut beyond that; the detail page has it whole."""
    return (error[:limit] + "…") if len(error) > limit else error


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
        "Exact instance id, order id (purchase, renewal, upgrade…), order line id or customer id; customer name "
        "prefix (a name with spaces too)."
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

    def get_search_results(self, request, queryset, search_term):
        """The admin searches word by word; a customer name with spaces ("V1 Buyer") is also
        looked up whole, as a prefix."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if " " in term:
            results = results | queryset.filter(customer_name__istartswith=term)
        return results, may_have_duplicates

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # a record: every change goes through an action and a service

    def has_operate_permission(self, request):
        return request.user.has_perm("orders.change_instance")

    def get_queryset(self, request):
        # A subquery, not a join: a search across the instance's orders joins them, and a joined
        # count would be multiplied by the number of orders.
        open_alerts = (
            Alert.objects.filter(instance=OuterRef("pk"), resolved_at__isnull=True)
            .order_by()
            .values("instance")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return super().get_queryset(request).annotate(open_alert_count=Subquery(open_alerts))

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

    def _each(self, request, queryset, action, label: str, *, unchanged: str) -> None:
        """Run `action` on each selected instance, then say what happened to which: done, already
        so (a repeat is a success that changes nothing, §5.1), or refused and why. Messages start
        with words, not ids: the admin capitalises a message's first letter."""
        done, already, refused = 0, [], []
        for instance_id in queryset.values_list("instance_id", flat=True):
            with transaction.atomic():
                outcome = action(instance_id)
            if outcome.code != "000000":
                refused.append(f"{instance_id} ({outcome.message})")
            elif outcome.changed:
                done += 1
            else:
                already.append(instance_id)
        if done:
            self.message_user(request, f"{done} instance(s) {label}.", messages.SUCCESS)
        if already:
            self.message_user(request, f"{unchanged}, nothing done: {', '.join(already)}.", messages.INFO)
        if refused:
            self.message_user(request, f"not {label}: {'; '.join(refused)}.", messages.WARNING)

    @admin.action(
        description="Retry provisioning (re-queue failed jobs, run waiting ones now)", permissions=["operate"]
    )
    def retry_provisioning(self, request, queryset):
        actor, results = operator_actor(request), []
        for instance_id in queryset.values_list("instance_id", flat=True):
            with transaction.atomic():
                results.append(
                    (instance_id, services.instance_retry_provisioning(instance_id=instance_id, actor=actor))
                )
        say_retried(self, request, results, "job(s) queued for provisioning again")

    @admin.action(description="Freeze as operator (data kept)", permissions=["operate"])
    def freeze_as_operator(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda iid: services.instance_freeze_by_operator(instance_id=iid, actor=operator_actor(request)),
            "frozen",
            unchanged="already frozen",
        )

    @admin.action(description="Unfreeze as operator", permissions=["operate"])
    def unfreeze_as_operator(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda iid: services.instance_unfreeze_by_operator(instance_id=iid, actor=operator_actor(request)),
            "unfrozen",
            unchanged="not frozen",
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
        "next_run",
        "created_at",
    )
    list_filter = ("state", "kind", "is_test", "created_at")
    # An instance's jobs carry no order id of their own (only renewals and upgrades do): its
    # purchase order finds them too.
    search_fields = (
        "instance__instance_id__exact",
        "order_id__exact",
        "instance__order_id__exact",
        "instance__orders__order_id__exact",  # any order of the instance: renewal, unsubscribe…
        "notification__order_id__exact",
    )
    search_help_text = "Exact instance id or order id (purchase, renewal, upgrade, unsubscribe…)."
    show_full_result_count = False
    list_per_page = 50
    list_select_related = ("instance",)
    readonly_fields = [
        {"next_run_at": "next_run", "delivery_id": "delivery"}.get(f.name, f.name) for f in Job._meta.fields
    ]
    exclude = ("next_run_at", "delivery_id")  # shown as `next_run` (a finished job has none) and a link
    actions = ("retry_failed",)

    @admin.display(description="last error")
    def short_error(self, obj):
        if obj.last_error and obj.state == Job.State.DONE:
            return clipped(f"(an earlier attempt) {obj.last_error}")  # it succeeded since
        return clipped(obj.last_error)

    def has_operate_permission(self, request):
        return request.user.has_perm("orders.change_instance")

    @admin.action(
        description="Retry the selected jobs' work (re-queue failed jobs, run waiting ones now)",
        permissions=["operate"],
    )
    def retry_failed(self, request, queryset):
        """An instance's failed jobs are queued again as what the instance needs now; an
        orderNotify's failed Query Order is fetched again; a job waiting out its retry backoff
        runs now."""
        actor, results = operator_actor(request), []
        for instance_id in set(queryset.filter(instance__isnull=False).values_list("instance__instance_id", flat=True)):
            with transaction.atomic():
                results.append(
                    (instance_id, services.instance_retry_provisioning(instance_id=instance_id, actor=actor))
                )
        notifications = set(
            queryset.filter(notification__isnull=False).values_list("notification_id", "notification__order_id")
        )
        for notification_id, order_id in notifications:
            with transaction.atomic():
                retried = services.order_notification_retry_fetch(notification_id=notification_id, actor=actor)
            results.append((f"orderNotify of {order_id}", retried))
        say_retried(self, request, results, "job(s) queued again")

    @admin.display(description="delivery")
    def delivery(self, obj):
        """The KooGallery call that asked for this work, in the journal."""
        if obj.delivery_id is None:
            return "—"
        url = reverse("admin:marketplace_isv_delivery_change", args=[obj.delivery_id])
        return format_html('<a href="{}">{}</a>', url, obj.delivery_id)

    @admin.display(description="next run", ordering="next_run_at")
    def next_run(self, obj):
        """When the sweep may run it again: only for a job still to run."""
        return obj.next_run_at if obj.state in (Job.State.PENDING, Job.State.RETRY) else "—"


def say_retried(model_admin, request, results: list[tuple[str, services.Retried]], queued_text: str) -> None:
    """What a batch of operator retries did, each (what was retried, orders.services.Retried):
    what was queued, what runs now, and for what got nothing, why — grouped by reason, naming
    each one (the first SAY_AT_MOST). Messages start with words, not ids: the admin capitalises a
    message's first letter."""
    queued = sum(r.queued for _, r in results)
    hurried = sum(r.hurried for _, r in results)
    if queued:
        model_admin.message_user(request, f"{queued} {queued_text}.", messages.SUCCESS)
    if hurried:
        model_admin.message_user(request, f"{hurried} job(s) waiting to retry run now.", messages.SUCCESS)
    idle: dict[str, list[str]] = {}
    for subject, retried in results:
        if not retried.count:
            idle.setdefault(retried.why, []).append(subject)
    if idle:
        reasons = "; ".join(f"{why}: {_named(sorted(subjects))}" for why, subjects in sorted(idle.items()))
        level = messages.INFO if (queued or hurried) else messages.WARNING
        model_admin.message_user(request, f"nothing to retry — {reasons}.", level)


SAY_AT_MOST = 10


def _named(subjects: list[str]) -> str:
    more = len(subjects) - SAY_AT_MOST
    return ", ".join(subjects[:SAY_AT_MOST]) + (f" and {more} more" if more > 0 else "")


class RecordCodeFilter(admin.SimpleListFilter):
    """KooGallery's record codes with what they mean (§7.2), and "none" for records it has not
    answered with a code — never a choice with an empty label."""

    title = "KooGallery's record code"
    parameter_name = "code"

    def lookups(self, request, model_admin):
        seen = model_admin.get_queryset(request).exclude(record_code="").values_list("record_code", flat=True)
        codes = sorted(set(seen.distinct().order_by()))
        return [("none", "none"), *((code, f"{code} {usage.code_meaning(code)}".strip()) for code in codes)]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(record_code="")
        if self.value():
            return queryset.filter(record_code=self.value())
        return queryset


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Usage windows and what KooGallery made of them (§7.2): rejected and failed ones need a look."""

    list_display = ("metering_sn", "instance", "window", "value", "state", "record_code", "attempts", "pushed")
    list_filter = ("state", RecordCodeFilter, "begin_at")
    search_fields = ("instance__instance_id__exact", "metering_sn__exact", "package_instance_id__exact")
    search_help_text = "Exact instance id, metering_sn or package instance id."
    show_full_result_count = False
    list_per_page = 50
    list_select_related = ("instance",)
    readonly_fields = [
        "window",
        "code_meaning",
        *("next_push" if f.name == "next_push_at" else f.name for f in UsageRecord._meta.fields),
    ]
    exclude = ("next_push_at",)  # shown as `next_push`: only a record still to push has one
    actions = ("push_again",)

    @admin.display(description="window (UTC)", ordering="begin_at")
    def window(self, obj):
        return usage.window_text(obj.begin_at, obj.end_at)

    @admin.display(description="pushed (UTC)", ordering="pushed_at")
    def pushed(self, obj):
        return f"{obj.pushed_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}" if obj.pushed_at else "—"

    @admin.display(description="next push at (UTC)")
    def next_push(self, obj):
        if obj.state != UsageRecord.State.PENDING or obj.next_push_at is None:
            return "—"
        return f"{obj.next_push_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}"

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
        self.message_user(
            request, f"{count} record(s) queued to be pushed again.", messages.SUCCESS if count else messages.WARNING
        )
        skipped = queryset.count() - len(records)
        if skipped:
            self.message_user(
                request,
                f"{skipped} record(s) skipped: only rejected or failed records are pushed again.",
                messages.INFO,
            )


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


def with_fetch_state(queryset):
    """Annotate orderNotify rows with their Query Order state (FETCH_STATES), in the query."""
    jobs = Job.objects.filter(notification=OuterRef("pk"))
    return queryset.annotate(
        fetch_state=Case(
            When(query_order__isnull=False, then=Value("fetched")),
            When(Exists(jobs.filter(state__in=Job.OPEN)), then=Value("fetching")),
            When(Exists(jobs.filter(state=Job.State.FAILED)), then=Value("failed")),
            default=Value("not fetched"),
        )
    )


FETCH_STATES = {
    "fetched": "fetched",
    "fetching": "queued, running or waiting to retry",
    "failed": "failed: needs an operator",
    "not fetched": "not fetched (test traffic the open API could not answer)",
}


class FetchFilter(admin.SimpleListFilter):
    title = "Query Order"
    parameter_name = "fetch"

    def lookups(self, request, model_admin):
        return list(FETCH_STATES.items())

    def queryset(self, request, queryset):
        if self.value() in FETCH_STATES:
            return with_fetch_state(queryset).filter(fetch_state=self.value())
        return queryset


@admin.register(OrderNotification)
class OrderNotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("last_received_at", "order_id", "order_line_id", "count", "is_test", "fetch", "short_error")
    list_filter = (FetchFilter, "is_test", "last_received_at")
    search_fields = ("order_id__exact", "order_line_id__exact")
    show_full_result_count = False
    readonly_fields = [f.name for f in OrderNotification._meta.fields if f.name != "query_order"] + ["answer"]
    exclude = ("query_order",)
    actions = ("fetch_again",)

    def has_operate_permission(self, request):
        return request.user.has_perm("orders.change_instance")

    def get_queryset(self, request):
        return with_fetch_state(super().get_queryset(request))

    @admin.display(description="Query Order", ordering="fetch_state")
    def fetch(self, obj):
        return obj.fetch_state

    @admin.display(description="last fetch error")
    def short_error(self, obj):
        return clipped(obj.query_order_error if obj.query_order is None else "")

    @admin.action(description="Fetch the order again (Query Order failed, or waits to retry)", permissions=["operate"])
    def fetch_again(self, request, queryset):
        actor, results = operator_actor(request), []
        for notification_id, order_id in queryset.values_list("pk", "order_id"):
            with transaction.atomic():
                retried = services.order_notification_retry_fetch(notification_id=notification_id, actor=actor)
            results.append((order_id, retried))
        say_retried(self, request, results, "order fetch(es) queued again")

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
