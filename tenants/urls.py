"""Single sign-on pages (protocol §8), mounted under /sso/ (config/urls.py).

Register `https://<public domain>/sso/callback` as the callback URL in 应用凭证.
"""

from django.urls import path

from . import views

urlpatterns = [
    path("login", views.login, name="sso-login"),
    path("callback", views.callback, name="sso-callback"),
    path("refresh", views.refresh, name="sso-refresh"),
    path("logout", views.logout, name="sso-logout"),
    path("me", views.me, name="sso-me"),
    path("signed-out", views.signed_out, name="sso-signed-out"),
]
