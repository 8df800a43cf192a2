"""Fixtures for the orders tests: the simulator with jobs run after each call commits."""

from __future__ import annotations

import uuid

import pytest

from config.celery import app as celery_app
from marketplace_isv.simulator.client import new_order_id
from orders.models import Instance


@pytest.fixture
def koogallery(koogallery, django_capture_on_commit_callbacks):
    """The simulator over Django's test client. The jobs a call queues run in-process once its
    transaction commits (ISV_JOB_DISPATCH=inline), as a worker would run them right after the
    answer; set `koogallery.run_jobs = False` to leave them queued (a slow or absent worker)."""
    send = koogallery._send
    koogallery.run_jobs = True

    def send_then_run_jobs(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=koogallery.run_jobs):
            return send(*args, **kwargs)

    koogallery._send = send_then_run_jobs
    return koogallery


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run a block as if it were committed: its on-commit work (job dispatch) happens at the end."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def use_broker(url: str) -> None:
    """Point this process's Celery app at another broker, with fresh connection and producer pools."""
    celery_app.conf.broker_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def undelivered_jobs(settings):
    """Jobs go to the outbox (orders.outbox) and no dispatcher runs: they stay pending until the
    test runs them."""
    settings.ISV_JOB_DISPATCH = "broker"


def order_line() -> tuple[str, str]:
    order_id = new_order_id()
    return order_id, f"{order_id}-000001"


def new_v2(koogallery, *, order_id=None, line_id=None, business_id=None, test=True, **options):
    if order_id is None:
        order_id, line_id = order_line()
    fields = {
        "orderId": order_id,
        "orderLineId": line_id or f"{order_id}-000001",
        "businessId": business_id or str(uuid.uuid4()),
    }
    return koogallery.v2("newInstance", fields, test=test, **options)


def created_v2(koogallery, **kwargs) -> Instance:
    """A V2 instance, provisioned (unless jobs are held)."""
    reply = new_v2(koogallery, **kwargs)
    data = reply.assert_envelope()
    assert data["resultCode"] in ("000000", "000004"), data
    return Instance.objects.get(instance_id=data["instanceId"])


V1_FIELDS = {
    "customerId": "68cbc86abc2018ab880d92f36422fa0e",
    "customerName": "huaweitest",
    "skuCode": "sku-standard",
    "productId": "00301-666666-0--0",
    "chargingMode": "1",
    "periodType": "year",
    "periodNumber": "1",
    "expireTime": "20991231000000",
}


def new_v1(koogallery, *, order_id=None, business_id=None, test=True, **fields):
    params = {**V1_FIELDS, "orderId": order_id or new_order_id(), "businessId": business_id or str(uuid.uuid4())}
    params.update(fields)
    return koogallery.v1("newInstance", params, test=test)


def created_v1(koogallery, **kwargs) -> Instance:
    data = new_v1(koogallery, **kwargs).assert_envelope()
    assert data["resultCode"] == "000000", data
    return Instance.objects.get(instance_id=data["instanceId"])


@pytest.fixture
def published_jobs(settings):
    """Jobs are published to this session's Redis queue (the send succeeds); emptied afterwards."""
    settings.ISV_JOB_DISPATCH = "broker"
    yield
    celery_app.control.purge()
