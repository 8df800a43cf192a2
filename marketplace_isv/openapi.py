"""Client for the KooGallery open APIs the seller calls (koogallery-protocol.md §7).

Query Order (§7.1) and the licence upload (§7.4) are APIG-signed with the account AK/SK (§7.3);
the usage push (§7.2) is signed with the basic access key. `https://` is always certificate-
verified; an `http://` base URL (the simulator's fake open API) is used as given. When the
primary host is unreachable at the network level, the fallback host is tried (§7 hosts).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from urllib3 import encode_multipart_formdata
from urllib3.exceptions import NewConnectionError

from . import apig, strict_json
from .crypto import hmac_b64

logger = logging.getLogger(__name__)

QUERY_ORDER_PATH = "/api/mkp-openapi-public/global/v1/order/query"
USAGE_PATH = "/api/mkp-openapi-public/global/v1/isv/usage-data"
UPLOAD_PATH = "/api/mkp-openapi-public/global/v1/market-event/{event_id}/file"
SUCCESS = "MKT.0000"
RETRYABLE_CODES = {"MKT.0999", "MKT.0250"}
PERMANENT_STATUSES = {400, 401, 403, 404}
CONFIGURATION_STATUSES = {401, 403, 404}
USAGE_BATCH = 100  # "at most 1000" per the table, 100 per the error text: send ≤ 100 (§7.2)

USER_AGENT = "koogallery-isv"
# Every header a call sends is listed in `_send` and, for APIG, signed ("sign every header you
# send, Host included", §7.3): the session adds none of its own (requests' User-Agent, Accept,
# Accept-Encoding and Connection), and urllib3 adds none once these are given.
_session = requests.Session()
_session.headers.clear()


class OpenApiError(Exception):
    """A failed open API call. `retryable` says whether backing off and trying again can help."""

    def __init__(self, message: str, *, code: str = "", status: int = 0, retryable: bool = True, payload=None):
        super().__init__(message)
        self.code, self.status, self.retryable = code, status, retryable
        self.payload: dict = payload or {}  # the decoded answer, for callers that read more of it

    @property
    def configuration(self) -> bool:
        """A configuration error (§7.1: 401): the AK/SK, their permissions or the URL need fixing."""
        return self.code == "CONFIG" or self.status in CONFIGURATION_STATUSES

    def advice(self) -> str:
        """What an operator should do about a failure that is not retried."""
        if self.configuration:
            return (
                "a configuration error, not retried: check KOOGALLERY_OPENAPI_AK / KOOGALLERY_OPENAPI_SK "
                "(and that the product is this seller's) and KOOGALLERY_OPENAPI_URL, then retry"
            )
        return "refused by KooGallery, not retried"

    def operator_text(self) -> str:
        """The failure as operators read it (a job's or an upload's error): with what to do about it
        when it is not retried."""
        text = f"{type(self).__name__}: {self}"
        return text if self.retryable else f"{text} — {self.advice()}"


@dataclass(frozen=True)
class Credentials:
    ak: str
    sk: str


def credentials() -> Credentials:
    ak, sk = settings.KOOGALLERY_OPENAPI_AK, settings.KOOGALLERY_OPENAPI_SK
    if not ak or not sk:
        raise OpenApiError(
            "KOOGALLERY_OPENAPI_AK / KOOGALLERY_OPENAPI_SK are not configured", code="CONFIG", retryable=False
        )
    return Credentials(ak, sk)


MAINLAND = "https://mkt.myhuaweicloud.com"


def _bases() -> list[str]:
    """The open API host, and the fallback host only for the mainland site (§7: `.cn` serves
    when `.com` is unreachable); an empty KOOGALLERY_OPENAPI_FALLBACK_URL disables it."""
    primary = settings.KOOGALLERY_OPENAPI_URL.rstrip("/")
    fallback = (settings.KOOGALLERY_OPENAPI_FALLBACK_URL or "").rstrip("/")
    if primary == MAINLAND and fallback and fallback != primary:
        return [primary, fallback]
    return [primary]


def _unreachable(exc: Exception) -> bool:
    """No connection to the host could be made (name resolution, refused, no route, connect
    timeout) — the only case for the fallback host (§7: "only when .com is unreachable at the
    network level"). Once a connection was made the call may have been processed: a read timeout,
    or a connection dropped before the answer ("Connection aborted"), must not send it a second
    time to the other host. A certificate failure must never be routed around."""
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    if isinstance(exc, requests.ConnectTimeout):
        return True
    # requests wraps urllib3's failure to connect as ConnectionError(MaxRetryError(reason=NewConnectionError))
    # (NameResolutionError is one); a dropped connection is ConnectionError(ProtocolError).
    cause = exc.args[0] if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(getattr(cause, "reason", None), NewConnectionError)


def _send(method: str, path: str, *, params=None, body: bytes = b"", headers=None, sign_apig: bool = True) -> dict:
    params = list(params or [])
    last_error: Exception | None = None
    for base in _bases():
        url = base + path + (("?" + apig.canonical_query(params)) if params else "")  # sent exactly as signed
        host = urlsplit(base).netloc
        sent_headers = {
            "Host": host,
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "Accept-Encoding": "identity",
            **(headers or {}),
        }
        if body:
            sent_headers["Content-Length"] = str(len(body))
        if sign_apig:
            creds = credentials()
            sent_headers["X-Sdk-Date"] = apig.sdk_date()
            sent_headers["Authorization"] = apig.authorization(
                creds.ak, creds.sk, method, urlsplit(base).path + path, params, sent_headers, body
            )
        try:
            response = _session.request(
                method,
                url,
                data=body or None,
                headers=sent_headers,
                timeout=settings.KOOGALLERY_OPENAPI_TIMEOUT_SECONDS,
                verify=True,  # Huawei forbids bypassing certificate checks (§7)
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            logger.warning("openapi.unreachable host=%s path=%s error=%s", host, path, type(exc).__name__)
            last_error = exc
            if _unreachable(exc):
                continue  # network-level failure: the fallback host, if any
            break
        return _decode(response, path)
    raise OpenApiError(f"open API unreachable: {type(last_error).__name__}", code="NETWORK", retryable=True)


def _decode(response: requests.Response, path: str) -> dict:
    try:  # stored as received (Query Order): the service's JSON rules, no NUL
        data = strict_json.loads(response.content.decode("utf-8"), refuse_nul=True)
    except (UnicodeDecodeError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    code = str(data.get("resultCode") or data.get("error_code") or "")
    message = str(data.get("resultMsg") or data.get("error_msg") or response.reason or "")
    if response.status_code == 200 and code == SUCCESS:
        return data
    # §7.1: retry 5xx and MKT.0250 (406) with backoff; a 401 is a configuration error (wrong AK/SK,
    # not this seller's product) and a 400 a refused parameter: trying the same again cannot help.
    # So are a 403 (no permission) and a 404 (a wrong KOOGALLERY_OPENAPI_URL). Anything else — a
    # gateway's 408 or 429, an answer that is not JSON, an unknown code — is retried.
    retryable = response.status_code not in PERMANENT_STATUSES or code in RETRYABLE_CODES
    logger.warning("openapi.failed path=%s status=%s code=%s", path, response.status_code, code)
    raise OpenApiError(
        f"{path} answered HTTP {response.status_code} {code} {message}".strip(),
        code=code,
        status=response.status_code,
        retryable=retryable,
        payload=data,
    )


def query_order(order_id: str, order_line_id: str | None = None) -> dict[str, Any]:
    """The whole Query Order answer (§7.1); store it, the documented table is incomplete."""
    params = [("orderId", order_id)]
    if order_line_id:
        params.append(("orderLineId", order_line_id))
    return _send("GET", QUERY_ORDER_PATH, params=params, headers={"Content-Type": "application/json"})


def usage_body(records: list[dict[str, Any]]) -> bytes:
    """Keys in natural order, compact: the exact bytes that are signed and sent (§7.2)."""
    return json.dumps({"usage_records": records}, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def usage_signature(access_key: str, ts: str, nonce: str, body: bytes) -> str:
    return hmac_b64(access_key, f"ts={ts}&nonce={nonce}&body=".encode() + body)


def push_usage(records: list[dict[str, Any]]) -> dict[str, Any]:
    if len(records) > USAGE_BATCH:
        raise ValueError(f"at most {USAGE_BATCH} usage records per call")
    body = usage_body(records)
    ts, nonce = str(int(time.time() * 1000)), str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "signature": usage_signature(settings.KOOGALLERY_ACCESS_KEY, ts, nonce, body),
        "ts": ts,
        "nonce": nonce,
    }
    return _send("POST", USAGE_PATH, body=body, headers=headers, sign_apig=False)


def upload_characters(event_id: str, characters: str, file_name: str = "license.txt") -> dict[str, Any]:
    """Deliver a licence string after a 000004 getLicenseAsync answer (§7.4, U28)."""
    import hashlib

    meta = {
        "type": "CHARACTERS",
        "file_name": file_name,
        "sha256": hashlib.sha256(characters.encode("utf-8")).hexdigest(),
        "characters": characters,
    }
    fields = {"isvUpdateFileReq": (None, json.dumps(meta, ensure_ascii=False), "application/json")}
    body, content_type = encode_multipart_formdata(fields, boundary=uuid.uuid4().hex)
    path = UPLOAD_PATH.format(event_id=requests.utils.quote(event_id, safe=""))
    return _send("POST", path, body=body, headers={"Content-Type": content_type})
