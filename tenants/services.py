"""The business rules of the five Kit interfaces (protocol §4.5, §5.1). Each service runs inside
the pipeline's transaction, writes one SyncLog row, and never checks-then-inserts: rows are
upserted in bulk SQL keyed by the interface's idempotency key (tenants.bulk), guarded by the
Kit timeStamp so that a change older than the stored one is ignored (U35).

- Adds and modifies are upserts: a repeat changes nothing new; a modify before its add creates.
- Deletes are tombstones: they never check existence and always succeed; a delete of an
  unknown row records a tombstone, so a late, older add cannot bring it back.
- Calls with an unknown or empty instanceId are stored against the tenant (U29); a tenant
  first met in an app, user or department call is created `pending` until tenantSync binds it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from orders.selectors import instance_summary

from . import bulk, vault
from .client_secrets import SecretUnavailable, decrypt_client_secret
from .models import Application, Department, SyncLog, Tenant, TenantBinding, TenantUser
from .payloads import OrgEntry, UserEntry

logger = logging.getLogger(__name__)

ADD, MODIFY, DELETE, CANCEL = 1, 2, 0, 3


@dataclass(frozen=True)
class Origin:
    """The call a change comes from: stored on every row and log line it writes."""

    delivery_id: uuid.UUID
    scheme: str
    actor: str = "marketplace"


@dataclass(frozen=True)
class SyncOutcome:
    received: int = 0
    applied: int = 0
    ignored: int = 0
    removed: int = 0
    secret_error: str = ""  # applicationSync: why clientSecret could not be decrypted (000101)


def _log(origin: Origin, interface: str, outcome: SyncOutcome, **fields) -> None:
    SyncLog.objects.create(
        delivery_id=origin.delivery_id,
        actor=origin.actor[:150],
        scheme=origin.scheme,
        interface=interface,
        received=outcome.received,
        applied=outcome.applied,
        ignored=outcome.ignored,
        removed=outcome.removed,
        result_code="000101" if outcome.secret_error else "000000",
        note=(outcome.secret_error or ("older than what is stored: ignored" if outcome.ignored else ""))[:255],
        **fields,
    )


def _tenant(tenant_id: str, *, is_test: bool) -> Tenant:
    tenant, _ = Tenant.objects.get_or_create(tenant_id=tenant_id, defaults={"is_test": is_test})
    return tenant


def _newer_or_equal(stamp: int) -> Q:
    return Q(synced_stamp__isnull=True) | Q(synced_stamp__lte=stamp)


# --- tenantSync (§4.5.1) --------------------------------------------------------------------------


def tenant_sync(
    *,
    origin: Origin,
    flag: int,
    tenant_id: str,
    instance_id: str,
    order_id: str,
    tenant_code: str,
    name: str,
    domain_name: str,
    is_test: bool,
    stamp: int,
) -> SyncOutcome:
    """Add (1) binds the tenant to the instance and stores its data; modify (2) changes only
    name and domainName; delete (0) removes the (instance, tenant) binding. The tenant is
    active while any binding is (several orders may bind one enterprise: 支持多实例绑定)."""
    now = timezone.now()
    tenant = _tenant(tenant_id, is_test=is_test)
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()  # one tenantSync at a time per tenant
    applied = attempted = 0
    if flag in (ADD, MODIFY):
        attempted += 1
        data = {"name": name, "domain_name": domain_name}
        if flag == ADD:
            data.update(tenant_code=tenant_code, is_test=is_test)
        applied += Tenant.objects.filter(_newer_or_equal(stamp), pk=tenant.pk).update(
            **data, synced_stamp=stamp, last_delivery_id=origin.delivery_id, updated_at=now
        )
    if flag in (ADD, DELETE):
        attempted += 1
        known = bool(instance_id) and instance_summary(instance_id) is not None
        row = {
            "tenant": tenant.pk,
            "instance_id": instance_id,
            "order_id": order_id,
            "active": flag == ADD,
            "instance_known": known,
            "is_test": is_test,
            "synced_stamp": stamp,
            "last_delivery_id": origin.delivery_id,
            "created_at": now,
            "updated_at": now,
        }
        update = ("active", "order_id", "instance_known", "is_test", "synced_stamp", "last_delivery_id", "updated_at")
        applied += bulk.upsert(TenantBinding, [row], unique=("tenant", "instance_id"), update=update)
    _refresh_tenant_status(tenant)
    # An add has two parts (tenant data, binding); each may be older than what is stored.
    outcome = SyncOutcome(received=1, applied=min(applied, 1), ignored=int(applied < attempted))
    _log(origin, "tenantSync", outcome, flag=flag, tenant_id=tenant_id, instance_id=instance_id, is_test=is_test)
    logger.info("tenants.tenant_sync delivery=%s flag=%s applied=%s", origin.delivery_id, flag, outcome.applied)
    return outcome


def _refresh_tenant_status(tenant: Tenant) -> None:
    bindings = TenantBinding.objects.filter(tenant=tenant)
    latest = bindings.filter(active=True).order_by("-synced_stamp", "-updated_at").first()
    if latest is not None:
        status, instance_id, order_id = Tenant.Status.ACTIVE, latest.instance_id, latest.order_id
    else:
        status = Tenant.Status.DELETED if bindings.exists() else Tenant.Status.PENDING
        instance_id, order_id = tenant.instance_id, tenant.order_id
    Tenant.objects.filter(pk=tenant.pk).update(status=status, instance_id=instance_id, order_id=order_id)


# --- applicationSync (§4.5.2, §3.2) ---------------------------------------------------------------


def _secret_context(tenant_id: str, app_id: str) -> str:
    return f"tenants.application:{tenant_id}:{app_id}"


def application_sync(
    *,
    origin: Origin,
    flag: int,
    tenant_id: str,
    app_id: str,
    instance_id: str,
    client_id: str,
    client_secret: str,
    is_test: bool,
    stamp: int,
) -> SyncOutcome:
    """Add/modify store clientId and the decrypted clientSecret (sealed at rest); a secret that
    cannot be decrypted keeps its RSA ciphertext for a later re-decryption and is reported as
    000101 (U18). Delete deactivates the app and forgets its secret."""
    now = timezone.now()
    tenant = _tenant(tenant_id, is_test=is_test)
    row = {
        "tenant": tenant.pk,
        "app_id": app_id,
        "instance_id": instance_id,
        "client_id": client_id,
        "client_secret_sealed": "",
        "client_secret_rsa": "",
        "secret_state": Application.SecretState.NONE,
        "oaep_parameters": "",
        "secret_error": "",
        "active": flag != DELETE,
        "is_test": is_test,
        "synced_stamp": stamp,
        "last_delivery_id": origin.delivery_id,
        "created_at": now,
        "updated_at": now,
    }
    update = [name for name in row if name not in ("tenant", "app_id", "created_at")]
    secret_error = ""
    if flag == DELETE:
        update.remove("client_id")
    else:
        try:
            decrypted = decrypt_client_secret(client_secret)
        except SecretUnavailable as exc:
            secret_error = f"clientSecret cannot be decrypted: {exc}"
            row.update(client_secret_rsa=client_secret, secret_state=Application.SecretState.UNDECRYPTABLE)
            row["secret_error"] = str(exc)[:255]
            logger.warning("tenants.client_secret_undecryptable delivery=%s reason=%s", origin.delivery_id, exc)
        else:
            row.update(
                client_secret_sealed=vault.seal(decrypted.plaintext, context=_secret_context(tenant_id, app_id)),
                secret_state=Application.SecretState.OK,
                oaep_parameters=decrypted.parameters,
            )
    applied = bulk.upsert(Application, [row], unique=("tenant", "app_id"), update=update)
    outcome = SyncOutcome(received=1, applied=applied, ignored=1 - applied, secret_error=secret_error)
    _log(
        origin,
        "applicationSync",
        outcome,
        flag=flag,
        tenant_id=tenant_id,
        instance_id=instance_id,
        app_id=app_id,
        is_test=is_test,
    )
    return outcome


@transaction.atomic
def application_redecrypt(*, application_ids: list[int] | None = None) -> tuple[int, int]:
    """Retry the kept RSA ciphertexts (after the private key was fixed, U18). Returns
    (decrypted, still failing)."""
    pending = Application.objects.select_related("tenant").filter(
        secret_state=Application.SecretState.UNDECRYPTABLE, active=True
    )
    if application_ids is not None:
        pending = pending.filter(pk__in=application_ids)
    done = failed = 0
    for app in pending.select_for_update(of=("self",)):
        try:
            decrypted = decrypt_client_secret(app.client_secret_rsa)
        except SecretUnavailable as exc:
            app.secret_error = str(exc)[:255]
            app.save(update_fields=["secret_error", "updated_at"])
            failed += 1
            continue
        app.client_secret_sealed = vault.seal(
            decrypted.plaintext, context=_secret_context(app.tenant.tenant_id, app.app_id)
        )
        app.client_secret_rsa, app.secret_error = "", ""
        app.secret_state, app.oaep_parameters = Application.SecretState.OK, decrypted.parameters
        app.save()
        done += 1
    logger.info("tenants.client_secrets_redecrypted done=%s failed=%s", done, failed)
    return done, failed


@transaction.atomic
def application_reseal() -> int:
    """Re-seal every stored secret with the current ISV_FIELD_ENCRYPTION_KEY (key rotation)."""
    count = 0
    for app in (
        Application.objects.select_related("tenant").exclude(client_secret_sealed="").select_for_update(of=("self",))
    ):
        if vault.is_current(app.client_secret_sealed):
            continue
        context = _secret_context(app.tenant.tenant_id, app.app_id)
        app.client_secret_sealed = vault.seal(
            vault.open_sealed(app.client_secret_sealed, context=context), context=context
        )
        app.save(update_fields=["client_secret_sealed", "updated_at"])
        count += 1
    return count


def application_client_secret(app: Application) -> str:
    """The plaintext clientSecret for the OAuth token call (§8 step 3); raises VaultError."""
    return vault.open_sealed(app.client_secret_sealed, context=_secret_context(app.tenant.tenant_id, app.app_id))


# --- authSync (§4.5.3) ----------------------------------------------------------------------------

_USER_DETAILS = ("name", "org_code", "position", "employee_code", "employee_type", "role", "enabled", "mobile")
_USER_OPTIONAL = ("position", "employee_code", "employee_type", "mobile", "email")  # kept when not sent


def tenant_user_sync(
    *,
    origin: Origin,
    flag: int,
    tenant_id: str,
    app_id: str,
    instance_id: str,
    users: list[UserEntry],
    is_test: bool,
    stamp: int,
) -> SyncOutcome:
    """Add (1) authorises and stores the users; modify (2) changes their details; delete (0)
    tombstones them; cancel (3) revokes this app's authorisation and keeps the records (U32)."""
    now = timezone.now()
    tenant = _tenant(tenant_id, is_test=is_test)
    unique_users = {user.user_name: user for user in users}  # the last entry for a userName wins
    rows = [
        {
            "tenant": tenant.pk,
            "app_id": app_id,
            "user_name": u.user_name,
            **{name: getattr(u, name) for name in _USER_DETAILS},
            "email": u.email,
            "extension": u.extension,
            "authorised": flag in (ADD, MODIFY),
            "removed": flag == DELETE,
            "instance_id": instance_id,
            "is_test": is_test,
            "synced_stamp": stamp,
            "last_delivery_id": origin.delivery_id,
            "created_at": now,
            "updated_at": now,
        }
        for u in unique_users.values()
    ]
    update = ["instance_id", "is_test", "synced_stamp", "last_delivery_id", "updated_at"]
    if flag == ADD:
        update += [*_USER_DETAILS, "email", "extension", "authorised", "removed"]
    elif flag == MODIFY:
        update += [*_USER_DETAILS, "email", "extension"]
    elif flag == DELETE:
        update += ["removed"]
    else:
        update += ["authorised"]
    applied = bulk.upsert(
        TenantUser, rows, unique=("tenant", "app_id", "user_name"), update=update, keep_when_blank=_USER_OPTIONAL
    )
    outcome = SyncOutcome(received=len(users), applied=applied, ignored=len(rows) - applied)
    _log(
        origin,
        "authSync",
        outcome,
        flag=flag,
        tenant_id=tenant_id,
        instance_id=instance_id,
        app_id=app_id,
        is_test=is_test,
    )
    logger.info("tenants.auth_sync delivery=%s flag=%s users=%s", origin.delivery_id, flag, len(rows))
    return outcome


# --- singleOrgSync, allOrgSync (§4.5.4, §4.5.5) ---------------------------------------------------


def _department_row(tenant: Tenant, entry: OrgEntry, *, removed: bool, origin: Origin, instance_id: str, stamp, now):
    return {
        "tenant": tenant.pk,
        "org_code": entry.org_code,
        "name": entry.name,
        "parent_code": entry.parent_code,
        "removed": removed,
        "removed_at": now if removed else None,
        "instance_id": instance_id,
        "synced_stamp": stamp,
        "last_delivery_id": origin.delivery_id,
        "created_at": now,
        "updated_at": now,
    }


_DEPARTMENT_TRACK = ("instance_id", "synced_stamp", "last_delivery_id", "updated_at")


def department_sync(
    *,
    origin: Origin,
    flag: int,
    tenant_id: str,
    instance_id: str,
    entry: OrgEntry,
    name_sent: bool,
    parent_sent: bool,
    is_test: bool,
    stamp: int,
) -> SyncOutcome:
    """One department: add/modify upsert it (a modify moves it when parentCode is sent, and
    renames it when orgName is); delete tombstones it. No ordering is assumed (U35)."""
    now = timezone.now()
    tenant = _tenant(tenant_id, is_test=is_test)
    removed = flag == DELETE
    row = _department_row(tenant, entry, removed=removed, origin=origin, instance_id=instance_id, stamp=stamp, now=now)
    update = [*_DEPARTMENT_TRACK, "removed", "removed_at"]
    if flag == ADD:
        update += ["name", "parent_code"]
    elif flag == MODIFY:
        update += [name for name, sent in (("name", name_sent), ("parent_code", parent_sent)) if sent]
    applied = bulk.upsert(Department, [row], unique=("tenant", "org_code"), update=update)
    outcome = SyncOutcome(received=1, applied=applied, ignored=1 - applied)
    _log(origin, "singleOrgSync", outcome, flag=flag, tenant_id=tenant_id, instance_id=instance_id, is_test=is_test)
    return outcome


def department_snapshot_apply(
    *,
    origin: Origin,
    tenant_id: str,
    instance_id: str,
    entries: list[OrgEntry],
    is_test: bool,
    stamp: int,
) -> SyncOutcome:
    """A full snapshot (U36): upsert every entry, then tombstone — in one UPDATE — every live
    department this snapshot did not touch, so the live tree equals the snapshot. Departments
    changed after the snapshot's timeStamp are left alone (U35)."""
    now = timezone.now()
    tenant = _tenant(tenant_id, is_test=is_test)
    unique_entries = {entry.org_code: entry for entry in entries}
    rows = [
        _department_row(tenant, e, removed=False, origin=origin, instance_id=instance_id, stamp=stamp, now=now)
        for e in unique_entries.values()
    ]
    update = [*_DEPARTMENT_TRACK, "name", "parent_code", "removed", "removed_at"]
    applied = bulk.upsert(Department, rows, unique=("tenant", "org_code"), update=update)
    removed = (
        Department.objects.filter(_newer_or_equal(stamp), tenant=tenant, removed=False)
        .exclude(last_delivery_id=origin.delivery_id)
        .update(removed=True, removed_at=now, synced_stamp=stamp, last_delivery_id=origin.delivery_id, updated_at=now)
    )
    outcome = SyncOutcome(received=len(entries), applied=applied, ignored=len(rows) - applied, removed=removed)
    _log(origin, "allOrgSync", outcome, tenant_id=tenant_id, instance_id=instance_id, is_test=is_test)
    logger.info("tenants.all_org_sync delivery=%s departments=%s removed=%s", origin.delivery_id, len(rows), removed)
    return outcome
