"""authSync, singleOrgSync and allOrgSync (§4.5.3–§4.5.5): users and departments in bulk SQL."""

from __future__ import annotations

import logging

from django.utils import timezone

from .. import bulk
from ..models import Department, Tenant, TenantUser
from ..payloads import OrgEntry, UserEntry
from .common import ADD, DELETE, MODIFY, Origin, SyncOutcome, newer_or_equal, record_sync, tenant_for

logger = logging.getLogger(__name__)

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
    tenant = tenant_for(tenant_id, is_test=is_test)
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
        TenantUser,
        rows,
        unique=("tenant", "app_id", "user_name"),
        update=update,
        keep_when_blank=_USER_OPTIONAL,
        merge=("extension",),  # workPlace, entryDate…: members not sent keep their stored value
    )
    outcome = SyncOutcome(received=len(users), applied=applied, ignored=len(rows) - applied)
    record_sync(
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
    parent_sent: bool,
    is_test: bool,
    stamp: int,
) -> SyncOutcome:
    """One department: add/modify upsert it (orgName is mandatory for both; a modify moves it only
    when parentCode is sent); delete tombstones it. No ordering is assumed (U35)."""
    now = timezone.now()
    tenant = tenant_for(tenant_id, is_test=is_test)
    removed = flag == DELETE
    row = _department_row(tenant, entry, removed=removed, origin=origin, instance_id=instance_id, stamp=stamp, now=now)
    update = [*_DEPARTMENT_TRACK, "removed", "removed_at"]
    if flag == ADD:
        update += ["name", "parent_code"]
    elif flag == MODIFY:
        update += ["name", "parent_code"] if parent_sent else ["name"]
    applied = bulk.upsert(Department, [row], unique=("tenant", "org_code"), update=update)
    outcome = SyncOutcome(received=1, applied=applied, ignored=1 - applied)
    record_sync(
        origin, "singleOrgSync", outcome, flag=flag, tenant_id=tenant_id, instance_id=instance_id, is_test=is_test
    )
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
    tenant = tenant_for(tenant_id, is_test=is_test)
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()  # one snapshot at a time per tenant
    unique_entries = {entry.org_code: entry for entry in entries}
    rows = [
        _department_row(tenant, e, removed=False, origin=origin, instance_id=instance_id, stamp=stamp, now=now)
        for e in unique_entries.values()
    ]
    update = [*_DEPARTMENT_TRACK, "name", "parent_code", "removed", "removed_at"]
    applied = bulk.upsert(Department, rows, unique=("tenant", "org_code"), update=update)
    removed = (
        Department.objects.filter(newer_or_equal(stamp), tenant=tenant, removed=False)
        .exclude(last_delivery_id=origin.delivery_id)
        .update(removed=True, removed_at=now, synced_stamp=stamp, last_delivery_id=origin.delivery_id, updated_at=now)
    )
    outcome = SyncOutcome(received=len(entries), applied=applied, ignored=len(rows) - applied, removed=removed)
    record_sync(origin, "allOrgSync", outcome, tenant_id=tenant_id, instance_id=instance_id, is_test=is_test)
    logger.info("tenants.all_org_sync delivery=%s departments=%s removed=%s", origin.delivery_id, len(rows), removed)
    return outcome
