"""Joint-operation (联营) tenants as KooGallery's Kit interfaces describe them (protocol §4.5).

Every row that a Kit call changes carries `synced_stamp`, the Kit `timeStamp` (UTC+8
yyyyMMddHHmmssSSS, as an integer) of the last change applied to it: a change older than that is
ignored and still answered 000000 (U35), so out-of-order deliveries converge. Removals are
tombstones (`removed`, `active=False`), never deleted rows, so a late, older "add" cannot revive
what a newer "delete" removed. Parent departments, apps and instances are referred to by their
KooGallery codes as text: a child may arrive before its parent, a user before the app (§4.5.4).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Tenant(models.Model):
    """An enterprise (租户) that bound a purchased app to its organisation (tenantSync)."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending (known only from app/user/org syncs)"
        ACTIVE = "active", "active (bound to at least one instance)"
        DELETED = "deleted", "deleted (every binding removed)"

    tenant_id = models.CharField(max_length=255, unique=True)
    tenant_code = models.CharField(max_length=255, blank=True)
    name = models.CharField(max_length=512, blank=True)
    domain_name = models.CharField(
        max_length=512, blank=True, help_text="the tenant's authentication domain (SSO base URL), with a scheme (U30)"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    instance_id = models.CharField(max_length=255, blank=True, help_text="the instance of the latest binding")
    order_id = models.CharField(max_length=255, blank=True)
    is_test = models.BooleanField(default=False, db_index=True)
    synced_stamp = models.BigIntegerField(null=True, blank=True, help_text="timeStamp of the last name/domain change")
    last_delivery_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant_id"]

    def __str__(self) -> str:
        return f"{self.name or '(unnamed)'} [{self.tenant_id}]"


class TenantBinding(models.Model):
    """One (instanceId, tenantId) pair of tenantSync, the interface's idempotency key (§4.5.1).
    instance_id "" is the binding made when the seller applied for app credentials (U29)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="bindings")
    instance_id = models.CharField(max_length=255, blank=True)
    order_id = models.CharField(max_length=255, blank=True)
    active = models.BooleanField(default=True)
    instance_known = models.BooleanField(default=False, help_text="the orders app knew the instance when bound")
    is_test = models.BooleanField(default=False)
    synced_stamp = models.BigIntegerField(null=True, blank=True)
    last_delivery_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "instance_id"], name="tenant_binding_once")]
        indexes = [models.Index(fields=["instance_id"], name="tenant_binding_instance")]

    def __str__(self) -> str:
        return f"{self.tenant.tenant_id} ⇄ {self.instance_id or '(seller credential application)'}"


class Application(models.Model):
    """A tenant's app credential (应用凭证) from applicationSync (§4.5.2): the per-tenant OAuth
    client. The secret is stored AES-GCM encrypted at rest (tenants.vault) and never displayed."""

    class SecretState(models.TextChoices):
        OK = "ok", "decrypted and stored encrypted"
        UNDECRYPTABLE = "undecryptable", "RSA ciphertext kept: could not be decrypted (000101)"
        NONE = "none", "no secret (removed)"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="applications")
    app_id = models.CharField(max_length=255)
    instance_id = models.CharField(max_length=255, blank=True)
    client_id = models.CharField(max_length=255, blank=True)
    client_secret_sealed = models.TextField(blank=True, help_text="AES-GCM at rest; never displayed")
    client_secret_rsa = models.TextField(
        blank=True, help_text="the RSA-OAEP ciphertext as received, kept only while it cannot be decrypted (U18)"
    )
    secret_state = models.CharField(max_length=16, choices=SecretState.choices, default=SecretState.NONE)
    oaep_parameters = models.CharField(max_length=32, blank=True, help_text="the OAEP parameter set that worked")
    secret_error = models.CharField(max_length=255, blank=True)
    active = models.BooleanField(default=True, db_index=True)
    is_test = models.BooleanField(default=False)
    synced_stamp = models.BigIntegerField(null=True, blank=True)
    last_delivery_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "app_id"], name="application_once_per_tenant")]

    def __str__(self) -> str:
        return f"app {self.app_id} of {self.tenant.tenant_id}"


class Department(models.Model):
    """A department (组织部门) from singleOrgSync / allOrgSync (§4.5.4, §4.5.5). `parent_code` is
    text: the parent may arrive later, or move; the tree is resolved when read (tenants.tree)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="departments")
    org_code = models.CharField(max_length=255)
    name = models.CharField(max_length=512, blank=True)
    parent_code = models.CharField(max_length=255, blank=True, help_text="empty for a top-level department")
    removed = models.BooleanField(default=False)
    removed_at = models.DateTimeField(null=True, blank=True)
    instance_id = models.CharField(max_length=255, blank=True)
    synced_stamp = models.BigIntegerField(null=True, blank=True)
    last_delivery_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        # The unique index (tenant, org_code) also serves "this tenant's departments"; no other
        # index, so that a 10,000-row snapshot updates as few index entries as possible.
        constraints = [models.UniqueConstraint(fields=["tenant", "org_code"], name="department_once_per_tenant")]

    def __str__(self) -> str:
        return f"{self.name or '(unnamed)'} [{self.org_code}]"


class TenantUser(models.Model):
    """A user authorised for a tenant's app (authSync, §4.5.3), identified by tenant + userName."""

    class Role(models.TextChoices):
        ADMIN = "admin", "administrator"
        USER = "user", "ordinary user"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="users")
    app_id = models.CharField(max_length=255, blank=True)
    user_name = models.CharField(max_length=255)
    name = models.CharField(max_length=255, blank=True)
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.USER, db_index=True)
    enabled = models.BooleanField(default=True, db_index=True)
    authorised = models.BooleanField(default=True, help_text="False once authSync flag 3 cancelled the authorisation")
    removed = models.BooleanField(default=False, help_text="deleted by authSync flag 0 (kept as a tombstone)")
    org_code = models.CharField(max_length=255, blank=True)
    position = models.CharField(max_length=255, blank=True)
    employee_code = models.CharField(max_length=255, blank=True)
    employee_type = models.IntegerField(
        null=True, blank=True, help_text="1 permanent, 2 intern, 3 dispatch, 4 outsourced"
    )
    mobile = models.CharField(max_length=64, blank=True)
    email = models.CharField(max_length=255, blank=True)
    extension = models.JSONField(default=dict, blank=True, help_text="workPlace, entryDate and any other member")
    instance_id = models.CharField(max_length=255, blank=True)
    is_test = models.BooleanField(default=False)
    synced_stamp = models.BigIntegerField(null=True, blank=True, help_text="currentSyncTime of the last change")
    last_delivery_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = "authorised user"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "app_id", "user_name"], name="tenant_user_once_per_app")
        ]

    def __str__(self) -> str:
        return f"{self.user_name} ({self.tenant.tenant_id})"

    @property
    def may_sign_in(self) -> bool:
        return self.enabled and self.authorised and not self.removed


class SsoAccount(models.Model):
    """The Django user a (tenant, userName) signs in as through SSO (§8), with the role carried over."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sso_accounts")
    user_name = models.CharField(max_length=255)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="koogallery_sso")
    role = models.CharField(max_length=32, choices=TenantUser.Role.choices, default=TenantUser.Role.USER)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "SSO account"
        constraints = [models.UniqueConstraint(fields=["tenant", "user_name"], name="sso_account_once")]

    def __str__(self) -> str:
        return f"{self.user_name}@{self.tenant.tenant_id} → {self.user_id}"


class SyncLog(models.Model):
    """One row per Kit call that reached its service: what it asked and what it changed."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    delivery_id = models.UUIDField(db_index=True)
    actor = models.CharField(max_length=150, default="marketplace")
    scheme = models.CharField(max_length=8)
    interface = models.CharField(max_length=32, db_index=True)
    flag = models.IntegerField(null=True, blank=True)
    tenant_id = models.CharField(max_length=255, blank=True, db_index=True)
    instance_id = models.CharField(max_length=255, blank=True, db_index=True)
    app_id = models.CharField(max_length=255, blank=True)
    is_test = models.BooleanField(default=False)
    received = models.IntegerField(default=0, help_text="entries in the call")
    applied = models.IntegerField(default=0, help_text="rows created or changed")
    ignored = models.IntegerField(default=0, help_text="entries older than what was already applied (U35)")
    removed = models.IntegerField(default=0, help_text="departments tombstoned by a full snapshot (U36)")
    result_code = models.CharField(max_length=8, default="000000")
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.interface} flag={self.flag} {self.tenant_id} {self.result_code}"
