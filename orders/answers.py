"""The members of our answers that carry instance data: appInfo and queryInstance's `info`
(koogallery-protocol.md §4.1.1, §4.1.2, §4.2.1, §4.2.7).

userName/password are encrypted (§3.1) always in V1, and in V2 only when
KOOGALLERY_V2_ENCRYPT_APPINFO is on (U14); `encryptType` goes with them exactly when they are.
They are encrypted with the key that verified the call, so a key rotation never breaks them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from marketplace_isv.crypto import aes_encrypt
from marketplace_isv.fields import format_utc_ms

from .models import ChargingMode, Instance
from .statements import AnswerRow

USAGE_MODES = {ChargingMode.ON_DEMAND, ChargingMode.ON_DEMAND_PKG}
Answered = Instance | AnswerRow  # a model instance, or queryInstance's row (orders.statements)


def encrypts(generation: int) -> bool:
    return generation == 1 or settings.KOOGALLERY_V2_ENCRYPT_APPINFO


def encrypt_type(generation: int) -> str | None:
    return settings.KOOGALLERY_ENCRYPT_TYPE if encrypts(generation) else None


def app_info(instance: Answered, *, generation: int, key: str, promised_only: bool = False) -> dict[str, Any]:
    """appInfo with empty members left out; frontEndUrl is always there (the debug tool wants it).

    `promised_only`: only what a new instance's first answer carries (frontEndUrl, userName,
    password, all set at creation), leaving out the provisioner's later adminUrl and memo — for V1
    newInstance, whose repeats must answer the appInfo of the first answer (§4.2.1, §5.1)."""
    info: dict[str, Any] = {"frontEndUrl": instance.front_end_url[:512]}
    if instance.admin_url and not promised_only:
        info["adminUrl"] = instance.admin_url[:512]
    for member, value in (("userName", instance.app_user_name), ("password", instance.app_password)):
        if value:
            info[member] = aes_encrypt(value, key, settings.KOOGALLERY_ENCRYPT_TYPE) if encrypts(generation) else value
    if instance.app_memo and not promised_only:
        info["memo"] = instance.app_memo[:1024]
    return info


def encrypt_type_for(instances: list[Answered], *, generation: int) -> str | None:
    """`encryptType` goes with encrypted credentials only (§4.1.2): not when no listed instance
    has a userName or password."""
    if any(i.app_user_name or i.app_password for i in instances):
        return encrypt_type(generation)
    return None


def usage_info(instance: Answered) -> list[dict[str, Any]] | None:
    """The pay-per-use running total (§4.1.2, §5.7); 0 until a usage value is recorded."""
    if instance.charging_mode not in USAGE_MODES:
        return None
    entry: dict[str, Any] = {
        "usageValue": float(instance.usage_value or 0),
        "statisticalTime": format_utc_ms(instance.usage_at or timezone.now()),
    }
    if instance.related_instance_id:
        entry["relatedInstanceId"] = instance.related_instance_id
    return [entry]


def info_entry(instance: Answered, *, generation: int, key: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "instanceId": instance.instance_id,
        "appInfo": app_info(instance, generation=generation, key=key),
    }
    usage = usage_info(instance)
    if usage is not None:
        entry["usageInfo"] = usage
    return entry
