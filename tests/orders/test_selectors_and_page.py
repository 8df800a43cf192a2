"""What other apps and buyers see of an instance: instance_summary and the demo workspace page."""

import pytest

from orders.selectors import InstanceSummary, instance_summary
from tests.orders.conftest import created_v1, created_v2

pytestmark = pytest.mark.django_db


def test_the_summary_of_a_never_seen_instance_is_none():
    assert instance_summary("never-seen") is None


def test_the_summary_follows_the_lifecycle(koogallery, settings):
    koogallery.run_jobs = False
    instance = created_v1(koogallery, amount="12", chargingMode="0")
    summary = instance_summary(instance.instance_id)
    assert isinstance(summary, InstanceSummary)
    assert (summary.status, summary.charging_mode, summary.quantity, summary.is_test) == (
        "provisioning",
        "ON_DEMAND",
        12,
        True,
    )
    assert (summary.customer_id, summary.product_id, summary.sku_code) == (
        instance.customer_id,
        instance.product_id,
        instance.sku_code,
    )
    assert summary.effective_at is not None and summary.expires_at is not None
    koogallery.run_jobs = True
    koogallery.v1("instanceStatus", {"instanceId": instance.instance_id, "instanceStatus": "FREEZE"})
    assert instance_summary(instance.instance_id).status == "provisioning"  # frozen, but never provisioned yet
    ready = created_v2(koogallery)
    koogallery.v2("updateInstanceStatus", {"instanceId": ready.instance_id, "status": "FREEZE"})
    assert instance_summary(ready.instance_id).status == "frozen"
    koogallery.v2("releaseInstance", {"instanceId": ready.instance_id})
    assert instance_summary(ready.instance_id).status == "released"


def test_the_summary_of_a_failed_provisioning(koogallery, settings):
    settings.ISV_PROVISIONER = "tests.orders.provisioners.SoldOut"
    instance = created_v2(koogallery, test=False)
    assert instance_summary(instance.instance_id).status == "failed"


def test_the_buyer_page_shows_the_workspace_state_and_never_credentials(koogallery, client):
    instance = created_v2(koogallery)
    instance.refresh_from_db()
    page = client.get(f"/app/{instance.instance_id}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Status: active" in html and instance.app_password not in html
    koogallery.v2("updateInstanceStatus", {"instanceId": instance.instance_id, "status": "FREEZE"})
    assert "frozen" in client.get(f"/app/{instance.instance_id}").content.decode()
    koogallery.v2("releaseInstance", {"instanceId": instance.instance_id})
    assert "no longer available" in client.get(f"/app/{instance.instance_id}").content.decode()
    assert client.get("/app/never-seen").status_code == 404


def test_a_nul_in_the_workspace_path_is_a_404_not_a_500(client):
    client.raise_request_exception = False  # what a browser would get
    assert client.get("/app/%00").status_code == 404
    assert client.get("/app/a%00b").status_code == 404
