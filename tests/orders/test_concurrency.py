"""Concurrent duplicates resolve to one instance (§5.1): 40 simultaneous newInstance calls for
one order line, each on its own thread and database connection, all committed for real."""

import threading
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
