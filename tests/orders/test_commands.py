"""The orders management commands."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from orders.models import Job
from tests.orders.conftest import created_v2

pytestmark = pytest.mark.django_db


def test_orders_sweep_runs_jobs_that_never_started(koogallery, run_on_commit):
    koogallery.run_jobs = False
    instance = created_v2(koogallery)
    Job.objects.update(next_run_at=timezone.now() - timedelta(seconds=1))
    out = StringIO()
    with run_on_commit():
        call_command("orders_sweep", stdout=out)
    assert "1 job(s) re-enqueued" in out.getvalue()
    instance.refresh_from_db()
    assert instance.provisioning_state == "ready"


def test_orders_usage_sets_the_running_total(koogallery):
    instance = created_v2(koogallery)
    call_command("orders_usage", instance.instance_id, "42.5", "--at", "20250101120000", stdout=StringIO())
    instance.refresh_from_db()
    assert str(instance.usage_value) == "42.5000"
    assert instance.usage_at.isoformat() == "2025-01-01T12:00:00+00:00"


@pytest.mark.parametrize("args", [["nope", "1"], ["x", "abc"], ["x", "-1"], ["x", "1", "--at", "2025"]])
def test_orders_usage_refuses_bad_input(args):
    with pytest.raises(CommandError):
        call_command("orders_usage", *args, stdout=StringIO())


def test_metrics_show_failed_jobs_and_open_alerts(koogallery, settings, client):
    settings.ISV_PROVISIONER = "tests.orders.provisioners.SoldOut"
    created_v2(koogallery, test=False)
    text = client.get("/metrics").content.decode()
    assert 'orders_jobs{kind="provision",state="failed"} 1.0' in text
    assert 'orders_alerts_open{kind="job_failed"} 1.0' in text
    assert 'orders_instances{status="active"} 1.0' in text
