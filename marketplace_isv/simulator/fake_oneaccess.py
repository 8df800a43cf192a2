"""A fake OneAccess-style authentication server: the tenant's SSO domain (protocol §8).

It plays the part of Huawei's unified login and the tenant's `domainName`:
- `sign_in(user, tenant=…)` stands for a user logging in at the unified login page and returns
  the single-use `code` KooGallery would append to the seller's callback;
- `POST /api/v1/oauth2/token` (form-encoded) exchanges a code (`authorization_code`) or a
  refresh token (`refresh_token`), checking client_id, client_secret and redirect_uri;
  a bad, used or expired code is HTTP 400 `invalid_grant`, bad client credentials HTTP 401
  `invalid_client`;
- `GET /api/v1/oauth2/userinfo` with `Authorization: Bearer …` answers the user (401
  `unauthorized` otherwise);
- `GET /api/v1/logout?redirect_url=…` answers a 302 to `redirect_url`.

Run it on its own (`start()`, a ThreadingHTTPServer on 127.0.0.1) and use its `url` as the
tenant's domainName. Everything received is kept for tests to inspect.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..crypto import constant_time_equal
from . import http_fake

logger = logging.getLogger(__name__)

TOKEN_PATH = "/api/v1/oauth2/token"
USERINFO_PATH = "/api/v1/oauth2/userinfo"
LOGOUT_PATH = "/api/v1/logout"
ACCESS_TOKEN_SECONDS = 7200  # §8 step 4: two hours by default


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class _Client:
    client_id: str
    client_secret: str
    tenant: str
    redirect_uri: str | None


@dataclass
class _Grant:
    client_id: str
    tenant: str
    user_name: str
    expires: float


@dataclass
class FakeOneAccess:
    host: str = "127.0.0.1"
    port: int = 0
    code_seconds: float = 300.0
    clients: dict[str, _Client] = field(default_factory=dict)
    users: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    raw_answers: dict[str, bytes] = field(default_factory=dict)  # path -> the next answer's body, as is
    _codes: dict[str, _Grant] = field(default_factory=dict)
    _access: dict[str, _Grant] = field(default_factory=dict)
    _refresh: dict[str, _Grant] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- set-up for tests and demos ----------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            for store in (self.clients, self.users, self._codes, self._access, self._refresh):
                store.clear()
            self.calls.clear()
            self.raw_answers.clear()

    def register_client(
        self, client_id: str, client_secret: str, *, tenant: str, redirect_uri: str | None = None
    ) -> None:
        """The per-tenant OAuth client that applicationSync announces (§4.5.2)."""
        self.clients[client_id] = _Client(client_id, client_secret, tenant, redirect_uri)

    def add_user(self, tenant: str, user_name: str, **info: Any) -> dict[str, Any]:
        user = {
            "id": uuid.uuid4().hex,
            "userId": uuid.uuid4().hex,
            "userName": user_name,
            "name": info.pop("name", user_name),
            "email": info.pop("email", f"{user_name}@example.com"),
            "mobile": info.pop("mobile", "13800000000"),
            "role": info.pop("role", "user"),
            "organizationName": info.pop("organizationName", "Headquarters"),
            "organizationCode": info.pop("organizationCode", "org-hq"),
            "projectName": info.pop("projectName", "Example Enterprise"),
            "tenant": tenant,
            **info,
        }
        self.users[(tenant, user_name)] = user
        return user

    def sign_in(self, user_name: str, *, tenant: str, client_id: str | None = None) -> str:
        """The user logs in at the unified login: a single-use authorization code (§8 step 2)."""
        if client_id is None:
            client_id = next(c.client_id for c in self.clients.values() if c.tenant == tenant)
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Grant(client_id, tenant, user_name, time.time() + self.code_seconds)
        return code

    def expire_access_tokens(self) -> None:
        with self._lock:
            for grant in self._access.values():
                grant.expires = 0

    def token_calls(self) -> list[Call]:
        return [c for c in self.calls if c.path == TOKEN_PATH]

    # --- the endpoints -----------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, dict]:
        split = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        form: dict[str, str] = {}
        if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
        with self._lock:
            self.calls.append(Call(method, split.path, query, headers, form))
            raw = self.raw_answers.pop(split.path, None)
        if raw is not None:  # a misbehaving server: whatever bytes a test chose, with 200
            return 200, raw, {}
        if split.path == TOKEN_PATH and method == "POST":
            if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                return _error(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
            return self._token(form)
        if split.path == USERINFO_PATH and method == "GET":
            return self._userinfo(headers.get("authorization", ""))
        if split.path == LOGOUT_PATH and method == "GET":
            target = query.get("redirect_url") or "/login"
            return 302, {}, {"Location": target}
        return _error(404, "not_found", "no such endpoint")

    def _client(self, form: dict[str, str]) -> _Client | tuple[int, dict, dict]:
        client = self.clients.get(form.get("client_id", ""))
        if client is None:
            return _error(401, "invalid_client", "Client ID mismatch")
        if not constant_time_equal(form.get("client_secret", ""), client.client_secret):
            return _error(401, "invalid_client", "Bad client credentials")
        return client

    def _token(self, form: dict[str, str]) -> tuple[int, dict, dict]:
        grant_type = form.get("grant_type", "")
        if grant_type not in ("authorization_code", "refresh_token"):
            return _error(400, "unsupported_grant_type", f"unsupported grant_type {grant_type!r}")
        client = self._client(form)
        if isinstance(client, tuple):
            return client
        with self._lock:
            if grant_type == "authorization_code":
                if not form.get("redirect_uri"):
                    return _error(400, "invalid_request", "redirect_uri is required")
                if client.redirect_uri is not None and form["redirect_uri"] != client.redirect_uri:
                    return _error(400, "invalid_grant", "Redirect URI mismatch")
                grant = self._codes.pop(form.get("code", ""), None)  # single use, even when refused below
                if grant is None or grant.expires < time.time() or grant.client_id != client.client_id:
                    return _error(400, "invalid_grant", "Invalid authorization code")
            else:
                grant = self._refresh.get(form.get("refresh_token", ""))
                if grant is None or grant.client_id != client.client_id:
                    return _error(400, "invalid_grant", "Invalid refresh token")
            access = secrets.token_urlsafe(32)
            self._access[access] = _Grant(
                grant.client_id, grant.tenant, grant.user_name, time.time() + ACCESS_TOKEN_SECONDS
            )
            refresh = form.get("refresh_token") if grant_type == "refresh_token" else secrets.token_urlsafe(32)
            self._refresh[refresh] = grant
        return (
            200,
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": ACCESS_TOKEN_SECONDS,
                "scope": "get_user_info",
                "refresh_token": refresh,
            },
            {},
        )

    def _userinfo(self, authorization: str) -> tuple[int, dict, dict]:
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            grant = self._access.get(token.strip()) if scheme.lower() == "bearer" else None
        if grant is None or grant.expires < time.time():
            return _error(401, "unauthorized", "Full authentication is required to access this resource")
        user = self.users.get((grant.tenant, grant.user_name))
        if user is None:
            return _error(401, "unauthorized", "user not found")
        return 200, dict(user), {}

    # --- serving -----------------------------------------------------------------------------------

    def start(self) -> FakeOneAccess:
        self._server = http_fake.serve(
            self.handle, host=self.host, port=self.port, name="fake-oneaccess", error_payload={"error": "server_error"}
        )
        self.port = self._server.server_address[1]
        return self

    def stop(self) -> None:
        http_fake.stop(self._server)
        self._server = None


def _error(status: int, error: str, description: str) -> tuple[int, dict, dict]:
    return status, {"error": error, "error_description": description}, {}
