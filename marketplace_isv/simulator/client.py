"""A KooGallery simulator: builds and signs calls in every scheme (koogallery-protocol.md §2),
sends them to our service, and checks the `Body-Sign` of every answer (§2.6).

Transport is pluggable: a base URL (real HTTP via `requests`) or a Django test `Client`.
Every method takes overrides that tests use to send broken calls on purpose (wrong key,
tampered body, stale timestamp, reused nonce, missing auth).
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from .signing import body_sign_matches, kit_v1_auth_token, kit_v2_signature, v1_auth_token, v2_signature

PRODUCE_PATH = "/koogallery/produce"
BODY_SIGN = re.compile(r'^sign_type="HMAC-SHA256", signature="([A-Za-z0-9+/=]+)"$')
UTC8 = timezone(timedelta(hours=8))


def utc_stamp(moment: datetime | None = None) -> str:
    """V1 `timeStamp`: UTC yyyyMMddHHmmssSSS (§2.1)."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}"


def utc8_stamp(moment: datetime | None = None) -> str:
    """Kit `timeStamp`: UTC+8 yyyyMMddHHmmssSSS (§4.5)."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC8)
    return moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}"


def epoch_ms() -> str:
    return str(int(time.time() * 1000))


def new_nonce() -> str:
    return secrets.token_hex(32).upper()  # 64 upper-case hex characters, as KooGallery's examples


def compact_sorted(fields: dict[str, Any]) -> bytes:
    """KooGallery's bodies arrive compact with keys in ascending order (§2.3 step 3)."""
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    signing_key: str
    request_url: str = ""
    request_body: bytes = b""

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def code(self) -> str:
        return self.json.get("resultCode", "")

    @property
    def body_sign(self) -> str | None:
        return self.headers.get("body-sign")

    def body_sign_valid(self, key: str | None = None) -> bool:
        header = self.body_sign
        match = BODY_SIGN.match(header or "")
        if not match:
            return False
        return body_sign_matches(key or self.signing_key, self.body, match.group(1))

    def assert_envelope(self, key: str | None = None) -> dict[str, Any]:
        """What KooGallery's debug tool checks: HTTP 200, JSON content type, resultCode and
        resultMsg, and a valid Body-Sign (§2.6)."""
        assert self.status == 200, f"HTTP {self.status}"
        assert self.headers.get("content-type") == "application/json;charset=UTF-8", self.headers.get("content-type")
        assert not self.body.endswith(b"\n"), "trailing newline in the body"
        data = self.json
        assert "resultCode" in data and "resultMsg" in data, data
        assert self.body_sign_valid(key), f"bad Body-Sign {self.body_sign!r}"
        return data


@dataclass
class WsgiTarget:
    """Calls a WSGI application in-process, as a server would (tests drive the production entry
    point config.wsgi.application this way, without a socket)."""

    app: Any
    host: str = "127.0.0.1"

    def call(self, method: str, path: str, query: str, body: bytes, headers: dict[str, str]):
        import io

        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": self.host,
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": io.StringIO(),
            "HTTP_HOST": self.host,
        }
        if body:
            environ["CONTENT_LENGTH"] = str(len(body))
        for name, value in headers.items():
            key = name.upper().replace("-", "_")
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ[key] = value
            else:
                environ["HTTP_" + key] = value
        captured: dict[str, Any] = {}

        def start_response(status, response_headers, exc_info=None):
            captured["status"] = int(status.split()[0])
            captured["headers"] = {k.lower(): v for k, v in response_headers}

        content = b"".join(self.app(environ, start_response))
        return captured["status"], captured["headers"], content


@dataclass
class KooGallery:
    """Signs like KooGallery. `target` is a base URL (`http://127.0.0.1:8000`) or a Django test
    Client. `access_key` signs basic, License and V2 calls; `kit_key` signs Kit calls."""

    target: Any
    access_key: str
    kit_key: str | None = None
    timeout: float = 10.0
    extra_headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kit_key is None:
            self.kit_key = self.access_key

    # --- transport --------------------------------------------------------------------------

    def _send(self, method: str, path: str, query: str, body: bytes | None, headers: dict[str, str], key: str) -> Reply:
        url = path + (("?" + query) if query else "")
        if isinstance(self.target, WsgiTarget):
            status, response_headers, content = self.target.call(
                method, path, query, body or b"", {**self.extra_headers, **headers}
            )
            return Reply(status, response_headers, content, key, url, body or b"")
        if isinstance(self.target, str):
            import requests

            response = requests.request(
                method,
                self.target.rstrip("/") + url,
                data=body,
                headers={**self.extra_headers, **headers},
                timeout=self.timeout,
                allow_redirects=False,
            )
            return Reply(
                response.status_code,
                {k.lower(): v for k, v in response.headers.items()},
                response.content,
                key,
                url,
                body or b"",
            )
        django_headers = {**self.extra_headers, **headers}
        content_type = django_headers.pop("Content-Type", "application/json;charset=utf8")
        if method == "GET":
            response = self.target.generic("GET", url, headers=django_headers)
        else:
            response = self.target.generic(
                method, url, data=body or b"", content_type=content_type, headers=django_headers
            )
        return Reply(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.content,
            key,
            url,
            body or b"",
        )

    # --- V1: GET query string with authToken (§2.1) ------------------------------------------

    def v1_query(
        self,
        activity: str | None,
        params: dict[str, Any],
        *,
        key: str | None = None,
        test: bool | None = True,
        time_stamp: str | None = None,
        omit_token: bool = False,
        token: str | None = None,
    ) -> str:
        fields = {"activity": activity} if activity is not None else {}
        fields.update({k: "" if v is None else str(v) for k, v in params.items()})
        if test is not None and "testFlag" not in params:
            fields["testFlag"] = "1" if test else "0"
        fields["timeStamp"] = time_stamp or utc_stamp()
        secret = key or self.access_key
        signed = token or v1_auth_token(secret, list(fields.items()))
        pieces = [f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in fields.items()]
        if not omit_token:
            pieces.append(f"authToken={quote(signed, safe='')}")
        return "&".join(pieces)

    def v1(
        self, activity: str | None, params: dict[str, Any] | None = None, *, key: str | None = None, **options
    ) -> Reply:
        query = self.v1_query(activity, params or {}, key=key, **options)
        return self._send("GET", PRODUCE_PATH, query, None, {"Accept": "application/json"}, self.access_key)

    # --- V2: POST JSON, signature/timestamp/nonce on the query string (§2.3) -----------------

    def v2(
        self,
        activity: str | None,
        fields: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        test: bool | None = True,
        timestamp: str | None = None,
        nonce: str | None = None,
        raw_body: bytes | None = None,
        signed_body: bytes | None = None,
        omit: tuple[str, ...] = (),
        signature: str | None = None,
        upper: bool = True,
        path: str = PRODUCE_PATH,
    ) -> Reply:
        payload = {"activity": activity} if activity is not None else {}
        payload.update(fields or {})
        if test is not None and "testFlag" not in payload:
            payload["testFlag"] = "1" if test else "0"
        body = raw_body if raw_body is not None else compact_sorted(payload)
        timestamp = timestamp or epoch_ms()
        nonce = nonce or new_nonce()
        secret = key or self.access_key
        sig = signature or v2_signature(secret, nonce, timestamp, signed_body if signed_body is not None else body)
        sig = sig.upper() if upper else sig.lower()
        params = {"signature": sig, "timestamp": timestamp, "nonce": nonce}
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items() if k not in omit)
        headers = {"Content-Type": "application/json;charset=utf8", "Accept": "application/json"}
        return self._send("POST", path, query, body, headers, self.access_key)

    # --- Kit V1: POST JSON, authToken header over the body's members (§2.2) ------------------

    def kit_v1(
        self,
        name: str,
        fields: dict[str, Any],
        *,
        key: str | None = None,
        test: bool = True,
        time_stamp: str | None = None,
        raw_body: bytes | None = None,
        omit_token: bool = False,
        quoted: bool = False,
    ) -> Reply:
        payload = {**fields}
        payload.setdefault("testFlag", 1 if test else 0)
        payload.setdefault("timeStamp", time_stamp or utc8_stamp())
        body = (
            raw_body
            if raw_body is not None
            else json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        )
        secret = key or self.kit_key
        token = kit_v1_auth_token(secret, payload)
        headers = {"Content-Type": "application/json;charset=utf8", "Accept": "application/json"}
        if not omit_token:
            headers["authToken"] = f'"{token}"' if quoted else token
        return self._send("POST", f"{PRODUCE_PATH}/produceAPI/{name}", "", body, headers, self.kit_key)

    # --- Kit V2: POST JSON, x-sign / x-timestamp / x-nonce headers (§2.4) --------------------

    def kit_v2(
        self,
        name: str,
        fields: dict[str, Any],
        *,
        key: str | None = None,
        test: bool = True,
        timestamp: str | None = None,
        nonce: str | None = None,
        raw_body: bytes | None = None,
        signed_body: bytes | None = None,
        omit: tuple[str, ...] = (),
    ) -> Reply:
        payload = {**fields}
        payload.setdefault("testFlag", 1 if test else 0)
        payload.setdefault("timeStamp", utc8_stamp())
        body = raw_body if raw_body is not None else compact_sorted(payload)
        timestamp = timestamp or epoch_ms()
        nonce = nonce or new_nonce()
        secret = key or self.kit_key
        sign = kit_v2_signature(secret, nonce, timestamp, signed_body if signed_body is not None else body)
        headers = {"Content-Type": "application/json;charset=utf8", "Accept": "application/json"}
        for name_, value in (("x-sign", sign), ("x-timestamp", timestamp), ("x-nonce", nonce)):
            if name_ not in omit:
                headers[name_] = value
        return self._send("POST", f"{PRODUCE_PATH}/produceAPI/v2/{name}", "", body, headers, self.kit_key)


def new_order_id() -> str:
    """An order id shaped like KooGallery's (`CS` + date + random)."""
    return "CS" + datetime.now(UTC).strftime("%y%m%d%H%M") + uuid.uuid4().hex[:8].upper()
