"""The delivery journal in the operators' console."""

import pytest
from django.urls import reverse

from marketplace_isv import routes
from marketplace_isv.models import Delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(admin_client):
    return admin_client


@pytest.fixture(autouse=True)
def echo_route(monkeypatch):
    monkeypatch.setitem(routes.PRODUCE_V2, "echo", "tests.marketplace_isv.handlers.echo")


def test_the_journal_lists_calls_with_their_outcome(operator, koogallery):
    koogallery.v2("echo", {"orderId": "CS-ADMIN-1"})
    koogallery.v2("echo", {"orderId": "CS-ADMIN-2"}, key="wrong")
    page = operator.get(reverse("admin:marketplace_isv_delivery_changelist"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "CS-ADMIN-1" in text and "CS-ADMIN-2" in text and "000001" in text


@pytest.mark.parametrize(
    "query,present,absent",
    [
        ("outcome=failed", "CS-F-BAD", "CS-F-OK"),
        ("outcome=ok", "CS-F-OK", "CS-F-BAD"),
        ("result_code__exact=000001", "CS-F-BAD", "CS-F-OK"),
        ("verified__exact=1", "CS-F-OK", "CS-F-BAD"),
        ("q=CS-F-OK", "CS-F-OK", "CS-F-BAD"),
    ],
)
def test_filters_and_search_find_the_right_calls(operator, koogallery, query, present, absent):
    koogallery.v2("echo", {"orderId": "CS-F-OK"})
    koogallery.v2("echo", {"orderId": "CS-F-BAD"}, key="wrong")
    text = operator.get(reverse("admin:marketplace_isv_delivery_changelist") + "?" + query).content.decode()
    assert present in text
    assert absent not in text


def test_the_detail_page_shows_the_raw_call_escaped_and_redacted(operator, koogallery):
    koogallery.v2("echo", {"orderId": "CS-XSS", "echo": "<script>alert(1)</script>"})
    delivery = Delivery.objects.get(order_id="CS-XSS")
    page = operator.get(reverse("admin:marketplace_isv_delivery_change", args=[delivery.pk]))
    text = page.content.decode()
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;" in text
    assert "signature=[redacted]" in text


def test_the_journal_is_read_only(operator, koogallery):
    koogallery.v2("echo", {"orderId": "CS-RO"})
    delivery = Delivery.objects.get(order_id="CS-RO")
    assert operator.get(reverse("admin:marketplace_isv_delivery_add")).status_code == 403
    assert operator.post(reverse("admin:marketplace_isv_delivery_delete", args=[delivery.pk])).status_code == 403


def replay_from_the_console(operator, delivery, *, confirmed=True):
    fields = {"action": "replay_selected", "_selected_action": [str(delivery.pk)]}
    if confirmed:
        fields["post"] = "yes"  # the confirmation page's "Yes, replay them"
    return operator.post(reverse("admin:marketplace_isv_delivery_changelist"), fields, follow=True)


def test_a_replay_is_confirmed_first_and_says_what_can_change_state(operator, koogallery):
    koogallery.v2("echo", {"orderId": "CS-CONFIRM", "echo": "x"})
    original = Delivery.objects.get(order_id="CS-CONFIRM")
    page = replay_from_the_console(operator, original, confirmed=False)
    text = page.content.decode()
    assert page.status_code == 200 and "Replay these calls?" in text
    assert "CS-CONFIRM" in text and "can change state" in text
    assert f'name="_selected_action" value="{original.pk}"' in text and 'name="post" value="yes"' in text
    assert not Delivery.objects.filter(replay_of=original).exists()  # nothing ran on the first click
    replay_from_the_console(operator, original)
    assert Delivery.objects.filter(replay_of=original).count() == 1


def test_a_read_only_call_is_shown_as_such_before_its_replay(operator, koogallery):
    koogallery.v2("queryInstance", {"instanceId": "no-such-instance"})
    from marketplace_isv.journal_writer import writer

    assert writer().flush()
    original = Delivery.objects.get(instance_id="no-such-instance")
    text = replay_from_the_console(operator, original, confirmed=False).content.decode()
    assert "read-only" in text and "can change state" not in text


def test_a_stray_select_all_replays_nothing_past_the_limit(operator, koogallery, monkeypatch):
    from marketplace_isv import admin as journal_admin

    monkeypatch.setattr(journal_admin, "MAX_REPLAY", 2)
    for n in range(3):
        koogallery.v2("echo", {"orderId": f"CS-MANY-{n}"})
    fields = {"action": "replay_selected", "select_across": "1", "index": "0", "post": "yes",
              "_selected_action": [str(pk) for pk in Delivery.objects.values_list("pk", flat=True)]}  # fmt: skip
    page = operator.post(reverse("admin:marketplace_isv_delivery_changelist"), fields, follow=True)
    assert "Select at most 2 calls to replay at once (3 selected)." in page.content.decode()
    assert not Delivery.objects.filter(replay_of__isnull=False).exists()


def test_replay_reruns_a_verified_call_as_the_operator(operator, koogallery):
    koogallery.v2("echo", {"orderId": "CS-REPLAY", "echo": "again"})
    original = Delivery.objects.get(order_id="CS-REPLAY")
    response = replay_from_the_console(operator, original)
    assert response.status_code == 200
    replay = Delivery.objects.get(replay_of=original)
    assert replay.actor == "operator:admin"
    assert replay.result_code == "000000"
    assert '"echo":"again"' in replay.response_body


@pytest.mark.django_db(transaction=True)  # the batch writer commits on its own connection
@pytest.mark.parametrize("fields", [{"instanceId": "never-seen"}, {}], ids=["read-only", "refused"])
def test_replay_of_a_call_whose_row_is_batch_written_is_answered_at_once(operator, koogallery, settings, fields):
    """queryInstance rows and refusals go to the journal's batch writer; a replay's row must not."""
    settings.ISV_JOURNAL_ASYNC = True
    order_id = f"CS-REPLAY-RO-{len(fields)}"
    koogallery.v2("queryInstance", {"orderId": order_id, **fields})
    from marketplace_isv.journal_writer import writer

    assert writer().flush()
    original = Delivery.objects.get(order_id=order_id)
    response = replay_from_the_console(operator, original)
    assert response.status_code == 200
    replay = Delivery.objects.get(replay_of=original)
    assert replay.result_code == original.result_code and replay.actor == "operator:admin"
    assert f"answered {replay.result_code}" in response.content.decode()


def test_replay_refuses_unverified_calls(operator, koogallery):
    koogallery.v2("echo", {"orderId": "CS-FORGED"}, key="wrong")
    forged = Delivery.objects.get(order_id="CS-FORGED")
    response = replay_from_the_console(operator, forged)
    assert "never authenticated" in response.content.decode()
    assert not Delivery.objects.filter(replay_of=forged).exists()


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get(reverse("admin:marketplace_isv_delivery_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_detail_page_of_a_body_nested_too_deep_shows_it_as_text(operator, koogallery):
    raw = ("[" * 3000 + "]" * 3000).encode()
    assert koogallery.v2(None, raw_body=raw, signature="0" * 64).code == "000001"  # anyone can send this
    delivery = Delivery.objects.get()
    page = operator.get(reverse("admin:marketplace_isv_delivery_change", args=[delivery.pk]))
    assert page.status_code == 200 and "[[[[" in page.content.decode()


def test_searches_are_exact_and_case_sensitive_so_the_indexes_serve_them(operator, koogallery):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    koogallery.v2("echo", {"orderId": "CS-SEARCH-1"})
    with CaptureQueriesContext(connection) as queries:
        page = operator.get(reverse("admin:marketplace_isv_delivery_changelist"), {"q": "CS-SEARCH-1"})
    assert page.status_code == 200 and "CS-SEARCH-1" in page.content.decode()
    searched = [q["sql"] for q in queries.captured_queries if "CS-SEARCH-1" in q["sql"]]
    assert searched and not any("UPPER(" in sql for sql in searched)
    assert operator.get(reverse("admin:marketplace_isv_delivery_changelist"), {"q": "not-a-uuid"}).status_code == 200


def test_the_activity_filter_offers_the_route_table_not_what_callers_sent(operator, koogallery):
    koogallery.v2("junkActivityXyz", {}, key="wrong")
    url = reverse("admin:marketplace_isv_delivery_changelist")
    page = operator.get(url).content.decode()
    assert "?activity=newInstance" in page and "?activity=junkActivityXyz" not in page
    other = operator.get(url, {"activity": "~other"}).content.decode()
    assert "junkActivityXyz" in other


def test_a_nul_in_a_filter_parameter_is_a_400_not_a_500(operator):
    operator.raise_request_exception = False  # what a browser would get
    for query in ("?result_code=%00", "?activity=%00", "?q=%00"):
        response = operator.get(reverse("admin:marketplace_isv_delivery_changelist") + query)
        assert response.status_code == 400, query


def test_view_only_staff_cannot_replay(client, koogallery):
    """A replay applies a call again (it can freeze or release): not for view-only staff."""
    from django.contrib.auth.models import Permission, User

    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_delivery"))
    client.force_login(viewer)
    koogallery.v2("echo", {"orderId": "CS-VIEWER", "echo": "x"})
    original = Delivery.objects.get(order_id="CS-VIEWER")
    listing = client.get(reverse("admin:marketplace_isv_delivery_changelist"))
    assert listing.status_code == 200 and "replay_selected" not in listing.content.decode()
    replay_from_the_console(client, original)
    assert not Delivery.objects.filter(replay_of=original).exists()


def test_the_replay_message_names_the_activity_as_it_is(operator, koogallery):
    koogallery.v2("echo", {"orderId": "CS-NAMED", "echo": "x"})
    original = Delivery.objects.get(order_id="CS-NAMED")
    page = replay_from_the_console(operator, original).content.decode()
    assert f"Replayed echo {original.pk} as " in page
