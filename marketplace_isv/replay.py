"""Operators' replay of a journaled call (house style 10): the stored, once-verified payload goes
through the same pipeline and handler again, journaled as a new delivery that points back at the
original and names the operator as the actor. Handlers are idempotent, so a replay is safe."""

from __future__ import annotations

from . import keys
from .inbound import Inbound
from .journal import Draft
from .models import Delivery
from .pipeline import Surface, run
from .schemes import KIT_V1, KIT_V2, Caller


def replay_delivery(delivery: Delivery, *, actor: str) -> Delivery:
    if not delivery.verified:
        raise ValueError("only verified deliveries can be replayed")
    is_kit = delivery.scheme in (KIT_V1, KIT_V2)
    primary = keys.primary_kit if is_kit else keys.primary_basic
    surface = Surface(delivery.scheme, primary, name=delivery.activity if is_kit else None)
    draft = Draft(
        scheme=delivery.scheme,
        method=delivery.method,
        path=delivery.path,
        raw_query=delivery.raw_query,
        headers=dict(delivery.raw_headers),
        remote_addr="",
        activity=delivery.activity,
        actor=actor,
        replay_of_id=delivery.id,
    )
    inbound = Inbound(
        method=delivery.method,
        path=delivery.path,
        raw_query=delivery.raw_query,
        headers=dict(delivery.raw_headers),
        body=delivery.raw_body.encode("utf-8"),
    )
    draft.take_inbound(inbound)
    variant = "form-decoded" if delivery.auth_variant == "form-decoded" else "replay"
    caller = Caller(delivery.scheme, primary(), variant=variant, delivery_id=draft.id, actor=actor)
    run(draft, surface, inbound, caller)
    return Delivery.objects.get(pk=draft.id)
