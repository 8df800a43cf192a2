"""Concurrent duplicates resolve to one instance (§5.1): 40 simultaneous newInstance calls for
one order line, each on its own thread and database connection, all committed for real."""

import threading
import time
import uuid

import pytest
from django.db import connection
from django.test import Client

from marketplace_isv.simulator.client import KooGallery, new_order_id
from orders.models import DemoWorkspace, Instance, InstanceOrder, Job, Transition
from tests.conftest import ACCESS_KEY
from tests.orders.conftest import V1_FIELDS

pytestmark = pytest.mark.django_db(transaction=True)

CALLERS = 40


def simultaneously(send) -> list[dict]:
    """Run `send(koogallery)` on CALLERS threads released at the same instant."""
    barrier = threading.Barrier(CALLERS)
    answers: list[dict] = [None] * CALLERS
    errors: list[BaseException] = []

    def caller(index: int) -> None:
        koogallery = KooGallery(Client(), access_key=ACCESS_KEY)
        try:
            barrier.wait()
            answers[index] = send(koogallery).assert_envelope()
        except BaseException as exc:  # reported below, with the thread's own traceback
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return answers


def test_forty_simultaneous_v2_calls_for_one_order_line_make_one_instance():
    order_id = new_order_id()
    fields = {"orderId": order_id, "orderLineId": f"{order_id}-000001"}
    answers = simultaneously(lambda kg: kg.v2("newInstance", {**fields, "businessId": str(uuid.uuid4())}))
    assert {a["resultCode"] for a in answers} <= {"000000", "000004"}
    assert len({a["instanceId"] for a in answers}) == 1
    instance = Instance.objects.get()
    assert instance.instance_id == answers[0]["instanceId"]
    assert InstanceOrder.objects.count() == 1
    assert Job.objects.filter(kind="provision").count() == 1
    assert Transition.objects.filter(event="create").count() == 1
    assert DemoWorkspace.objects.count() == 1


def test_forty_simultaneous_v1_calls_for_one_order_make_one_instance():
    params = {**V1_FIELDS, "orderId": new_order_id()}
    answers = simultaneously(lambda kg: kg.v1("newInstance", {**params, "businessId": str(uuid.uuid4())}))
    assert {a["resultCode"] for a in answers} == {"000000"}
    assert len({a["instanceId"] for a in answers}) == 1
    assert Instance.objects.count() == 1 and Job.objects.count() == 1


def test_a_repeat_may_wait_for_a_provisioning_under_way(settings, undelivered_jobs):
    from orders import execution

    settings.ORDERS_NEW_INSTANCE_WAIT_SECONDS = 20
    koogallery = KooGallery(Client(), access_key=ACCESS_KEY)
    order_id = new_order_id()
    fields = {"orderId": order_id, "orderLineId": f"{order_id}-000001"}
    first = koogallery.v2("newInstance", {**fields, "businessId": "wait-1"}).assert_envelope()
    assert first["resultCode"] == "000004"  # the first call never waits: its job starts after it commits

    def worker():
        time.sleep(0.5)  # the repeat below is waiting by now
        try:
            execution.job_run(Job.objects.get().pk)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    again = koogallery.v2("newInstance", {**fields, "businessId": "wait-2"}).assert_envelope()
    thread.join()
    assert (again["resultCode"], again["instanceId"]) == ("000000", "wait-1")


def test_without_a_wait_a_repeat_answers_at_once(settings, undelivered_jobs):
    koogallery = KooGallery(Client(), access_key=ACCESS_KEY)
    order_id = new_order_id()
    fields = {"orderId": order_id, "orderLineId": f"{order_id}-000001"}
    koogallery.v2("newInstance", {**fields, "businessId": "nowait-1"})
    again = koogallery.v2("newInstance", {**fields, "businessId": "nowait-2"}).assert_envelope()
    assert (again["resultCode"], again["instanceId"]) == ("000004", "nowait-1")
