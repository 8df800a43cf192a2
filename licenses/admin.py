"""Licences in the operators' console (house style 10): status, expiry, order and the event log;
actions to reissue and revoke (the same services, actor = the operator); the upload jobs with a
retry action. Records are read-only here: state changes go through the actions."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone
from django.utils.html import format_html

from marketplace_isv.console import ReadOnlyAdminMixin, operator_actor

from . import services, transitions, uploads
from .models import License, LicenseEvent, LicenseUpload


class EventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = LicenseEvent
    fields = (
        "created_at",
        "kind",
        "from_status",
        "to_status",
        "reason",
        "order_id",
        "scene",
        "valid_until",
        "actor",
        "delivery_id",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("created_at", "id")


class UploadInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = LicenseUpload
    fields = ("created_at", "event_id", "status", "attempts", "last_error", "finished_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


class ExpiryFilter(admin.SimpleListFilter):
    title = "expiry"
    parameter_name = "expiry"

    def lookups(self, request, model_admin):
        return [("expired", "expired"), ("perpetual", "no expiry")]

    def queryset(self, request, queryset):
        if self.value() == "expired":
            return queryset.filter(valid_until__lte=timezone.now())
        if self.value() == "perpetual":
            return queryset.filter(valid_until__isnull=True)
        return queryset


@admin.register(License)
class LicenseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "label",
        "kind",
        "status",
        "valid_until",
        "order_id",
        "customer_id",
        "product_id",
        "is_test",
        "updated_at",
    )
    list_filter = ("status", "kind", "is_test", ExpiryFilter, "valid_until", "created_at")
    search_fields = (
        "instance_id__exact",
        "order_id__exact",
        "last_order_id__exact",
        "license_code__exact",
        "customer_id__exact",
        "event_id__exact",
        "public_id__exact",
    )
    search_help_text = "Exact instance id, order id, licence code, customer id, eventId or licence id."
    date_hierarchy = "created_at"
    show_full_result_count = False
    list_per_page = 50
    actions = ["reissue_selected", "revoke_selected"]
    inlines = [EventInline, UploadInline]
    fieldsets = (
        (None, {"fields": ("public_id", "kind", "status", "instance_id", "license_code", "is_test")}),
        (
            "Purchase",
            {
                "fields": (
                    "order_id",
                    "order_line_id",
                    "last_order_id",
                    "customer_id",
                    "customer_name",
                    "sku_code",
                    "product_id",
                    "current_product_id",
                    "quantity",
                    "charging_mode",
                    "period_type",
                    "period_number",
                )
            },
        ),
        ("Validity", {"fields": ("valid_from", "valid_until", "event_id", "device_fingerprint")}),
        ("Licence key", {"fields": ("token_generation", "key_id", "token")}),
        ("Record", {"fields": ("created_at", "updated_at", "raw_pretty")}),
    )
    readonly_fields = tuple(name for _, section in fieldsets for name in section["fields"])

    def has_operate_permission(self, request) -> bool:
        """Reissue and revoke need the change permission; the records themselves stay read-only."""
        return request.user.has_perm("licenses.change_license")

    @admin.display(description="instance / code", ordering="instance_id")
    def label(self, obj):
        return obj.label

    @admin.display(description="first call (secrets removed)")
    def raw_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.raw, indent=2, ensure_ascii=False))

    def _apply(self, request, queryset, service, verb: str, *, already: str = "") -> None:
        """`already`: the status in which the action has nothing to do (said so, not "done")."""
        for license in queryset:
            if already and license.status == already:
                self.message_user(request, f"already {verb}, nothing done: {self._named(license)}.", messages.INFO)
                continue
            try:
                with transaction.atomic():
                    service(license_id=license.pk, actor=operator_actor(request))
            except (services.LicenseActionRefused, transitions.TransitionRefused) as exc:
                self.message_user(request, f"not {verb}: {self._named(license)} — {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{verb}: {self._named(license)}.", messages.SUCCESS)

    @staticmethod
    def _named(license: License) -> str:
        """A licence in a message: its kind (an instance id may name a V1 and an online licence)."""
        return f"{license.get_kind_display()} {license.label}"

    @admin.action(description="Reissue the licence key (older keys stop working online)", permissions=["operate"])
    def reissue_selected(self, request, queryset):
        self._apply(request, queryset, services.license_reissue, "reissued")

    @admin.action(description="Revoke the selected licences", permissions=["operate"])
    def revoke_selected(self, request, queryset):
        self._apply(request, queryset, services.license_revoke, "revoked", already=License.Status.REVOKED)


@admin.register(LicenseEvent)
class LicenseEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "license", "kind", "from_status", "to_status", "reason", "order_id", "actor")
    list_filter = ("kind", "to_status", "created_at")
    search_fields = (
        "license__instance_id__exact",
        "license__license_code__exact",
        "order_id__exact",
        "delivery_id__exact",
    )
    search_help_text = "Exact instance id, licence code, order id or delivery id."
    list_select_related = ("license",)
    show_full_result_count = False
    list_per_page = 100


@admin.register(LicenseUpload)
class LicenseUploadAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "event_id", "license", "status", "attempts", "last_error", "finished_at")
    list_filter = ("status", "created_at")
    search_fields = ("event_id__exact", "license__instance_id__exact")
    search_help_text = "Exact eventId or instance id."
    list_select_related = ("license",)
    show_full_result_count = False
    actions = ["retry_selected"]

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm("licenses.change_licenseupload")

    @admin.action(description="Retry the selected failed uploads", permissions=["operate"])
    def retry_selected(self, request, queryset):
        retried = 0
        for upload in queryset:
            if upload.status == LicenseUpload.Status.FAILED:
                again = uploads.upload_retry(upload_id=upload.pk, actor=operator_actor(request))
                retried += again.status == LicenseUpload.Status.PENDING
        skipped = queryset.count() - retried
        note = f" {skipped} skipped (not failed, or the licence is revoked)." if skipped else ""
        self.message_user(
            request,
            f"{retried} failed upload(s) queued again.{note}",
            messages.SUCCESS if retried else messages.WARNING,
        )
