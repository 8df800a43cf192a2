"""A fresh V2 newInstance commits its instance, log row, order, job and journal row in ONE
autocommitted statement (routes.ONE_STATEMENT, pipeline.OneStatement); a repeat or a conflict
takes the usual transaction. Either way the journal holds exactly one row per call."""

import json
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from marketplace_isv.models import Delivery
from orders.models import Instance, InstanceOrder, Job, Transition
from tests.orders.conftest import new_v2, order_line

pytestmark = pytest.mark.django_db(transaction=True)  # no outer transaction: as in production


@pytest.fixture
def outbox(settings, koogallery):
    settings.ISV_JOB_DISPATCH = "broker"  # jobs stay in the outbox: nothing else runs in the request
    koogallery.run_jobs = False
    return koogallery


def _statements(queries) -> list[str]:
    # The nonce goes to Redis, or to the database in embedded mode: not the handler's business.
    return [q["sql"] for q in queries.captured_queries if "seennonce" not in q["sql"].lower()]


def test_a_fresh_order_line_is_written_with_its_journal_row_in_one_statement(outbox):
    new_v2(outbox)  # the statement is prepared once per database session
    business_id = str(uuid.uuid4())
    with CaptureQueriesContext(connection) as queries:
        reply = new_v2(outbox, business_id=business_id)
    assert reply.json == {"resultCode": "000004", "resultMsg": "request in progress", "instanceId": business_id}
    assert reply.body_sign_valid()
    statements = _statements(queries)
    assert len(statements) == 1, statements
    assert statements[0].startswith("EXECUTE orders_insert_purchase_journaled")

    delivery = Delivery.objects.get(pk=reply.headers["x-delivery-id"])
    assert (delivery.activity, delivery.result_code, delivery.instance_id) == ("newInstance", "000004", business_id)
    assert delivery.response_body == reply.body.decode()
    assert delivery.verified and delivery.order_id == json.loads(reply.request_body)["orderId"]
    instance = Instance.objects.get(instance_id=business_id)
    assert Transition.objects.get(instance=instance).delivery_id == delivery.pk
    assert InstanceOrder.objects.get(instance=instance).delivery_id == delivery.pk
    assert Job.objects.get(instance=instance).delivery_id == delivery.pk


def test_a_repeat_takes_the_transaction_and_is_journaled_once(outbox):
    order_id, line_id = order_line()
    first = new_v2(outbox, order_id=order_id, line_id=line_id)
    again = new_v2(outbox, order_id=order_id, line_id=line_id, business_id=str(uuid.uuid4()))
    assert again.json["instanceId"] == first.json["instanceId"]
    assert again.code == "000004"  # still provisioning: no job has run
    assert Instance.objects.filter(order_id=order_id).count() == 1
    rows = Delivery.objects.filter(order_id=order_id).order_by("received_at")
    assert [str(r.pk) for r in rows] == [first.headers["x-delivery-id"], again.headers["x-delivery-id"]]
    assert rows[1].response_body == again.body.decode()


def test_a_business_id_taken_by_another_order_line_gets_a_new_id_and_one_journal_row(outbox):
    taken = str(uuid.uuid4())
    new_v2(outbox, business_id=taken)
    order_id, line_id = order_line()
    reply = new_v2(outbox, order_id=order_id, line_id=line_id, business_id=taken)
    assert reply.code == "000004"
    instance_id = reply.json["instanceId"]
    assert instance_id != taken and uuid.UUID(instance_id)
    assert Instance.objects.get(order_id=order_id).instance_id == instance_id
    delivery = Delivery.objects.get(order_id=order_id)  # exactly one: the failed attempt wrote nothing
    assert str(delivery.pk) == reply.headers["x-delivery-id"]
    assert delivery.response_body == reply.body.decode()
