"""The batch writer that journals calls which changed nothing (read-only or refused)."""

import threading

import pytest

from marketplace_isv import journal_writer as journal
from marketplace_isv import routes
from marketplace_isv.models import Delivery

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def async_journal(settings, monkeypatch):
    settings.ISV_JOURNAL_ASYNC = True
    monkeypatch.setattr(journal, "_writer", None)
    monkeypatch.setitem(routes.PRODUCE_V2, "queryInstance", "tests.marketplace_isv.handlers.echo")
    monkeypatch.setitem(routes.PRODUCE_V2, "echo", "tests.marketplace_isv.handlers.echo")
    yield
    journal.writer().stop()


def test_read_only_and_refused_calls_are_journaled_by_the_writer(koogallery, async_journal):
    assert koogallery.v2("queryInstance", {"instanceId": "i-1"}).code == "000000"
    assert koogallery.v2("queryInstance", {"instanceId": "i-2"}, key="wrong").code == "000001"
    assert journal.writer().flush()
    rows = {d.instance_id: d.result_code for d in Delivery.objects.all()}
    assert rows == {"i-1": "000000", "i-2": "000001"}


def test_state_changing_calls_are_journaled_at_once(koogallery, async_journal):
    assert koogallery.v2("echo", {"instanceId": "i-3"}).code == "000000"
    assert Delivery.objects.filter(instance_id="i-3").exists()  # no flush needed


def test_rows_from_many_threads_all_arrive(async_journal):
    from marketplace_isv.envelope import Result
    from marketplace_isv.journal import Draft

    def burst(n):
        for i in range(n):
            draft = Draft("v2", "POST", "/koogallery/produce", "", {}, "127.0.0.1")
            draft.take_fields({"orderId": f"burst-{threading.get_ident()}-{i}"})
            draft.write(Result.ok(), b"{}", durable=False)

    threads = [threading.Thread(target=burst, args=(300,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert journal.writer().flush()
    assert Delivery.objects.filter(order_id__startswith="burst-").count() == 1200


def test_a_full_backlog_drops_the_oldest_rows_and_counts_them(async_journal, monkeypatch):
    writer = journal.JournalWriter()
    monkeypatch.setattr(writer, "MAX_PENDING", 3)
    monkeypatch.setattr(writer, "thread", threading.Thread(target=lambda: None))  # not started: nothing drains
    writer.thread.is_alive = lambda: True
    for i in range(5):
        writer.add({"order": i})
    assert [row["order"] for row in writer.rows] == [2, 3, 4]
    assert writer.dropped == 2


def test_rows_arriving_one_at_a_time_are_written_in_few_batches(async_journal):
    """Calls answered one after another must not each cost the writer its own INSERT: the writer
    gathers for up to FLUSH_SECONDS before it writes."""
    import time

    from marketplace_isv.envelope import Result
    from marketplace_isv.journal import Draft

    writer = journal.writer()
    batches = []
    insert = writer._insert

    def counting_insert(rows):
        batches.append(len(rows))
        insert(rows)

    writer._insert = counting_insert
    for i in range(300):
        draft = Draft("v2", "POST", "/koogallery/produce", "", {}, "127.0.0.1")
        draft.take_fields({"orderId": f"trickle-{i}"})
        draft.write(Result.ok(), b"{}", durable=False)
        time.sleep(0.0003)  # faster than one INSERT takes: a writer taking rows as they come writes many
    assert writer.flush()
    assert Delivery.objects.filter(order_id__startswith="trickle-").count() == 300
    assert sum(batches) == 300
    assert len(batches) <= 10, batches  # ~100-200 ms of arrivals, gathered 50 ms at a time
