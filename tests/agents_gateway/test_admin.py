"""The operators' console for the Agents gateway: the usage journal (filters by customer, agent,
status and date; search; detail; CSV exports) and the header-name samples."""

import csv
import io
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from agents_gateway import services
from agents_gateway.models import HeaderSample, UsageRecord

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/agents_gateway/usagerecord/"
MAY = datetime(2025, 5, 10, 12, 0, tzinfo=UTC)
JUNE = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)


def usage(prompt, completion):
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


@pytest.fixture
def journal():
    rows = [
        ("may-c1-translator", "c1", "Alice Ltd", "translator", "ok", MAY, usage(10, 20)),
        ("may-c1-summarizer", "c1", "Alice Ltd", "summarizer", "ok", MAY, usage(1, 2)),
        ("may-c2-translator", "c2", "=HYPERLINK(1)", "translator", "error", MAY, None),
        ("june-c1-translator", "c1", "Alice Ltd", "translator", "ok", JUNE, usage(100, 200)),
    ]
    for request_id, customer, name, agent, status, when, reported in rows:
        services.usage_record(
            request_id=request_id,
            customer_id=customer,
            customer_name=name,
            agent=agent,
            status=status,
            usage=reported,
            received_at=when,
        )
    return {row[0]: UsageRecord.objects.get(request_id=row[0]) for row in rows}


def listed(response) -> set[str]:
    assert response.status_code == 200
    return {record.request_id for record in response.context["cl"].result_list}


def test_the_changelist_lists_every_call(admin_client, journal):
    assert listed(admin_client.get(CHANGELIST)) == set(journal)


def test_the_changelist_filters_by_customer(admin_client, journal):
    response = admin_client.get(CHANGELIST, {"customer": "c2"})
    assert listed(response) == {"may-c2-translator"}
    assert b"Alice Ltd (c1)" in response.content  # the filter offers the known customers


def test_the_changelist_filters_by_agent(admin_client, journal):
    assert listed(admin_client.get(CHANGELIST, {"agent": "summarizer"})) == {"may-c1-summarizer"}


def test_the_changelist_filters_by_status(admin_client, journal):
    assert listed(admin_client.get(CHANGELIST, {"status__exact": "error"})) == {"may-c2-translator"}


def test_the_changelist_filters_by_date(admin_client, journal):
    response = admin_client.get(CHANGELIST, {"received_at__year": "2025", "received_at__month": "6"})
    assert listed(response) == {"june-c1-translator"}
    period = {"received_at__gte": "2025-05-01 00:00:00+00:00", "received_at__lt": "2025-06-01 00:00:00+00:00"}
    assert listed(admin_client.get(CHANGELIST, period)) == {
        "may-c1-translator",
        "may-c1-summarizer",
        "may-c2-translator",
    }


def test_the_changelist_searches_by_request_id_and_customer_id(admin_client, journal):
    assert listed(admin_client.get(CHANGELIST, {"q": "may-c1-summarizer"})) == {"may-c1-summarizer"}
    assert listed(admin_client.get(CHANGELIST, {"q": "c2"})) == {"may-c2-translator"}


def test_the_detail_page_shows_the_usage_as_reported_read_only(admin_client, journal):
    record = journal["may-c1-translator"]
    response = admin_client.get(f"{CHANGELIST}{record.pk}/change/")
    assert response.status_code == 200
    assert b"&quot;total_tokens&quot;: 30" in response.content
    assert b'name="_save"' not in response.content


def test_the_journal_cannot_be_added_to_or_deleted_from_the_console(admin_client, journal):
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    record = journal["may-c1-translator"]
    assert admin_client.post(f"{CHANGELIST}{record.pk}/delete/", {"post": "yes"}).status_code == 403
    assert UsageRecord.objects.filter(pk=record.pk).exists()


def read_csv(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="agents-')
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))


def test_the_export_action_writes_the_selected_calls_as_csv(admin_client, journal):
    chosen = [journal["may-c1-translator"].pk, journal["may-c2-translator"].pk]
    rows = read_csv(admin_client.post(CHANGELIST, {"action": "export_calls", "_selected_action": chosen}))
    assert [row["request_id"] for row in rows] == ["may-c1-translator", "may-c2-translator"]
    assert rows[0]["total_tokens"] == "30" and rows[0]["customer_id"] == "c1"
    assert rows[1]["customer_name"] == "'=HYPERLINK(1)"  # never a live formula in a spreadsheet
    assert rows[1]["total_tokens"] == ""


def test_the_totals_action_sums_a_customers_period_across_the_filtered_list(admin_client, journal):
    query = "?" + urlencode(
        {
            "customer": "c1",
            "received_at__gte": "2025-05-01 00:00:00+00:00",
            "received_at__lt": "2025-06-01 00:00:00+00:00",
        }
    )
    payload = {"action": "export_totals", "select_across": "1", "_selected_action": [journal["may-c1-translator"].pk]}
    rows = read_csv(admin_client.post(CHANGELIST + query, payload))
    assert [(r["customer_id"], r["agent"], r["calls"], r["total_tokens"]) for r in rows] == [
        ("c1", "summarizer", "1", "3"),
        ("c1", "translator", "1", "30"),
    ]


def test_the_header_samples_are_listed_and_can_be_cleared(admin_client):
    sample = services.header_sample_take(
        method="POST",
        path="/agents/echo/v1/chat/completions",
        header_names=["X-Request-Id", "Authorization"],
        token_header="Authorization",
        token_form="bearer",
        outcome="accepted",
        limit=20,
    )
    response = admin_client.get("/admin/agents_gateway/headersample/")
    assert response.status_code == 200
    assert b"Authorization, X-Request-Id" in response.content
    assert admin_client.get(f"/admin/agents_gateway/headersample/{sample.pk}/change/").status_code == 200
    admin_client.post(f"/admin/agents_gateway/headersample/{sample.pk}/delete/", {"post": "yes"})
    assert not HeaderSample.objects.exists()
