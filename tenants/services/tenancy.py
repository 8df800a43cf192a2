"""tenantSync and applicationSync (§4.5.1, §4.5.2), and the stored clientSecrets (§3.2, U18)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from orders.selectors import instance_summary

from .. import bulk, vault
from ..client_secrets import SecretUnavailable, decrypt_client_secret
from ..models import Application, Tenant, TenantBinding
from .common import ADD, DELETE, MODIFY, Origin, SyncOutcome, newer_or_equal, record_sync, tenant_for

logger = logging.getLogger(__name__)

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
    name and domainName (and fills tenantCode while none is stored); delete (0) removes the
    (instance, tenant) binding. The tenant is
    active while any binding is (several orders may bind one enterprise: 支持多实例绑定)."""
    now = timezone.now()
    tenant = tenant_for(tenant_id, is_test=is_test)
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()  # one tenantSync at a time per tenant
    applied = attempted = 0
    if flag in (ADD, MODIFY):
        attempted += 1
        data = {"name": name, "domain_name": domain_name}
        if flag == ADD:
            data.update(tenant_code=tenant_code, is_test=is_test)
        applied += Tenant.objects.filter(newer_or_equal(stamp), pk=tenant.pk).update(
            **data, synced_stamp=stamp, last_delivery_id=origin.delivery_id, updated_at=now
        )
        # tenantCode (mandatory in every call) routes end users: a modify before its add, or an
        # add older than that modify, must not leave it empty.
        if tenant_code:
            Tenant.objects.filter(pk=tenant.pk, tenant_code="").update(tenant_code=tenant_code, updated_at=now)
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
    record_sync(origin, "tenantSync", outcome, flag=flag, tenant_id=tenant_id, instance_id=instance_id, is_test=is_test)
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
    tenant = tenant_for(tenant_id, is_test=is_test)
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
    record_sync(
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
