"""The state machine (orders.states): one function, a log row per change, repeats are no-ops."""

import uuid

import pytest

from orders.models import Instance, Transition
from orders.states import IllegalTransition, log_created, transition

pytestmark = pytest.mark.django_db


@pytest.fixture
def instance():
    row = Instance.objects.create(instance_id="i-state", generation=2, order_id="CS1", order_line_id="CS1-000001")
    log_created(row, reason="test", delivery_id=None, actor="marketplace")
    return row


def test_a_transition_moves_the_instance_and_appends_one_row(instance):
    delivery = uuid.uuid4()
    assert transition(instance, "freeze", status="frozen", reason="expired", delivery_id=delivery, actor="marketplace")
    instance.refresh_from_db()
    assert instance.status == "frozen"
    row = Transition.objects.filter(instance=instance).last()
    assert (row.event, row.from_status, row.to_status, row.reason, row.delivery_id, row.actor) == (
        "freeze",
        "active",
        "frozen",
        "expired",
        delivery,
        "marketplace",
    )


def test_repeating_a_transition_that_already_happened_changes_and_logs_nothing(instance):
    transition(instance, "freeze", status="frozen", actor="marketplace")
    assert not transition(instance, "freeze", status="frozen", actor="marketplace")
    assert Transition.objects.filter(instance=instance, event="freeze").count() == 1


@pytest.mark.parametrize("path", [["released", "frozen"], ["released", "active"]])
def test_a_released_real_instance_cannot_move(instance, path):
    transition(instance, "release", status=path[0], actor="marketplace")
    with pytest.raises(IllegalTransition):
        transition(instance, "next", status=path[1], actor="operator:alice")
    instance.refresh_from_db()
    assert instance.status == "released"
    assert Transition.objects.filter(instance=instance).count() == 2


def test_a_released_test_instance_can_be_revived(instance):
    instance.is_test = True
    instance.save()
    transition(instance, "release", status="released", actor="marketplace")
    assert transition(instance, "revive", status="active", provisioning="pending", actor="marketplace")
    instance.refresh_from_db()
    assert (instance.status, instance.provisioning_state) == ("active", "pending")


def test_provisioning_changes_ride_in_the_same_row(instance):
    transition(instance, "provisioned", provisioning="ready", actor="system")
    row = Transition.objects.filter(instance=instance).last()
    assert (row.from_status, row.to_status, row.from_provisioning, row.to_provisioning, row.actor) == (
        "active",
        "active",
        "pending",
        "ready",
        "system",
    )


def test_an_event_without_a_state_change_is_logged_only_when_asked(instance):
    assert not transition(instance, "renew", actor="marketplace")
    assert transition(instance, "renew", note=True, reason="RENEWAL", actor="marketplace")
    assert Transition.objects.filter(instance=instance, event="renew").count() == 1


def test_leaving_the_frozen_state_clears_the_freeze_reason(instance):
    instance.frozen_reason = "expired"
    transition(instance, "freeze", status="frozen", actor="marketplace", save_fields=("frozen_reason",))
    transition(instance, "unfreeze", status="active", actor="marketplace")
    instance.refresh_from_db()
    assert instance.frozen_reason == ""
