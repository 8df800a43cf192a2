"""URL table (contract.md). KooGallery's paths (/koogallery/…) are dispatched by
marketplace_isv.views: with and without a trailing slash (a redirect is a failed call, §1.3), and
anything else under /koogallery/ answers a signed 000002."""

from django.contrib import admin
from django.urls import include, path, re_path

from config import errors, ops
from marketplace_isv import views as koogallery
from orders import api as orders_api

urlpatterns = [
    # Served by marketplace_isv.views.wsgi in front of Django (config/wsgi.py); this route is the
    # same endpoint for whatever goes through Django's own handler (e.g. its test client).
    re_path(r"^koogallery/(?P<rest>.*)$", koogallery.django_view, name="koogallery"),
    re_path(r"^healthz/?$", ops.healthz, name="healthz"),
    re_path(r"^readyz/?$", ops.readyz, name="readyz"),
    re_path(r"^metrics/?$", ops.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("app/", include("orders.urls")),  # orders: the demo workspace's buyer page
    path("agents/", include("agents_gateway.urls")),  # agents_gateway (§12)
    path("sso/", include("tenants.urls")),  # tenants: single sign-on (§8)
    path("api/licenses/", include("licenses.urls")),  # licenses: the licence check API
    re_path(r"^api/usage/?$", orders_api.report_usage, name="usage"),  # orders: pay-per-use usage (§7.2)
]

handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.page_not_found
handler500 = errors.server_error
