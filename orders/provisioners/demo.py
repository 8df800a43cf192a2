"""The built-in demo provisioner: a `DemoWorkspace` row per instance, with an admin account.

It makes the service useful out of the box (`make run`): the buyer's frontEndUrl is
ISV_FRONTEND_URL with the instance id filled in (served by orders.views at /app/<instance_id>),
and the admin credentials are the ones proposed when the instance was created. Test traffic
(testFlag=1) always lands here, whatever ISV_PROVISIONER says (§5.4).

ORDERS_DEMO_DELAY_SECONDS makes `provision` pause after the workspace exists and before it
answers — a slow provider, used by the tests that kill a worker mid-job.
"""

from __future__ import annotations

import time

from django.conf import settings

from ..credentials import new_password, new_user_name
from ..models import DemoWorkspace, Status
from .base import AppInfo, ChangeRequest, InstanceSpec, Verdict

MEMO = "Demo workspace: sign in at the address above with the admin account."


class DemoProvisioner:
    name = "demo"

    def provision(self, spec: InstanceSpec) -> AppInfo:
        workspace, created = DemoWorkspace.objects.get_or_create(
            instance_id=spec.instance_id,
            defaults={
                "status": Status.FROZEN if spec.status == Status.FROZEN else Status.ACTIVE,
                "admin_user": spec.admin_user_name or new_user_name(),
                "admin_password": spec.admin_password or new_password(),
                "front_end_url": spec.front_end_url,
                "plan": _plan(spec),
                "seats": spec.quantity,
                "expires_at": spec.expires_at,
                "is_test": spec.is_test,
            },
        )
        if not created and workspace.status == Status.RELEASED:
            # A test instance revived by a repeated newInstance (§5.4): same workspace, same account.
            workspace.status = Status.ACTIVE
            workspace.save(update_fields=["status", "updated_at"])
        delay = float(getattr(settings, "ORDERS_DEMO_DELAY_SECONDS", 0) or 0)
        if delay > 0:
            time.sleep(delay)
        return AppInfo(
            front_end_url=workspace.front_end_url or None,
            user_name=workspace.admin_user,
            password=workspace.admin_password,
            memo=MEMO,
        )

    def renew(self, spec: InstanceSpec) -> None:
        DemoWorkspace.objects.filter(instance_id=spec.instance_id).update(expires_at=spec.expires_at)

    def freeze(self, spec: InstanceSpec) -> None:
        DemoWorkspace.objects.filter(instance_id=spec.instance_id).exclude(status=Status.RELEASED).update(
            status=Status.FROZEN
        )

    def unfreeze(self, spec: InstanceSpec) -> None:
        DemoWorkspace.objects.filter(instance_id=spec.instance_id, status=Status.FROZEN).update(status=Status.ACTIVE)

    def upgrade(self, spec: InstanceSpec) -> None:
        DemoWorkspace.objects.filter(instance_id=spec.instance_id).update(plan=_plan(spec), seats=spec.quantity)
        return None

    def release(self, spec: InstanceSpec) -> None:
        # The row is kept (test instances are never purged, §5.4); its status says it is gone.
        DemoWorkspace.objects.filter(instance_id=spec.instance_id).update(status=Status.RELEASED)

    def check_change(self, spec: InstanceSpec, change: ChangeRequest) -> Verdict:
        if change.linear_value is not None and change.linear_value < 1:
            return Verdict(False, "the demo workspace needs a quantity of at least 1")
        return Verdict(True)


def _plan(spec: InstanceSpec) -> str:
    return " / ".join(part for part in (spec.product_id, spec.sku_code) if part)[:255]
