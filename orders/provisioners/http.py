"""The built-in HTTP provisioner: every operation is a signed JSON POST to the ISV's backend.

Select it with ISV_PROVISIONER=http and set ISV_PROVISIONER_URL and ISV_PROVISIONER_SECRET.

Request (one URL for every operation)::

    POST {ISV_PROVISIONER_URL}
    Content-Type: application/json
    X-ISV-Action: provision | renew | freeze | unfreeze | upgrade | release | check_change
    X-ISV-Timestamp: 1735689600000                      (epoch milliseconds)
    X-ISV-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
    Idempotency-Key: <hex SHA-256 of the body>          (same operation on the same state = same key)

    {"action": "provision", "instance": {InstanceSpec as JSON}, "change": {...}}   (change: check_change only)

The backend verifies the signature over the exact body bytes (and should refuse timestamps more
than a few minutes old), then answers:

- 2xx with `{}` or no body: done. `provision` / `upgrade` may answer
  `{"appInfo": {"frontEndUrl", "adminUrl", "userName", "password", "memo"}}`; members left out keep
  the values the service proposed. `check_change` answers `{"accepted": true}` or
  `{"accepted": false, "reason": "…"}`.
- 4xx (other than 408 and 429): a permanent refusal, no retry. `{"resultCode": "000106",
  "message": "sold out"}` chooses the code queryInstance gives KooGallery: 000100–000107, any
  other (or none) is 000005.
- 408, 429, 5xx, a timeout or a network error: retried with backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

import requests
from django.conf import settings

from marketplace_isv import strict_json

from .base import AppInfo, ChangeRequest, InstanceSpec, ProvisionerError, ProvisionRefused, Verdict

logger = logging.getLogger(__name__)

_session = requests.Session()
RETRYABLE_STATUS = {408, 429}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-ISV-Signature value: `sha256=` + hex HMAC-SHA256 over `timestamp + "." + body`."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return "sha256=" + digest


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, max_age_seconds: int = 300) -> bool:
    """What the ISV's backend does with a request (copy it there): constant-time, time-boxed."""
    try:
        age = abs(time.time() * 1000 - int(timestamp)) / 1000
    except ValueError:
        return False
    return age <= max_age_seconds and hmac.compare_digest(sign(secret, timestamp, body), signature or "")


class HttpProvisioner:
    name = "http"

    def __init__(self, url: str | None = None, secret: str | None = None, timeout: float | None = None):
        self.url = url or getattr(settings, "ISV_PROVISIONER_URL", None)
        self.secret = secret or getattr(settings, "ISV_PROVISIONER_SECRET", None)
        self.timeout = timeout or float(getattr(settings, "ISV_PROVISIONER_TIMEOUT_SECONDS", 10))

    def provision(self, spec: InstanceSpec) -> AppInfo | None:
        return AppInfo.from_json(self._call("provision", spec).get("appInfo"))

    def renew(self, spec: InstanceSpec) -> None:
        self._call("renew", spec)

    def freeze(self, spec: InstanceSpec) -> None:
        self._call("freeze", spec)

    def unfreeze(self, spec: InstanceSpec) -> None:
        self._call("unfreeze", spec)

    def upgrade(self, spec: InstanceSpec) -> AppInfo | None:
        return AppInfo.from_json(self._call("upgrade", spec).get("appInfo"))

    def release(self, spec: InstanceSpec) -> None:
        self._call("release", spec)

    def check_change(self, spec: InstanceSpec, change: ChangeRequest) -> Verdict:
        # Answered while KooGallery waits (5 s, U39): a short timeout of its own.
        timeout = float(getattr(settings, "ISV_PROVISIONER_CHECK_TIMEOUT_SECONDS", 3))
        answer = self._call("check_change", spec, change=change.__dict__, timeout=timeout)
        if not isinstance(answer.get("accepted"), bool):
            raise ProvisionerError("check_change answer has no boolean 'accepted'")
        return Verdict(answer["accepted"], str(answer.get("reason") or "")[:255])

    def _call(self, action: str, spec: InstanceSpec, *, change: dict | None = None, timeout: float | None = None):
        if not self.url or not self.secret:
            raise ProvisionerError(
                "ISV_PROVISIONER_URL and ISV_PROVISIONER_SECRET must be set for the http provisioner"
            )
        payload: dict[str, Any] = {"action": action, "instance": spec.as_json()}
        if change is not None:
            payload["change"] = change
        body = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        timestamp = str(int(time.time() * 1000))
        headers = {
            "Content-Type": "application/json",
            "X-ISV-Action": action,
            "X-ISV-Timestamp": timestamp,
            "X-ISV-Signature": sign(self.secret, timestamp, body),
            "Idempotency-Key": hashlib.sha256(body).hexdigest(),
        }
        try:
            response = _session.post(
                self.url, data=body, headers=headers, timeout=timeout or self.timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            logger.warning("orders.http_provisioner_unreachable action=%s error=%s", action, type(exc).__name__)
            raise ProvisionerError(f"ISV backend unreachable: {type(exc).__name__}") from exc
        data = _json(response)
        if 200 <= response.status_code < 300:
            return data
        message = str(data.get("message") or data.get("resultMsg") or response.reason or "")[:500]
        logger.warning("orders.http_provisioner_failed action=%s status=%s", action, response.status_code)
        if response.status_code >= 500 or response.status_code in RETRYABLE_STATUS:
            raise ProvisionerError(f"ISV backend answered HTTP {response.status_code}: {message}")
        raise ProvisionRefused(
            f"ISV backend refused {action} (HTTP {response.status_code}): {message}",
            code=str(data.get("resultCode") or ""),  # kept only if it is a purchase failure's code (§5.3)
        )


def _json(response: requests.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        data = strict_json.loads(response.content.decode("utf-8"), refuse_nul=True)
    except (UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
