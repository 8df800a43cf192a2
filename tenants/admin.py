"""Tenants in the operators' console (house style 10). Everything here is a record of what
KooGallery synchronised, so it is read-only; the one action re-decrypts kept clientSecret
ciphertexts through the same service the Kit call uses. Secrets are never displayed."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from marketplace_isv.console import ReadOnlyAdminMixin

from . import services
from .models import Application, Department, SsoAccount, SyncLog, Tenant, TenantBinding, TenantUser
from .tree import department_tree


def secret_display(app: Application) -> str:
    return {
        Application.SecretState.OK: "•••••••• (stored encrypted)",
        Application.SecretState.UNDECRYPTABLE: "not decrypted — RSA ciphertext kept (re-decrypt after fixing the key)",
    }.get(app.secret_state, "—")


class TenantRowsInline(ReadOnlyAdminMixin, admin.TabularInline):
    """A tenant's rows: each row's title names the tenant (models' __str__), read with the rows."""

    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("tenant")


class BindingInline(TenantRowsInline):
    model = TenantBinding
    fields = ("instance_id", "order_id", "active", "instance_known", "is_test", "synced_stamp", "updated_at")
    readonly_fields = fields


class ApplicationInline(TenantRowsInline):
    model = Application
    fields = ("app_id", "client_id", "secret", "secret_state", "oaep_parameters", "active", "instance_id", "updated_at")
    readonly_fields = fields

    @admin.display(description="client secret")
    def secret(self, obj):
        return secret_display(obj)


@admin.register(Tenant)
class TenantAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("tenant_id", "name", "tenant_code", "status", "domain_name", "instance_id", "is_test", "updated_at")
    list_filter = ("status", "is_test", "updated_at")
    search_fields = (
        "tenant_id__exact",
        "tenant_code__exact",
        "name",
        "instance_id__exact",
        "bindings__instance_id__exact",
    )
    search_help_text = "Exact tenant id, tenant code or instance id; or part of the name."
    show_full_result_count = False
    inlines = (BindingInline, ApplicationInline)
    fields = (
        "tenant_id",
        "tenant_code",
        "name",
        "domain_name",
        "status",
        "instance_id",
        "order_id",
        "is_test",
        "synced_stamp",
        "last_delivery_id",
        "created_at",
        "updated_at",
        "related",
    )
    readonly_fields = fields

    def get_urls(self):
        tree = self.admin_site.admin_view(self.department_tree_view)
        return [path("<int:pk>/departments/", tree, name="tenants_tenant_departments"), *super().get_urls()]

    @admin.display(description="see also")
    def related(self, obj):
        return format_html(
            '<a href="{}">department tree</a> · <a href="{}">authorised users</a> · <a href="{}">sync log</a>',
            reverse("admin:tenants_tenant_departments", args=[obj.pk]),
            reverse("admin:tenants_tenantuser_changelist") + f"?tenant__id__exact={obj.pk}",
            reverse("admin:tenants_synclog_changelist") + "?" + urlencode({"q": obj.tenant_id}),
        )

    def department_tree_view(self, request, pk):
        tenant = get_object_or_404(Tenant, pk=pk)
        nodes = department_tree(tenant)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "tenant": tenant,
            "nodes": nodes,
            "removed": Department.objects.filter(tenant=tenant, removed=True).count(),
            "title": f"Departments of {tenant}",
        }
        return TemplateResponse(request, "admin/tenants/department_tree.html", context)


@admin.register(Application)
class ApplicationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("app_id", "tenant", "client_id", "secret", "secret_state", "active", "instance_id", "updated_at")
    list_filter = ("secret_state", "active", "is_test")
    list_select_related = ("tenant",)
    search_fields = ("app_id__exact", "client_id__exact", "tenant__tenant_id__exact", "instance_id__exact")
    fields = (
        "tenant",
        "app_id",
        "client_id",
        "secret",
        "secret_state",
        "secret_error",
        "oaep_parameters",
        "active",
        "instance_id",
        "is_test",
        "synced_stamp",
        "last_delivery_id",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    actions = ["redecrypt"]

    @admin.display(description="client secret")
    def secret(self, obj):
        return secret_display(obj)

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm("tenants.change_application")

    @admin.action(
        description="Re-decrypt kept clientSecret ciphertexts (after fixing the RSA key)", permissions=["operate"]
    )
    def redecrypt(self, request, queryset):
        done, failed = services.application_redecrypt(application_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{done} secret(s) decrypted and stored encrypted.", messages.SUCCESS)
        if failed:
            self.message_user(request, f"{failed} still cannot be decrypted: check the RSA key.", messages.ERROR)


@admin.register(Department)
class DepartmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("org_code", "name", "parent_code", "tenant", "removed", "updated_at")
    list_filter = ("removed", ("tenant", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("tenant",)
    search_fields = ("org_code__exact", "name", "parent_code__exact", "tenant__tenant_id__exact")
    search_help_text = "Exact org code, parent code or tenant id; or part of the name."
    show_full_result_count = False
    ordering = ("tenant", "parent_code", "org_code")


@admin.register(TenantUser)
class TenantUserAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("user_name", "name", "tenant", "app_id", "role", "enabled", "authorised", "removed", "org_code")
    list_filter = (
        ("tenant", admin.RelatedOnlyFieldListFilter),
        "role",
        "enabled",
        "authorised",
        "removed",
        "is_test",
    )
    list_select_related = ("tenant",)
    search_fields = (
        "user_name__exact",
        "name",
        "tenant__tenant_id__exact",
        "org_code__exact",
        "employee_code__exact",
        "app_id__exact",
    )
    search_help_text = "Exact userName, tenant id, org code, employee code or app id; or part of the name."
    show_full_result_count = False


@admin.register(SyncLog)
class SyncLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "interface",
        "scheme",
        "flag",
        "tenant_id",
        "instance_id",
        "received",
        "applied",
        "ignored",
        "removed",
        "result_code",
        "delivery",
    )
    list_filter = ("interface", "scheme", "flag", "result_code", "is_test", "created_at")
    search_fields = ("tenant_id__exact", "instance_id__exact", "app_id__exact", "delivery_id__exact")
    search_help_text = "Exact tenant id, instance id, app id or delivery id."
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="delivery")
    def delivery(self, obj):
        url = reverse("admin:marketplace_isv_delivery_change", args=[obj.delivery_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.delivery_id)[:8])


@admin.register(SsoAccount)
class SsoAccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("user_name", "tenant", "role", "user", "last_sign_in_at")
    list_filter = ("role",)
    list_select_related = ("tenant", "user")
    search_fields = ("user_name__exact", "tenant__tenant_id__exact")
