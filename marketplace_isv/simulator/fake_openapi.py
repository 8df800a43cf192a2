"""A fake KooGallery open API for local runs and tests (koogallery-protocol.md §7).

Serves Query Order (§7.1: the documented mock orders, plus any order a test registers, plus —
unless `strict` — a synthesised new periodic order for any other id), the usage push (§7.2,
checked against the access key) and the licence upload (§7.4), each APIG signature checked
(§7.3) against the configured AK/SK by the simulator's own code (signing.apig_check), every header
sent included: an unsigned one is a 401 `MKT.0154`. Everything received is kept in memory for
tests to inspect. Other fakes (e.g. an OAuth server) can mount extra routes.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from . import http_fake, signing

logger = logging.getLogger(__name__)

# The paths of §7.1, §7.2 and §7.4, from the protocol text (not from the service's client).
QUERY_ORDER_PATH = "/api/mkp-openapi-public/global/v1/order/query"
USAGE_PATH = "/api/mkp-openapi-public/global/v1/isv/usage-data"
UPLOAD_PREFIX = "/api/mkp-openapi-public/global/v1/market-event/"
_USAGE_TIME = re.compile(r"^\d{8}T\d{6}Z$")
_USAGE_VALUE = re.compile(r"^\d{1,12}(\.\d{1,4})?$")


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S")


def mock_order(
    order_id: str,
    *,
    order_type: str = "NEW",
    charging_mode: str = "PERIOD",
    period_type: str | None = "year",
    period_number: int | None = 1,
    product_id: str = "00301-666666-0--0",
    sku_code: str = "sku-standard",
    product_name: str = "Demo SaaS",
    linear_value: int | None = None,
    customer_id: str | None = None,
    amount: str = "100.00",
    days: int = 365,
) -> dict[str, Any]:
    """A Query Order answer shaped like KooGallery's (§7.1); members beyond the documented table
    follow the public examples and are parsed tolerantly by the service."""
    now = datetime.now(UTC)
    line: dict[str, Any] = {
        "orderLineId": f"{order_id}-000001",
        "chargingMode": charging_mode,
        "productInfo": [{"productId": product_id, "skuCode": sku_code, "productName": product_name}],
        "currency": "CNY",
        "currencyAfterDiscount": amount,
    }
    if linear_value is not None:
        line["productInfo"][0]["linearValue"] = linear_value
    if charging_mode in ("PERIOD", "ON_DEMAND_PKG"):
        line["expireTime"] = _stamp(now + timedelta(days=days))
    if period_type:
        line["periodType"] = period_type
    if period_number is not None:
        line["periodNumber"] = period_number
    return {
        "resultCode": "MKT.0000",
        "resultMsg": "success",
        "orderInfo": {
            "orderId": order_id,
            "orderType": order_type,
            "createTime": _stamp(now),
            "buyerInfo": {
                "customerId": customer_id or "68cbc86abc2018ab880d92f36422fa0e",
                "customerName": "huaweitest",
            },
            "orderLine": [line],
            "extendParams": [{"name": "emailDomainName", "value": "example.com"}],
        },
    }


MOCK_ORDERS: dict[str, dict[str, Any]] = {
    "MOCKPERIODYEARNEW": mock_order("MOCKPERIODYEARNEW"),
    "MOCKONETIMENEW": mock_order("MOCKONETIMENEW", charging_mode="ONE_TIME", period_type=None, period_number=None),
    "MOCKONDEMAND": mock_order("MOCKONDEMAND", charging_mode="ON_DEMAND", period_type=None, period_number=None),
    "MOCKONDEMANDPKG": mock_order("MOCKONDEMANDPKG", charging_mode="ON_DEMAND_PKG", period_type="month"),
    "MOCKPERIODDAYTRIAL": mock_order(
        "MOCKPERIODDAYTRIAL", order_type="TRIAL", period_type="day", period_number=7, days=7, amount="0"
    ),
    "MOCKMONTYTRIALTOFORMAL": mock_order(
        "MOCKMONTYTRIALTOFORMAL", order_type="TRIAL_TO_FORMAL", period_type="month", days=30
    ),
    "MOCKMONTYUNSUBSCRIBE": mock_order("MOCKMONTYUNSUBSCRIBE", order_type="UNSUBSCRIBE", period_type="month", days=0),
    "MOCKMONTYRENEW": mock_order("MOCKMONTYRENEW", order_type="RENEW", period_type="month", days=60),
    "MOCKMONTYCHANGE": mock_order(
        "MOCKMONTYCHANGE", order_type="CHANGE", period_type="month", sku_code="sku-premium", days=30
    ),
}


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any = None


@dataclass
class FakeOpenApi:
    """Configure with the AK/SK the service uses; `start()` serves on 127.0.0.1."""

    ak: str = "fake-ak"
    sk: str = "fake-sk"
    access_key: str = "dev-access-key-change-me"
    strict: bool = False
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    failures: dict[str, list[tuple[int, dict]]] = field(default_factory=dict)  # path prefix -> queued errors
    routes: dict[str, Callable[[Received], tuple[int, dict, dict]]] = field(default_factory=dict)
    # The usage push (§7.2): records taken (by metering_sn), per-record codes to answer for an
    # instance id, and whether a refused batch names its records (the answer's shape is undocumented).
    usage_taken: dict[str, dict] = field(default_factory=dict)
    usage_refusals: dict[str, str] = field(default_factory=dict)
    usage_detail: bool = True
    host: str = "127.0.0.1"
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- helpers for tests ---------------------------------------------------------------------

    def add_order(self, order_id: str, **kwargs) -> dict[str, Any]:
        self.orders[order_id] = mock_order(order_id, **kwargs)
        return self.orders[order_id]

    def fail_next(self, path_prefix: str, status: int = 500, code: str = "MKT.0999", times: int = 1) -> None:
        """Make the next `times` calls under `path_prefix` fail (retry and backoff tests)."""
        body = {
            "resultCode": code,
            "resultMsg": "simulated failure",
            "error_code": code,
            "error_msg": "simulated failure",
        }
        self.failures.setdefault(path_prefix, []).extend([(status, body)] * times)

    def calls(self, path_prefix: str = "") -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path.startswith(path_prefix)]

    def usage_records(self) -> list[dict[str, Any]]:
        return [rec for call in self.calls(USAGE_PATH) for rec in (call.json or {}).get("usage_records", [])]

    def uploads(self) -> list[dict[str, Any]]:
        return [call.json for call in self.calls(UPLOAD_PREFIX) if call.json]

    # --- the checks the real gateway makes ---------------------------------------------------

    def apig_refusal(
        self, method: str, raw_path: str, query: list[tuple[str, str]], headers: dict[str, str], body: bytes
    ) -> str:
        """Why the gateway refuses the call's APIG signature (§7.3), or "" (the simulator's own
        checker, signing.apig_check: every header sent must be signed)."""
        refusal = signing.apig_check(self.ak, self.sk, method, raw_path, query, headers, body)  # path as sent
        if refusal:
            logger.warning("fake_openapi.apig_refused path=%s reason=%s", raw_path, refusal)
        return refusal

    # --- request handling ----------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, dict]:
        split = urlsplit(raw_path)
        query_pairs = parse_qsl(split.query, keep_blank_values=True)
        record = Received(method, split.path, dict(query_pairs), headers, body)
        for prefix, route in self.routes.items():
            if split.path.startswith(prefix):
                with self._lock:
                    self.received.append(record)
                return route(record)
        with self._lock:
            self.received.append(record)
            for prefix, queued in self.failures.items():
                if split.path.startswith(prefix) and queued:
                    status, error = queued.pop(0)
                    return status, error, {}
        if split.path == QUERY_ORDER_PATH and method == "GET":
            if refusal := self.apig_refusal(method, split.path, query_pairs, headers, body):
                return 401, {"resultCode": "MKT.0154", "resultMsg": f"authentication failed: {refusal}"}, {}
            return self._query_order(record.query)
        if split.path == USAGE_PATH and method == "POST":
            return self._usage(record)
        if split.path.startswith(UPLOAD_PREFIX) and split.path.endswith("/file") and method == "POST":
            if refusal := self.apig_refusal(method, split.path, query_pairs, headers, body):
                return 401, {"error_code": "MKT.0154", "error_msg": f"authentication failed: {refusal}"}, {}
            return self._upload(record)
        return 404, {"resultCode": "MKT.0101", "resultMsg": "no such API"}, {}

    def _query_order(self, query: dict[str, str]) -> tuple[int, dict, dict]:
        order_id = query.get("orderId", "")
        if not order_id:
            return 400, {"resultCode": "MKT.0101", "resultMsg": "orderId is required"}, {}
        order = self.orders.get(order_id) or MOCK_ORDERS.get(order_id.upper())
        if order is None:
            if self.strict:
                return 400, {"resultCode": "MKT.0101", "resultMsg": "order not found"}, {}
            order = mock_order(order_id)
        order = copy.deepcopy(order)
        line_id = query.get("orderLineId")
        if line_id:
            lines = [line for line in order["orderInfo"]["orderLine"] if line["orderLineId"] == line_id]
            if not lines and order_id in self.orders:
                return 400, {"resultCode": "MKT.0101", "resultMsg": "order line not found"}, {}
            for line in order["orderInfo"]["orderLine"]:
                line["orderLineId"] = line_id if not lines else line["orderLineId"]
        return 200, order, {}

    def _usage(self, record: Received) -> tuple[int, dict, dict]:
        h = record.headers
        ts, nonce, sig = h.get("ts", ""), h.get("nonce", ""), h.get("signature", "")
        if not (ts and nonce and sig) or not hmac.compare_digest(
            signing.usage_push_signature(self.access_key, ts, nonce, record.body).encode(), sig.encode()
        ):
            return 401, {"error_code": "MKT.0154", "error_msg": "signature check failed"}, {}
        try:
            record.json = json.loads(record.body)
        except ValueError:
            return 400, {"error_code": "MKT.0100", "error_msg": "body is not JSON"}, {}
        records = record.json.get("usage_records") or []
        if len(records) > 100:
            return 400, {"error_code": "MKT.9003", "error_msg": "at most 100 records"}, {}
        refused = [(rec.get("metering_sn", ""), code) for rec in records if (code := self._usage_code(rec))]
        if refused:  # nothing of a batch with a bad record is taken
            body: dict[str, Any] = {"error_code": "MKT.9002", "error_msg": "invalid usage entities"}
            if self.usage_detail:
                body["fail_records"] = [{"metering_sn": sn, "error_code": code} for sn, code in refused]
            return 400, body, {}
        with self._lock:
            for rec in records:
                self.usage_taken[rec["metering_sn"]] = rec
        return 200, {"error_code": "MKT.0000", "error_msg": "success"}, {}

    def _usage_code(self, rec: Any) -> str:
        """The per-record code KooGallery would answer (§7.2), or "" for a record it takes."""
        if not isinstance(rec, dict) or not rec.get("metering_sn"):
            return "004"
        times = [rec.get(name) for name in ("record_time", "begin_time", "end_time")]
        if not all(isinstance(t, str) and _USAGE_TIME.match(t) for t in times):
            return "002"
        if times[2] <= times[1]:
            return "011"
        value = rec.get("usage_value")
        if not isinstance(value, str) or not _USAGE_VALUE.match(value) or float(value) <= 0:
            return "003"
        if rec.get("instance_id") in self.usage_refusals:
            return self.usage_refusals[rec["instance_id"]]
        if rec["metering_sn"] in self.usage_taken:
            return "005"
        return ""

    def _upload(self, record: Received) -> tuple[int, dict, dict]:
        content_type = record.headers.get("content-type", "")
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + record.body)
        meta = None
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "isvUpdateFileReq":
                meta = json.loads(
                    part.get_content() if isinstance(part.get_content(), str) else part.get_content().decode()
                )
        if not meta:
            return 400, {"error_code": "MKT.0100", "error_msg": "isvUpdateFileReq missing"}, {}
        if meta.get("type") == "CHARACTERS":
            digest = hashlib.sha256((meta.get("characters") or "").encode("utf-8")).hexdigest()
            if digest != meta.get("sha256"):
                return 400, {"error_code": "MKT.0100", "error_msg": "sha256 mismatch"}, {}
        meta["event_id"] = unquote(record.path[len(UPLOAD_PREFIX) : -len("/file")])
        record.json = meta
        return 200, {"error_code": "MKT.0000", "error_msg": "success"}, {}

    # --- serving -------------------------------------------------------------------------------

    def start(self) -> FakeOpenApi:
        self._server = http_fake.serve(
            self.handle,
            host=self.host,
            port=self.port,
            name="fake-openapi",
            error_payload={"resultCode": "MKT.0999", "resultMsg": "fake error"},
        )
        self.port = self._server.server_address[1]
        return self

    def stop(self) -> None:
        http_fake.stop(self._server)
        self._server = None
