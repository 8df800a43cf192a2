"""Client for the tenant's authentication domain (OneAccess-style OAuth 2.0, protocol §8).

The base URL is the tenant's `domainName` from tenantSync. `https://` is always
certificate-verified; an `http://` domain (the simulator's fake, local runs) is refused unless
KOOGALLERY_SSO_ALLOW_HTTP is on (the default only in embedded, debug and test mode).
Redirects are never followed. Tokens and secrets are never logged.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from django.conf import settings

from marketplace_isv import strict_json

logger = logging.getLogger(__name__)

TOKEN_PATH = "/api/v1/oauth2/token"
USERINFO_PATH = "/api/v1/oauth2/userinfo"
LOGOUT_PATH = "/api/v1/logout"

_session = requests.Session()
MAX_EXPIRES_IN = 7 * 24 * 3600
_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")


class OneAccessError(Exception):
    """A failed call. `status` is the HTTP status (0: unreachable), `error` the OAuth error."""

    def __init__(self, message: str, *, status: int = 0, error: str = ""):
        super().__init__(message)
        self.status, self.error = status, error


@dataclass(frozen=True)
class Tokens:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    token_type: str = "Bearer"
    scope: str = ""


def base_url(domain_name: str) -> str:
    """The domain as a base URL, refused when its scheme is not allowed."""
    parts = urlsplit(domain_name)
    if parts.scheme == "https" and parts.netloc:
        return domain_name.rstrip("/")
    if parts.scheme == "http" and parts.netloc and settings.KOOGALLERY_SSO_ALLOW_HTTP:
        return domain_name.rstrip("/")
    raise OneAccessError(f"the tenant domain {parts.scheme or '(no scheme)'}://… is not an allowed HTTPS URL")


def _call(method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response = _session.request(
            method,
            url,
            timeout=settings.KOOGALLERY_SSO_TIMEOUT_SECONDS,
            verify=True,  # Huawei forbids bypassing certificate checks (§7)
            allow_redirects=False,
            **kwargs,
        )
    except requests.RequestException as exc:
        logger.warning("tenants.oneaccess_unreachable host=%s error=%s", urlsplit(url).netloc, type(exc).__name__)
        raise OneAccessError(f"the authentication server is unreachable ({type(exc).__name__})") from None
    try:  # the service's own JSON rules: no NaN, lone surrogates or nesting too deep
        data = strict_json.loads(response.content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = {}
    if not isinstance(data, dict) or strict_json.contains_nul(data):
        data = {}
    if response.status_code != 200:
        error = str(data.get("error") or "")
        logger.warning(
            "tenants.oneaccess_refused host=%s path=%s status=%s error=%s",
            urlsplit(url).netloc,
            urlsplit(url).path,
            response.status_code,
            error,
        )
        raise OneAccessError(
            f"HTTP {response.status_code} {error} {data.get('error_description') or ''}".strip(),
            status=response.status_code,
            error=error,
        )
    return data


def _tokens(data: dict[str, Any]) -> Tokens:
    access = data.get("access_token")
    if not isinstance(access, str) or not access:
        raise OneAccessError("the token answer has no access_token", status=200)
    if not _TOKEN.fullmatch(access):  # it travels in an Authorization header (RFC 6750 b64token)
        raise OneAccessError("the token answer's access_token is not a bearer token", status=200)
    try:
        expires_in = int(data.get("expires_in") or 7200)
    except (TypeError, ValueError, OverflowError):
        expires_in = 7200
    if not 0 <= expires_in <= MAX_EXPIRES_IN:  # a session lasts no longer than this, whatever it says
        expires_in = 7200 if expires_in < 0 else MAX_EXPIRES_IN
    return Tokens(
        access_token=access,
        refresh_token=str(data.get("refresh_token") or ""),
        expires_in=expires_in,
        token_type=str(data.get("token_type") or "Bearer"),
        scope=str(data.get("scope") or ""),
    )


def exchange_code(domain_name: str, *, client_id: str, client_secret: str, code: str, redirect_uri: str) -> Tokens:
    """§8 step 4: form-encoded, `redirect_uri` always sent."""
    form = {
        "client_id": client_id,
        "client_secret": client_secret,
        "code": code,
        "grant_type": "authorization_code",
        "redirect_uri": redirect_uri,
    }
    return _tokens(_call("POST", base_url(domain_name) + TOKEN_PATH, data=form, headers={"Accept": "application/json"}))


def refresh(domain_name: str, *, client_id: str, client_secret: str, refresh_token: str) -> Tokens:
    """§8 step 6: a new access token for a signed-in user."""
    form = {
        "client_id": client_id,
        "client_secret": client_secret,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }
    tokens = _tokens(
        _call("POST", base_url(domain_name) + TOKEN_PATH, data=form, headers={"Accept": "application/json"})
    )
    if not tokens.refresh_token:  # the refresh token may be kept rather than rotated
        tokens = Tokens(tokens.access_token, refresh_token, tokens.expires_in, tokens.token_type, tokens.scope)
    return tokens


def userinfo(domain_name: str, access_token: str) -> dict[str, Any]:
    """§8 step 5: who signed in."""
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
    return _call("GET", base_url(domain_name) + USERINFO_PATH, headers=headers)


def logout_url(domain_name: str, redirect_url: str) -> str:
    """§8 step 7: the browser is sent here; it answers a 302 to `redirect_url`."""
    return f"{base_url(domain_name)}{LOGOUT_PATH}?redirect_url={quote(redirect_url, safe='')}"
