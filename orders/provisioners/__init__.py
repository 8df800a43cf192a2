"""Choosing the provisioner: ISV_PROVISIONER names it ("demo", "http" or a dotted class path);
test traffic always gets the demo one (§5.4: debug and dial-test calls provision nothing real)."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from .base import AppInfo, ChangeRequest, InstanceSpec, Provisioner, ProvisionerError, ProvisionRefused, Verdict

BUILT_IN = {
    "demo": "orders.provisioners.demo.DemoProvisioner",
    "http": "orders.provisioners.http.HttpProvisioner",
}

__all__ = [
    "AppInfo",
    "ChangeRequest",
    "InstanceSpec",
    "Provisioner",
    "ProvisionRefused",
    "ProvisionerError",
    "Verdict",
    "for_instance",
]


def configured() -> Provisioner:
    name = getattr(settings, "ISV_PROVISIONER", "demo") or "demo"
    return import_string(BUILT_IN.get(name, name))()


def for_instance(is_test: bool) -> Provisioner:
    if is_test:
        return import_string(BUILT_IN["demo"])()
    return configured()
