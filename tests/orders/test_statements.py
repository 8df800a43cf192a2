"""The hand-written SQL of the hot paths (orders.statements) against the ORM: queryInstance
reads the same values."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from orders import statements
from orders.models import Instance
from tests.orders.conftest import created_v2

pytestmark = pytest.mark.django_db


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
