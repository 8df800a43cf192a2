"""Stand-ins for an ISV's own provisioner (selected with ISV_PROVISIONER=<dotted path>): the
outside system the service talks to, not a part of the service."""

import os
import time
from pathlib import Path

from orders.provisioners import AppInfo, ProvisionerError, ProvisionRefused, Verdict
from orders.provisioners.demo import DemoProvisioner

CALLS: list[tuple[str, str]] = []


class Recording(DemoProvisioner):
    """The demo provisioner, remembering each operation it was asked for."""

    name = "recording"

    def provision(self, spec):
        CALLS.append(("provision", spec.instance_id))
        return super().provision(spec)

    def renew(self, spec):
        CALLS.append(("renew", spec.instance_id))
        super().renew(spec)

    def freeze(self, spec):
        CALLS.append(("freeze", spec.instance_id))
        super().freeze(spec)

    def unfreeze(self, spec):
        CALLS.append(("unfreeze", spec.instance_id))
        super().unfreeze(spec)

    def upgrade(self, spec):
        CALLS.append(("upgrade", spec.instance_id))
        return super().upgrade(spec)

    def release(self, spec):
        CALLS.append(("release", spec.instance_id))
        super().release(spec)

    def check_change(self, spec, change):
        CALLS.append(("check_change", spec.instance_id))
        if change.sku_code == "sku-tiny":
            return Verdict(False, "current usage does not fit sku-tiny")
        return Verdict(True)


class SoldOut(DemoProvisioner):
    def provision(self, spec):
        raise ProvisionRefused("no capacity left", code="000106")


class Down(DemoProvisioner):
    def provision(self, spec):
        raise ProvisionerError("backend unreachable")

    def check_change(self, spec, change):
        raise ProvisionerError("backend unreachable")


class OwnCredentials(DemoProvisioner):
    def provision(self, spec):
        super().provision(spec)
        return AppInfo(admin_url="https://isv.example.com/admin", user_name="owner", password="Own-Pa55word!")


class AddsAdminUrl(DemoProvisioner):
    """Keeps the proposed credentials and adds an admin console and a note."""

    def provision(self, spec):
        super().provision(spec)
        return AppInfo(admin_url="https://isv.example.com/admin", memo="Welcome")


class NoCredentials(DemoProvisioner):
    """A product whose buyers sign in with their Huawei account: no userName or password."""

    def provision(self, spec):
        super().provision(spec)
        return AppInfo(user_name="", password="", memo="")


class TooLongUserName(DemoProvisioner):
    def provision(self, spec):
        return AppInfo(user_name="u" * 80)


class FreezeFails(DemoProvisioner):
    def freeze(self, spec):
        raise ProvisionRefused("freezing is broken today")


class Flaky(DemoProvisioner):
    """A backend that is down for its first N provisioning calls, then works: the demo provisioner
    behind an outage. It runs in a Celery worker process, so it shares its state with the test
    through files in $FLAKY_BACKEND_DIR: `failures` holds N, and `calls` gets a line per call
    (`<time.time()> <instance id>`), for the test to count the calls and measure the waits."""

    def provision(self, spec):
        directory = Path(os.environ["FLAKY_BACKEND_DIR"])
        with open(directory / "calls", "a") as calls:
            calls.write(f"{time.time():.6f} {spec.instance_id}\n")
        call = len((directory / "calls").read_text().splitlines())
        if call <= int((directory / "failures").read_text()):
            raise ProvisionerError(f"backend unreachable (call {call})")
        return super().provision(spec)
