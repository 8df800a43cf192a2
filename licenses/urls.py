"""/api/licenses/… (included from config/urls.py); with and without a trailing slash."""

from django.urls import re_path

from .api import LicenseCheckView, PublicKeysView

app_name = "licenses"

urlpatterns = [
    re_path(r"^check/?$", LicenseCheckView.as_view(), name="check"),
    re_path(r"^keys/?$", PublicKeysView.as_view(), name="keys"),
]
