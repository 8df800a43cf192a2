"""The five Kit interfaces (protocol §4.5), the same handlers for V1 and V2: each validates its
fields and calls one service. Both shapes of every list are accepted in either generation (V1
JSON strings, V2 arrays; U10, U31, U34), and V1 calls may use V2's extra flags.

Mandatory members are required (§2.8: authenticated, but a mandatory field is missing or invalid
→ 000002, and the pipeline's transaction leaves nothing written):
- every call: `flag` (not allOrgSync), `testFlag` 0 or 1, a valid UTC+8 `timeStamp` (17 or 14
  digits); authSync also `currentSyncTime`, the stamp that orders it;
- adds and modifies: every member of what they store (tenantSync tenantCode, name, domainName;
  applicationSync clientId, clientSecret; authSync each user's userName, name, orgCode, role
  admin/user, enable "true"/"false"; singleOrgSync orgName; allOrgSync every entry's orgCode and
  name);
- deletes and authSync's cancel (3) only what identifies their rows (tenantId, appId, userName,
  orgCode): deletes always succeed (§4.5).
`instanceId`/`orderId` stay optional: they are empty when the seller applies for credentials (U29).
"""

from __future__ import annotations

from typing import Any

from marketplace_isv import fields
from marketplace_isv.envelope import MOBILE_INVALID, Result
from marketplace_isv.schemes import Caller

from . import payloads, services
from .models import Tenant
from .payloads import member

# Column lengths: longer text is cut to them, never refused (§4.0), and found again by the cut value.
ID = Tenant._meta.get_field("tenant_id").max_length
NAME = Tenant._meta.get_field("name").max_length
DOMAIN = Tenant._meta.get_field("domain_name").max_length


def _origin(caller: Caller) -> services.Origin:
    return services.Origin(delivery_id=caller.delivery_id, scheme=caller.scheme, actor=caller.actor)


def tenant_sync(payload: dict[str, Any], caller: Caller) -> Result:
    flag = payloads.flag(payload, (0, 1, 2))  # V1 documents 0/1; a V1 modify is accepted too
    storing = flag != services.DELETE
    services.tenant_sync(
        origin=_origin(caller),
        flag=flag,
        tenant_id=fields.identifier(payload, "tenantId", required=True, limit=ID),
        instance_id=fields.text(payload, "instanceId", limit=ID),
        order_id=fields.text(payload, "orderId", limit=ID),
        tenant_code=fields.text(payload, "tenantCode", required=storing, limit=ID),
        name=fields.text(payload, "name", required=storing, limit=NAME),
        domain_name=payloads.normalise_domain(fields.text(payload, "domainName", required=storing))[:DOMAIN],
        is_test=payloads.is_test_traffic(payload),
        stamp=payloads.call_stamp(payload),
    )
    return Result.ok()


def application_sync(payload: dict[str, Any], caller: Caller) -> Result:
    flag = payloads.flag(payload, (0, 1, 2))
    storing = flag != services.DELETE
    outcome = services.application_sync(
        origin=_origin(caller),
        flag=flag,
        tenant_id=fields.identifier(payload, "tenantId", required=True, limit=ID),
        app_id=fields.identifier(payload, "appId", required=True, limit=ID),
        instance_id=fields.text(payload, "instanceId", limit=ID),
        client_id=fields.text(payload, "clientId", required=storing, limit=ID),
        client_secret=fields.text(payload, "clientSecret", required=storing),
        is_test=payloads.is_test_traffic(payload),
        stamp=payloads.call_stamp(payload),
    )
    if outcome.secret_error:
        # U18: the row (with the ciphertext kept) must be committed, so this is returned, not raised.
        return Result.of(MOBILE_INVALID, outcome.secret_error)
    return Result.ok()


def auth_sync(payload: dict[str, Any], caller: Caller) -> Result:
    flag = payloads.flag(payload, (0, 1, 2, 3))  # 3 = cancel authorisation (V2; accepted in V1)
    services.tenant_user_sync(
        origin=_origin(caller),
        flag=flag,
        tenant_id=fields.identifier(payload, "tenantId", required=True, limit=ID),
        app_id=fields.identifier(payload, "appId", required=True, limit=ID),
        instance_id=fields.text(payload, "instanceId", limit=ID),
        users=payloads.user_entries(payload, complete=flag in (services.ADD, services.MODIFY)),
        is_test=payloads.is_test_traffic(payload),
        stamp=payloads.call_stamp(payload, ordered_by="currentSyncTime"),
    )
    return Result.ok()


def single_org_sync(payload: dict[str, Any], caller: Caller) -> Result:
    flag = payloads.flag(payload, (0, 1, 2))
    services.department_sync(
        origin=_origin(caller),
        flag=flag,
        tenant_id=fields.identifier(payload, "tenantId", required=True, limit=ID),
        instance_id=fields.text(payload, "instanceId", limit=ID),
        entry=payloads.org_entry(payload, complete=flag != services.DELETE),
        parent_sent=member(payload, "parentCode", "parentOrgCode") is not None,
        is_test=payloads.is_test_traffic(payload),
        stamp=payloads.call_stamp(payload),
    )
    return Result.ok()


def all_org_sync(payload: dict[str, Any], caller: Caller) -> Result:
    # A stray top-level `flag` is tolerated and ignored: the table has none (§4.5.5).
    services.department_snapshot_apply(
        origin=_origin(caller),
        tenant_id=fields.identifier(payload, "tenantId", required=True, limit=ID),
        instance_id=fields.text(payload, "instanceId", limit=ID),
        entries=payloads.org_entries(payload),
        is_test=payloads.is_test_traffic(payload),
        stamp=payloads.call_stamp(payload),
    )
    return Result.ok()
