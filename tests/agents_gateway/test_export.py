"""`manage.py agents_gateway_export`: the usage journal as CSV by customer and period."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from agents_gateway import services

pytestmark = pytest.mark.django_db


def record(request_id, customer, when, prompt=1, completion=1, agent="translator"):
    services.usage_record(
        request_id=request_id,
        customer_id=customer,
        customer_name=f"name of {customer}",
        agent=agent,
        received_at=when,
        usage={"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    )


@pytest.fixture
def journal():
    record("before", "c1", datetime(2025, 4, 30, 23, 59, tzinfo=UTC))
    record("first-day", "c1", datetime(2025, 5, 1, 0, 0, tzinfo=UTC), 10, 5)
    record("other-customer", "c2", datetime(2025, 5, 2, tzinfo=UTC))
    record("last-second", "c1", datetime(2025, 5, 31, 23, 59, 59, tzinfo=UTC), 3, 4, agent="summarizer")
    record("next-month", "c1", datetime(2025, 6, 1, 0, 0, tzinfo=UTC))


def export(*args) -> list[dict]:
    out = io.StringIO()
    call_command("agents_gateway_export", *args, stdout=out, stderr=io.StringIO())
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def test_the_export_writes_one_customers_calls_in_a_half_open_period(journal):
    rows = export("--customer", "c1", "--since", "2025-05-01", "--until", "2025-06-01")
    assert [row["request_id"] for row in rows] == ["first-day", "last-second"]
    assert rows[0]["received_at"] == "2025-05-01T00:00:00+00:00"
    assert (rows[0]["prompt_tokens"], rows[0]["completion_tokens"], rows[0]["total_tokens"]) == ("10", "5", "15")


def test_the_period_may_be_given_in_beijing_time(journal):
    rows = export("--customer", "c1", "--since", "2025-05-01T08:00:00+08:00", "--until", "2025-06-01T08:00:00+08:00")
    assert [row["request_id"] for row in rows] == ["first-day", "last-second"]


def test_the_totals_sum_a_period_per_customer_and_agent(journal):
    rows = export("--since", "2025-05-01", "--until", "2025-06-01", "--totals")
    assert [(r["customer_id"], r["agent"], r["calls"], r["billed_calls"], r["total_tokens"]) for r in rows] == [
        ("c1", "summarizer", "1", "1", "7"),
        ("c1", "translator", "1", "1", "15"),
        ("c2", "translator", "1", "1", "2"),
    ]
    assert rows[0]["customer_name"] == "name of c1"


def test_the_export_writes_to_a_file(journal, tmp_path):
    target = tmp_path / "may.csv"
    call_command("agents_gateway_export", "--customer", "c2", "--output", str(target), stderr=io.StringIO())
    assert [row["request_id"] for row in csv.DictReader(target.open(encoding="utf-8"))] == ["other-customer"]


@pytest.mark.parametrize("args", [("--since", "last week"), ("--since", "2025-06-01", "--until", "2025-05-01")])
def test_a_bad_period_is_refused(args):
    with pytest.raises(CommandError):
        call_command("agents_gateway_export", *args, stdout=io.StringIO(), stderr=io.StringIO())
