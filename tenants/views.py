"""The SSO pages (protocol §8): login, callback, token refresh, logout, and a landing page.

Thin: each view reads the request, calls tenants.sso, and renders or redirects. Refusals are an
HTML page with the reason in words — never a stack trace.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import sso
from .models import Tenant

logger = logging.getLogger(__name__)

SESSION_KEY = "koogallery_sso"
NEXT_KEY = "koogallery_sso_next"


def refused(request: HttpRequest, exc: sso.Refused, *, tenant_id: str = "") -> HttpResponse:
    logger.info("tenants.sso_refused reason=%s tenant=%r", exc.reason, tenant_id[:64])  # %r: no forged lines
    login = reverse("sso-login") + (f"?{urlencode({'tenant': tenant_id})}" if tenant_id else "")
    context = {"message": exc.message, "reason": exc.reason, "login_url": login}
    return render(request, "tenants/sso_refused.html", context, status=exc.status)


def _callback_url(request: HttpRequest) -> str:
    """The callback registered in 应用凭证, sent as redirect_uri on every token call."""
    return settings.KOOGALLERY_SSO_CALLBACK_URL or request.build_absolute_uri(reverse("sso-callback"))


@never_cache
@require_GET
def login(request: HttpRequest) -> HttpResponse:
    """Send the browser to Huawei's unified login for our appId (§8 step 1)."""
    tenant_id = request.GET.get("tenant", "").strip()
    next_url = request.GET.get("next", "")
    if next_url and url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        request.session[NEXT_KEY] = next_url
    try:
        app_id = sso.sso_app_id(tenant_id=tenant_id)
    except sso.Refused as exc:
        return refused(request, exc, tenant_id=tenant_id)
    return HttpResponseRedirect(sso.unified_login_url(app_id))


@never_cache
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """`?code=…&tenant=…` from the unified login (§8 steps 2–5)."""
    tenant_id = request.GET.get("tenant", "").strip()
    try:
        signed_in = sso.sso_sign_in(
            tenant_id=tenant_id, code=request.GET.get("code", ""), redirect_uri=_callback_url(request)
        )
    except sso.Refused as exc:
        return refused(request, exc, tenant_id=tenant_id)
    next_url = request.session.get(NEXT_KEY) or settings.KOOGALLERY_SSO_HOME_URL
    auth.login(request, signed_in.user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[SESSION_KEY] = signed_in.session_data()
    request.session.pop(NEXT_KEY, None)
    return redirect(next_url)


@never_cache
@require_POST
def refresh(request: HttpRequest) -> HttpResponse:
    """Renew the access token while the user stays active (§8 step 6); a user who lost the
    authorisation meanwhile (or whose refresh token the tenant refuses) is signed out. When the
    tenant's sign-in service cannot be reached or fails, the session stays: try again later."""
    data = request.session.get(SESSION_KEY)
    if not request.user.is_authenticated or not data:
        return JsonResponse({"error": "not_signed_in"}, status=401)
    try:
        tokens = sso.sso_refresh(
            tenant_id=data["tenant_id"], user_name=data["user_name"], refresh_token=data.get("refresh_token", "")
        )
    except sso.Refused as exc:
        logger.info("tenants.sso_refresh_refused reason=%s tenant=%s", exc.reason, data["tenant_id"][:64])
        if exc.status >= 500:  # unreachable or failing upstream: says nothing about the user
            return JsonResponse(
                {"error": exc.reason, "message": exc.message}, status=503, headers={"Retry-After": "30"}
            )
        auth.logout(request)
        return JsonResponse({"error": exc.reason, "message": exc.message}, status=401)
    data.update(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=timezone.now().timestamp() + tokens.expires_in,
    )
    request.session[SESSION_KEY] = data
    return JsonResponse({"expires_in": tokens.expires_in})


@never_cache
@require_http_methods(["GET", "POST"])
def logout(request: HttpRequest) -> HttpResponse:
    """Clear our session, then the tenant's (§8 step 7)."""
    data = request.session.get(SESSION_KEY) or {}
    auth.logout(request)
    after = settings.KOOGALLERY_SSO_POST_LOGOUT_URL or request.build_absolute_uri(reverse("sso-signed-out"))
    upstream = sso.sso_logout_url(tenant_id=data.get("tenant_id", ""), redirect_url=after)
    return HttpResponseRedirect(upstream or after)


@never_cache
@require_GET
def me(request: HttpRequest) -> HttpResponse:
    """The landing page after sign-in: who is signed in, for which organisation, in which role."""
    data = request.session.get(SESSION_KEY)
    if not request.user.is_authenticated or not data:
        return redirect("sso-login")
    tenant = Tenant.objects.filter(tenant_id=data["tenant_id"]).first()
    context = {"sso": data, "tenant": tenant, "display_name": request.user.first_name or data["user_name"]}
    return render(request, "tenants/sso_me.html", context)


@require_GET
def signed_out(request: HttpRequest) -> HttpResponse:
    return render(request, "tenants/sso_signed_out.html", {"login_url": reverse("sso-login")})
