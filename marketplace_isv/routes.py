"""The whole protocol surface on one screen: activity / Kit name -> handler (house style 7).

Each handler is `handler(payload: dict, caller: Caller) -> Result` and lives in a domain app's
callbacks module. Anything not listed answers 000002 (koogallery-protocol.md §1.3).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from django.utils.module_loading import import_string

from .envelope import ParamError

# GET /koogallery/produce — SaaS V1 and License V1 (§4.2, §4.3), authToken (§2.1)
PRODUCE_V1: dict[str, str] = {
    # orders: SaaS V1 (§4.2)
    "newInstance": "orders.callbacks.v1_new_instance",
    "refreshInstance": "orders.callbacks.v1_refresh_instance",
    "expireInstance": "orders.callbacks.v1_expire_instance",
    "releaseInstance": "orders.callbacks.v1_release_instance",
    "upgrade": "orders.callbacks.v1_upgrade",
    "instanceStatus": "orders.callbacks.v1_instance_status",
    "queryInstance": "orders.callbacks.v1_query_instance",
    # licenses: License V1 (§4.3)
    "getLicense": "licenses.callbacks.get_license",
    "refreshLicense": "licenses.callbacks.refresh_license",
    "expireLicense": "licenses.callbacks.expire_license",
    "releaseLicense": "licenses.callbacks.release_license",
}

# POST /koogallery/produce — SaaS V2, License 2.0, getLicenseAsync, orderNotify (§4.1, §4.4), §2.3
PRODUCE_V2: dict[str, str] = {
    # orders: SaaS V2 (§4.1)
    "newInstance": "orders.callbacks.new_instance",
    "queryInstance": "orders.callbacks.query_instance",
    "refreshInstance": "orders.callbacks.refresh_instance",
    "updateInstanceStatus": "orders.callbacks.update_instance_status",
    "releaseInstance": "orders.callbacks.release_instance",
    "upgradeInstance": "orders.callbacks.upgrade_instance",
    "changeInstanceCheck": "orders.callbacks.change_instance_check",
    "orderNotify": "orders.callbacks.order_notify",
    # licenses: License 2.0 (§4.4) and the online licence (§4.4.1)
    "refreshLicenseCode": "licenses.callbacks.refresh_license_code",
    "updateLicenseCodeStatus": "licenses.callbacks.update_license_code_status",
    "releaseLicenseCode": "licenses.callbacks.release_license_code",
    "getLicenseAsync": "licenses.callbacks.get_license_async",
}

# POST /koogallery/produce/produceAPI/<name> — Kit V1 (§4.5), authToken header (§2.2)
KIT_V1: dict[str, str] = {
    # tenants (§4.5.1–§4.5.5): the same handlers serve both generations
    "tenantSync": "tenants.callbacks.tenant_sync",
    "applicationSync": "tenants.callbacks.application_sync",
    "authSync": "tenants.callbacks.auth_sync",
    "singleOrgSync": "tenants.callbacks.single_org_sync",
    "allOrgSync": "tenants.callbacks.all_org_sync",
}

# POST /koogallery/produce/produceAPI/v2/<name> — Kit V2 (§4.5), x-sign headers (§2.4)
KIT_V2: dict[str, str] = {
    # tenants (§4.5.1–§4.5.5): the same handlers serve both generations
    "tenantSync": "tenants.callbacks.tenant_sync",
    "applicationSync": "tenants.callbacks.application_sync",
    "authSync": "tenants.callbacks.auth_sync",
    "singleOrgSync": "tenants.callbacks.single_org_sync",
    "allOrgSync": "tenants.callbacks.all_org_sync",
}

TABLES = {"v1": PRODUCE_V1, "v2": PRODUCE_V2, "kit_v1": KIT_V1, "kit_v2": KIT_V2}

# Interfaces that change no business state: their journal row is committed without waiting for
# the WAL flush (journal.py), since a database crash could lose nothing but that row.
READ_ONLY = {"queryInstance", "changeInstanceCheck"}

# Interfaces whose common case the handler finishes in ONE autocommitted statement that also
# writes the call's journal row (pipeline.OneStatement): a fresh V2 newInstance. Anything else
# about them — a repeat, a conflict — takes the usual transaction.
ONE_STATEMENT = {("v2", "newInstance")}


@cache
def _load(dotted: str) -> Callable:
    return import_string(dotted)


def resolve(scheme: str, name: str) -> Callable:
    dotted = TABLES[scheme].get(name)
    if not dotted:
        raise ParamError(f"unknown activity {name[:64]!r}" if name else "activity is required")
    return _load(dotted)
