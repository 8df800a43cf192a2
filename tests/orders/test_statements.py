"""The hand-written SQL of the hot paths (orders.statements) against the ORM path it replaces:
the same rows written by a fresh newInstance, the same values read by queryInstance."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import DataError, connection, transaction
from django.forms.models import model_to_dict

from orders import statements
from orders.models import Instance, InstanceOrder, Job, Transition
from orders.services import Purchase, creation
from tests.orders.conftest import created_v2

pytestmark = pytest.mark.django_db

# Differ between any two instances, whichever path wrote them.
UNIQUE = {"id", "instance", "instance_id", "order_id", "order_line_id", "business_id", "front_end_url",
          "app_user_name", "app_password", "request_params", "params", "reason", "delivery_id",
          "effective_at", "created_at", "updated_at", "at", "next_run_at", "enqueued_at"}  # fmt: skip


def purchase(**fields) -> Purchase:
    order_id = "CS" + uuid.uuid4().hex[:14].upper()
    values = {
        "generation": 1,
        "order_id": order_id,
        "business_id": str(uuid.uuid4()),
        "is_test": False,
        "product_id": "00301-666666-0--0",
        "sku_code": "sku-standard",
        "customer_id": "c" * 300,  # over-long: cut to the column, never a database error
        "customer_name": "华为 test",
        "is_trial": True,
        "expires_at": datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        "charging_mode": "PERIOD",
        "period_type": "year",
        "period_number": 1,
        "order_amount": Decimal("123.4500"),
        "quantity": 5,
        "saas_extend_params": [{"name": "seats", "value": "30"}],
        "params": {"orderId": order_id, "note": "华为"},
    }
    values.update(fields)
    return Purchase(**values)


def rows(instance: Instance) -> dict:
    def kept(obj):
        return {k: v for k, v in model_to_dict(obj).items() if k not in UNIQUE}

    return {
        "instance": kept(instance),
        "transitions": [kept(t) for t in Transition.objects.filter(instance=instance)],
        "orders": [kept(o) for o in InstanceOrder.objects.filter(instance=instance)],
        "jobs": [kept(j) for j in Job.objects.filter(instance=instance)],
    }


def test_the_one_statement_insert_writes_what_the_orm_path_writes():
    delivery = uuid.uuid4()
    one = creation._insert_in_one_statement("one-statement", purchase(), delivery_id=delivery, actor="marketplace")
    orm = creation._insert_with_the_orm("orm-path", purchase(), delivery_id=delivery, actor="marketplace")
    written = rows(Instance.objects.get(pk=one.pk)), rows(Instance.objects.get(pk=orm.pk))
    assert written[0] == written[1]
    assert written[0]["instance"]["customer_id"] == "c" * 255
    assert [t["event"] for t in written[0]["transitions"]] == ["create"]
    assert [(j["kind"], j["state"]) for j in written[0]["jobs"]] == [("provision", "pending")]
    # what the statement hands back is the row as stored
    stored = Instance.objects.get(pk=one.pk)
    assert model_to_dict(one) == model_to_dict(stored)
    assert (one.created_at, one.updated_at) == (stored.created_at, stored.updated_at)


def test_a_conflicting_insert_writes_nothing_at_all():
    first = purchase()
    assert creation._insert_in_one_statement("taken-id", first, delivery_id=None, actor="marketplace") is not None
    counts = [model.objects.count() for model in (Instance, Transition, InstanceOrder, Job)]
    # the same order line again, and another order line with the instance id already taken
    again = creation._insert_in_one_statement("other-id", first, delivery_id=None, actor="marketplace")
    taken = creation._insert_in_one_statement("taken-id", purchase(), delivery_id=None, actor="marketplace")
    assert (again, taken) == (None, None)
    assert [model.objects.count() for model in (Instance, Transition, InstanceOrder, Job)] == counts


@pytest.mark.django_db(transaction=True)
def test_the_statement_survives_a_rollback_and_is_prepared_again_on_a_new_connection():
    def insert(instance_id, **fields):
        with transaction.atomic():
            return creation._insert_in_one_statement(instance_id, purchase(**fields), delivery_id=None, actor="x")

    assert insert("before")
    with pytest.raises(DataError):  # rolled back after the PREPARE: the session keeps the statement
        insert("fails", order_amount=Decimal("1e30"))
    assert insert("after-rollback")
    connection.close()
    assert insert("on-a-new-connection")
    assert Instance.objects.filter(instance_id__in=["before", "after-rollback", "on-a-new-connection"]).count() == 3


@pytest.mark.parametrize("count", [1, 3])
def test_query_rows_carry_the_values_the_orm_reads(koogallery, count):
    instances = [created_v2(koogallery) for _ in range(count)]
    Instance.objects.filter(pk=instances[0].pk).update(
        usage_value=Decimal("12.3456"), usage_at=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC), admin_url="a"
    )
    ids = [i.instance_id for i in instances]
    found = {row.instance_id: row for row in statements.instances_for_answer([*ids, "never-seen"])}
    assert sorted(found) == sorted(ids)
    for instance in Instance.objects.filter(instance_id__in=ids):
        assert found[instance.instance_id]._asdict() == {
            name: getattr(instance, name) for name in found[ids[0]]._fields
        }
