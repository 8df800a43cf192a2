"""Single sign-on through Huawei's unified login (联营Kit账号登录, protocol §8): the rules.

The browser goes to the unified login for our appId; KooGallery sends it back to our callback
with `?code=…&tenant=…`. The code is exchanged at *that tenant's* domainName with *that
tenant's* clientId and decrypted clientSecret (looked up on every login, never configured), the
user is read from userinfo, and a session opens only for a user whom authSync authorised for
the app and who is enabled. Every refusal is a `Refused` with a reason operators can grep for.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from marketplace_isv import strict_json
from marketplace_isv.fields import key_fit

from . import oneaccess, services
from .models import Application, SsoAccount, Tenant, TenantUser
from .oneaccess import OneAccessError
from .vault import VaultError

logger = logging.getLogger(__name__)


class Refused(Exception):
    """A sign-in that must not happen. `reason` is stable (logs, tests); `message` is for the user."""

    def __init__(self, reason: str, message: str, *, status: int = 403):
        super().__init__(message)
        self.reason, self.message, self.status = reason, message, status


@dataclass(frozen=True)
class SignIn:
    user: Any
    tenant_id: str
    user_name: str
    role: str
    app_id: str
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float

    def session_data(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "user_name": self.user_name,
            "role": self.role,
            "app_id": self.app_id,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
        }


def unified_login_url(app_id: str) -> str:
    """§8 step 1: `…/unified-login/#/portal-login?ind=UNOP&appId=…` (the query sits after `#`)."""
    base = settings.KOOGALLERY_SSO_LOGIN_URL
    joiner = "&" if "?" in base.rpartition("#")[2] else "?"
    return f"{base}{joiner}ind=UNOP&appId={quote(app_id, safe='')}"


def sso_app_id(*, tenant_id: str = "") -> str:
    """Our appId: KOOGALLERY_SSO_APP_ID, else the only active app of the named tenant."""
    if settings.KOOGALLERY_SSO_APP_ID:
        return settings.KOOGALLERY_SSO_APP_ID
    if _storable(tenant_id):
        apps = list(
            Application.objects.filter(tenant__tenant_id=stored_id(tenant_id), active=True).values_list(
                "app_id", flat=True
            )
        )
        if len(apps) == 1:
            return apps[0]
    raise Refused("not_configured", "Single sign-on is not configured for this application yet.", status=503)


def stored_id(tenant_id: str) -> str:
    """A tenant id as tenantSync stored it (fitted to its column, fields.key_fit)."""
    return key_fit(tenant_id)


def _storable(text: str) -> bool:
    """Text the database can hold and compare (a `?tenant=%00` is nobody's id)."""
    return bool(text) and "\x00" not in text and not strict_json.has_surrogate(text)


def _active_tenant(tenant_id: str) -> Tenant:
    tenant = Tenant.objects.filter(tenant_id=stored_id(tenant_id)).first() if _storable(tenant_id) else None
    if tenant is None or tenant.status != Tenant.Status.ACTIVE:
        raise Refused("unknown_tenant", "Your organisation is not (or no longer) connected to this application.")
    return tenant


def _credentials(tenant: Tenant) -> tuple[Application, str]:
    apps = Application.objects.select_related("tenant").filter(tenant=tenant, active=True)
    if settings.KOOGALLERY_SSO_APP_ID:
        apps = apps.filter(app_id=settings.KOOGALLERY_SSO_APP_ID)
    app = apps.order_by("-updated_at").first()
    if app is None or app.secret_state != Application.SecretState.OK:
        raise Refused("no_credentials", "Your organisation's sign-in credentials have not been received yet.")
    try:
        return app, services.application_client_secret(app)
    except VaultError:
        logger.error("tenants.sso_secret_unreadable tenant=%s app=%s", tenant.tenant_id, app.app_id)
        raise Refused("no_credentials", "Your organisation's sign-in credentials cannot be read.") from None


def _upstream(exc: OneAccessError, *, during: str) -> Refused:
    if exc.status == 0:
        return Refused("unreachable", "Your organisation's sign-in service cannot be reached.", status=502)
    if exc.error == "invalid_grant":
        return Refused("bad_code", "This sign-in link has expired or was already used. Please sign in again.")
    if exc.error == "invalid_client" or exc.status == 401:
        return Refused("client_rejected", "Your organisation's sign-in service refused this application.")
    return Refused("upstream_error", f"Your organisation's sign-in service failed during {during}.", status=502)


def _authorised_user(tenant: Tenant, app: Application, user_name: str) -> TenantUser:
    user = TenantUser.objects.filter(tenant=tenant, app_id=app.app_id, user_name=user_name).first()
    if user is None or user.removed or not user.authorised:
        raise Refused("not_authorised", "Your account is not authorised to use this application.")
    if not user.enabled:
        raise Refused("disabled", "Your account is disabled for this application.")
    return user


def _django_user(tenant: Tenant, authorised: TenantUser, info: dict[str, Any]):
    """The Django user for (tenant, userName), created on first sign-in; the role is carried over."""
    User = get_user_model()
    digest = hashlib.sha256(f"{tenant.tenant_id}\0{authorised.user_name}".encode()).hexdigest()[:24]
    with transaction.atomic():
        account = (
            SsoAccount.objects.select_related("user").filter(tenant=tenant, user_name=authorised.user_name).first()
        )
        if account is None:
            try:
                with transaction.atomic():
                    user = User.objects.create(username=f"kg-{digest}")
                    user.set_unusable_password()
                    user.save(update_fields=["password"])
                    account = SsoAccount.objects.create(tenant=tenant, user_name=authorised.user_name, user=user)
            except IntegrityError:  # a concurrent first sign-in won
                account = SsoAccount.objects.select_related("user").get(tenant=tenant, user_name=authorised.user_name)
        user = account.user
        user.first_name = (authorised.name or str(info.get("name") or ""))[:150]
        user.email = (authorised.email or str(info.get("email") or ""))[:254]
        user.save(update_fields=["first_name", "email"])
        account.role, account.last_sign_in_at = authorised.role, timezone.now()
        account.save(update_fields=["role", "last_sign_in_at"])
    return user


def sso_sign_in(*, tenant_id: str, code: str, redirect_uri: str) -> SignIn:
    """§8 steps 3–5 and the authorisation check."""
    if not code:
        raise Refused("no_code", "The sign-in answer carried no code. Please sign in again.", status=400)
    tenant = _active_tenant(tenant_id)
    try:
        domain = oneaccess.base_url(tenant.domain_name)
    except OneAccessError:
        logger.error("tenants.sso_domain_refused tenant=%s", tenant.tenant_id)
        raise Refused("insecure_domain", "Your organisation's sign-in address is not a valid HTTPS address.") from None
    app, secret = _credentials(tenant)
    try:
        tokens = oneaccess.exchange_code(
            domain, client_id=app.client_id, client_secret=secret, code=code, redirect_uri=redirect_uri
        )
        info = oneaccess.userinfo(domain, tokens.access_token)
    except OneAccessError as exc:
        raise _upstream(exc, during="sign-in") from None
    user_name = key_fit(str(info.get("userName") or "").strip())  # as authSync stored it
    if not user_name:
        raise Refused("no_user", "Your organisation's sign-in service did not say who you are.", status=502)
    if info.get("tenant") not in (None, "") and stored_id(str(info["tenant"])) != tenant.tenant_id:
        raise Refused("tenant_mismatch", "You signed in to a different organisation.")
    authorised = _authorised_user(tenant, app, user_name)
    user = _django_user(tenant, authorised, info)
    logger.info("tenants.sso_signed_in tenant=%s user=%s role=%s", tenant.tenant_id, user.pk, authorised.role)
    return SignIn(
        user=user,
        tenant_id=tenant.tenant_id,
        user_name=user_name,
        role=authorised.role,
        app_id=app.app_id,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=timezone.now().timestamp() + tokens.expires_in,
    )


def sso_refresh(*, tenant_id: str, user_name: str, refresh_token: str) -> oneaccess.Tokens:
    """§8 step 6, and the user must still be authorised and enabled (a revocation ends it)."""
    tenant = _active_tenant(tenant_id)
    app, secret = _credentials(tenant)
    _authorised_user(tenant, app, user_name)
    if not refresh_token:
        raise Refused("no_refresh_token", "The session has no refresh token. Please sign in again.", status=401)
    try:
        return oneaccess.refresh(
            tenant.domain_name, client_id=app.client_id, client_secret=secret, refresh_token=refresh_token
        )
    except OneAccessError as exc:
        raise _upstream(exc, during="token refresh") from None


def sso_logout_url(*, tenant_id: str, redirect_url: str) -> str | None:
    """§8 step 7: the tenant's logout address, or None when the tenant or its domain is unusable."""
    tenant = Tenant.objects.filter(tenant_id=stored_id(tenant_id)).first() if _storable(tenant_id) else None
    if tenant is None or not tenant.domain_name:
        return None
    try:
        return oneaccess.logout_url(tenant.domain_name, redirect_url)
    except OneAccessError:
        return None
