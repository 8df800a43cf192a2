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

from .common import ADD, CANCEL, DELETE, MODIFY, Origin, SyncOutcome
from .directory import department_snapshot_apply, department_sync, tenant_user_sync
from .tenancy import (
    application_client_secret,
    application_redecrypt,
    application_reseal,
    application_sync,
    tenant_sync,
)

__all__ = [
    "ADD",
    "CANCEL",
    "DELETE",
    "MODIFY",
    "Origin",
    "SyncOutcome",
    "application_client_secret",
    "application_redecrypt",
    "application_reseal",
    "application_sync",
    "department_snapshot_apply",
    "department_sync",
    "tenant_sync",
    "tenant_user_sync",
]
