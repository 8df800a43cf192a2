"""KooGallery's SaaS interfaces for orders and instances: V2 (§4.1, POST) and V1 (§4.2, GET).

Each handler validates its fields with marketplace_isv.fields and calls one service. Handlers
that must keep what the service wrote whatever the answer (a 000004 with a new instance, a 000003
beside an operator alert) return `Result.of(code)` rather than raising.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from marketplace_isv import fields
from marketplace_isv.crypto import DecryptionError, aes_decrypt
from marketplace_isv.envelope import IN_PROGRESS, INTERNAL_ERROR, SUCCESS, ParamError, Result, UnknownInstance
from marketplace_isv.schemes import Caller

from . import answers, services
from .models import ChargingMode
from .provisioners import ChangeRequest
from .states import has_failed

Payload = dict[str, Any]

# §4.2.1: V1 chargingMode numbers in KooGallery's words (Query Order's, §7.1).
V1_CHARGING_MODES = {
    0: ChargingMode.ON_DEMAND,
    1: ChargingMode.PERIOD,
    3: ChargingMode.ONE_TIME,
    5: ChargingMode.ON_DEMAND_PKG,
}


# §2.7: V1 query strings carry the authToken (and V1 has no nonce or time window, U6): never
# stored with the order's parameters (the journal keeps the call, redacted).
NOT_STORED = ("authToken", "signature")


def _stored(payload: Payload, *, without: tuple[str, ...] = ()) -> dict:
    """The call's parameters as kept on the instance and its orders, less secrets (and `without`)."""
    return {k: v for k, v in payload.items() if k not in NOT_STORED and k not in without}


def _ids(payload: Payload) -> list[str]:
    """queryInstance: one id or a comma-separated list (`%2C` on the V1 wire), duplicates dropped."""
    raw = fields.text(payload, "instanceId", required=True)
    ids = list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if not ids:
        raise ParamError("instanceId is required")
    return ids


def _outcome(outcome: services.Outcome) -> Result:
    return Result.of(outcome.code, outcome.message)


def _query_answer(ids: list[str], caller: Caller) -> Result:
    instances = services.instance_query(instance_ids=ids)
    if not instances:
        raise UnknownInstance("none of the instances exists")  # U21
    generation = caller.generation
    if generation == 2:
        # U20: while provisioning, 000004 without info; once failed for good, its failure code.
        listed = [i for i in instances if i.provisioned_at is not None or i.status == "released"]
        if not listed:
            if any(not has_failed(i) for i in instances):
                return Result.of(IN_PROGRESS)
            return Result.of(instances[0].failure_code or INTERNAL_ERROR, "instance provisioning failed")
    else:
        listed = instances  # V1 answered appInfo synchronously at newInstance (§4.2.1)
    key = caller.key.secret
    return Result.ok(
        encryptType=answers.encrypt_type_for(listed, generation=generation),
        info=[answers.info_entry(i, generation=generation, key=key) for i in listed],
    )


# --- V2 (POST /koogallery/produce, §4.1) ---------------------------------------------------------


def new_instance(payload: Payload, caller: Caller) -> Result | None:
    purchase = services.Purchase(
        generation=2,
        order_id=fields.text(payload, "orderId", required=True),
        order_line_id=fields.text(payload, "orderLineId", required=True),
        business_id=fields.text(payload, "businessId", required=True),
        is_test=fields.test_flag(payload),
        params=_stored(payload),
    )
    if caller.one_statement is not None:
        # A fresh order line, the common case: instance, job and journal row in one statement
        # (routes.ONE_STATEMENT). None: it was not fresh, nothing was written — the pipeline
        # calls again in a transaction and the lines below answer.
        answers = []

        def journal_row(instance_id: str) -> dict:
            answers.append(_new_instance_answer(instance_id, ready=False))
            return caller.one_statement.journal_row(answers[-1])

        created = services.instance_create_fresh(
            purchase=purchase, delivery_id=caller.delivery_id, actor=caller.actor, journal_row=journal_row
        )
        return answers[-1] if created is not None else None
    created = services.instance_create(purchase=purchase, delivery_id=caller.delivery_id, actor=caller.actor)
    return _new_instance_answer(created.instance.instance_id, ready=created.ready)


def _new_instance_answer(instance_id: str, *, ready: bool) -> Result:
    # §4.1.1: 000000 only when the instance is usable now; else 000004 and KooGallery polls.
    return Result.of(SUCCESS if ready else IN_PROGRESS, None, instanceId=instance_id)


def query_instance(payload: Payload, caller: Caller) -> Result:
    return _query_answer(_ids(payload), caller)


def refresh_instance(payload: Payload, caller: Caller) -> Result:
    outcome = services.instance_refresh(
        instance_id=fields.text(payload, "instanceId", required=True),
        order_id=fields.text(payload, "orderId", required=True),
        order_line_id=fields.text(payload, "orderLineId", required=True),
        scene=fields.text(payload, "scene", required=True),
        expires_at=fields.utc_time(payload, "expireTime", required=True),
        product_id=fields.text(payload, "productId"),
        generation=2,
        is_test=fields.test_flag(payload),
        params=_stored(payload),
        delivery_id=caller.delivery_id,
        actor=caller.actor,
    )
    return _outcome(outcome)


def _status_change(payload: Payload, caller: Caller, *, activity: str, member: str, unfreeze: str) -> Result:
    """V2 updateInstanceStatus (FREEZE/UNFREEZE) and V1 instanceStatus (FREEZE/NORMAL)."""
    status = fields.text(payload, member, required=True).upper()
    common = {
        "instance_id": fields.text(payload, "instanceId", required=True),
        "activity": activity,
        "is_test": fields.test_flag(payload),
        "delivery_id": caller.delivery_id,
        "actor": caller.actor,
    }
    if status == "FREEZE":
        return _outcome(services.instance_freeze(reason="marketplace", **common))
    if status == unfreeze:
        return _outcome(services.instance_unfreeze(**common))
    raise ParamError(f"{member} must be FREEZE or {unfreeze}")


def update_instance_status(payload: Payload, caller: Caller) -> Result:
    return _status_change(payload, caller, activity="updateInstanceStatus", member="status", unfreeze="UNFREEZE")


def release_instance(payload: Payload, caller: Caller) -> Result:
    outcome = services.instance_release(
        instance_id=fields.text(payload, "instanceId", required=True),
        unsubscribe_order_id=fields.text(payload, "orderId"),
        unsubscribe_order_line_id=fields.text(payload, "orderLineId"),
        is_test=fields.test_flag(payload),
        params=_stored(payload),
        delivery_id=caller.delivery_id,
        actor=caller.actor,
    )
    return _outcome(outcome)


def upgrade_instance(payload: Payload, caller: Caller) -> Result:
    outcome = services.instance_upgrade(
        instance_id=fields.text(payload, "instanceId", required=True),
        order_id=fields.text(payload, "orderId", required=True),
        order_line_id=fields.text(payload, "orderLineId", required=True),
        generation=2,
        is_test=fields.test_flag(payload),
        params=_stored(payload),
        delivery_id=caller.delivery_id,
        actor=caller.actor,
    )
    return _outcome(outcome)


def change_instance_check(payload: Payload, caller: Caller) -> Result:
    if fields.test_flag(payload):
        return Result.ok()  # §4.1.7: debug calls are always accepted, whatever they carry
    instance_id = fields.text(payload, "instanceId", required=True)
    product = fields.json_value(payload, "productInfo", required=True)  # an object, or a string of JSON
    if not isinstance(product, dict):
        raise ParamError("productInfo must be a JSON object")
    change = ChangeRequest(
        product_id=fields.text(product, "productId", required=True),
        sku_code=fields.text(product, "skuCode", required=True),
        product_name=fields.text(product, "productName", required=True),
        linear_value=fields.integer(product, "linearValue"),
    )
    outcome = services.instance_check_change(
        instance_id=instance_id,
        change=change,
        is_test=fields.test_flag(payload),
        delivery_id=caller.delivery_id,
        actor=caller.actor,
    )
    return _outcome(outcome)


def order_notify(payload: Payload, caller: Caller) -> Result:
    services.order_notification_record(
        order_id=fields.text(payload, "orderId", required=True),
        order_line_id=fields.text(payload, "orderLineId", required=True),
        is_test=fields.test_flag(payload),
        delivery_id=caller.delivery_id,
        actor=caller.actor,
    )
    return Result.ok()


# --- V1 (GET /koogallery/produce, §4.2) ----------------------------------------------------------


def _decrypted(payload: Payload, name: str, caller: Caller) -> str:
    """mobilePhone / email arrive AES-encrypted (§3.1): KOOGALLERY_ENCRYPT_TYPE first, then the
    other key length (U15), with the key that verified the call."""
    value = fields.base64_text(payload, name)
    if not value:
        return ""
    try:
        return aes_decrypt(value, caller.key.secret, settings.KOOGALLERY_ENCRYPT_TYPE)
    except DecryptionError:
        raise ParamError(f"{name} cannot be decrypted with the access key") from None


def _extend_params(payload: Payload) -> list | None:
    raw = fields.base64_text(payload, "saasExtendParams")
    if not raw:
        return None
    value = fields.base64_json(raw, name="saasExtendParams")
    return value if isinstance(value, list) else [value]


def _v1_charging_mode(payload: Payload) -> int | None:
    """Unknown numbers, however large, are an unknown mode (item 19); what is no number is 000002."""
    raw = fields.text(payload, "chargingMode")
    if raw.isascii() and raw.isdigit() and len(raw) > 9:
        return None
    return fields.integer(payload, "chargingMode")


def v1_new_instance(payload: Payload, caller: Caller) -> Result:
    mode = _v1_charging_mode(payload)
    purchase = services.Purchase(
        generation=1,
        order_id=fields.text(payload, "orderId", required=True),
        product_id=fields.text(payload, "productId", required=True),
        sku_code=fields.text(payload, "skuCode", required=True),
        business_id=fields.text(payload, "businessId", required=True),
        customer_id=fields.text(payload, "customerId", required=True),
        customer_name=fields.text(payload, "customerName"),  # U24: optional
        user_id=fields.text(payload, "userId"),
        user_name=fields.text(payload, "userName"),
        mobile_phone=_decrypted(payload, "mobilePhone", caller),
        email=_decrypted(payload, "email", caller),
        is_trial=fields.text(payload, "trialFlag") == "1",
        expires_at=fields.utc_time(payload, "expireTime"),
        charging_mode=V1_CHARGING_MODES.get(mode, "") if mode is not None else "",
        period_type=fields.text(payload, "periodType"),
        period_number=fields.integer(payload, "periodNumber"),
        order_amount=fields.decimal(payload, "orderAmount"),
        provision_type=fields.text(payload, "provisionType")[:32],  # U25: stored, never interpreted
        quantity=fields.integer(payload, "amount"),
        disk_size=fields.integer(payload, "diskSize"),
        band_width=fields.integer(payload, "bandWidth"),
        saas_extend_params=_extend_params(payload) or [],
        is_test=fields.test_flag(payload),
        params=_stored(payload, without=("mobilePhone", "email")),
    )
    created = services.instance_create(purchase=purchase, delivery_id=caller.delivery_id, actor=caller.actor)
    # V1 has no asynchronous answer (§4.2.1): 000000 with the appInfo now, provisioning goes on.
    return Result.ok(
        instanceId=created.instance.instance_id,
        encryptType=answers.encrypt_type_for([created.instance], generation=1),
        appInfo=answers.app_info(created.instance, generation=1, key=caller.key.secret, promised_only=True),
    )


def v1_refresh_instance(payload: Payload, caller: Caller) -> Result:
    amount = fields.decimal(payload, "orderAmount")
    if fields.text(payload, "trialToFormal") == "1":
        scene = "TRIAL_TO_FORMAL"
    elif amount is not None and amount < 0:
        scene = "UNSUBSCRIBE_RENEWAL_PERIOD"  # a renewal refund: the expiry moves earlier (§4.2.2)
    else:
        scene = "RENEWAL"
    outcome = services.instance_refresh(
        instance_id=fields.text(payload, "instanceId", required=True),
        order_id=fields.text(payload, "orderId", required=True),
        expires_at=fields.utc_time(payload, "expireTime", required=True),
        scene=scene,
        product_id=fields.text(payload, "productId"),
        period_type=fields.text(payload, "periodType"),
        period_number=fields.integer(payload, "periodNumber"),
        amount=amount,
        generation=1,
        is_test=fields.test_flag(payload),
        params=_stored(payload),
        delivery_id=caller.delivery_id,
        actor=caller.actor,
    )
    return _outcome(outcome)


def v1_expire_instance(payload: Payload, caller: Caller) -> Result:
    fields.text(payload, "orderId", required=True)  # the purchase order; the instance id decides
    outcome = services.instance_freeze(
        instance_id=fields.text(payload, "instanceId", required=True),
        reason="expired",
        activity="expireInstance",
        is_test=fields.test_flag(payload),
        delivery_id=caller.delivery_id,
        actor=caller.actor,
    )
    return _outcome(outcome)


def v1_instance_status(payload: Payload, caller: Caller) -> Result:
    return _status_change(payload, caller, activity="instanceStatus", member="instanceStatus", unfreeze="NORMAL")


def v1_upgrade(payload: Payload, caller: Caller) -> Result:
    change = services.SpecChange(
        sku_code=fields.text(payload, "skuCode", required=True),
        product_id=fields.text(payload, "productId", required=True),
        quantity=fields.integer(payload, "amount"),
        disk_size=fields.integer(payload, "diskSize"),
        band_width=fields.integer(payload, "bandWidth"),
        saas_extend_params=_extend_params(payload),
    )
    outcome = services.instance_upgrade(
        instance_id=fields.text(payload, "instanceId", required=True),
        order_id=fields.text(payload, "orderId", required=True),
        change=change,
        generation=1,
        is_test=fields.test_flag(payload),
        params=_stored(payload),
        delivery_id=caller.delivery_id,
        actor=caller.actor,
    )
    return _outcome(outcome)


def v1_release_instance(payload: Payload, caller: Caller) -> Result:
    fields.text(payload, "orderId", required=True)  # the original purchase order (§4.2.4)
    outcome = services.instance_release(
        instance_id=fields.text(payload, "instanceId", required=True),
        is_test=fields.test_flag(payload),
        delivery_id=caller.delivery_id,
        actor=caller.actor,
    )
    return _outcome(outcome)


def v1_query_instance(payload: Payload, caller: Caller) -> Result:
    return _query_answer(_ids(payload), caller)
