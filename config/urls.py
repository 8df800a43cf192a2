"""URL table (contract.md). KooGallery paths match with and without a trailing slash: a redirect
is a failed call (§1.3). Anything else under /koogallery/ answers a signed 000002."""

from django.contrib import admin
from django.urls import include, path, re_path

from config import errors, ops
from marketplace_isv import views as koogallery

urlpatterns = [
    re_path(r"^koogallery/produce/?$", koogallery.produce, name="koogallery-produce"),
    re_path(
        r"^koogallery/produce/produceAPI/(?P<version>v2)/(?P<name>[^/]+)/?$", koogallery.kit, name="koogallery-kit-v2"
    ),
    re_path(r"^koogallery/produce/produceAPI/(?P<name>[^/]+)/?$", koogallery.kit, name="koogallery-kit-v1"),
    re_path(r"^koogallery/(?P<rest>.*)$", koogallery.unknown_path),
    re_path(r"^healthz/?$", ops.healthz, name="healthz"),
    re_path(r"^readyz/?$", ops.readyz, name="readyz"),
    re_path(r"^metrics/?$", ops.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("app/", include("orders.urls")),  # orders: the demo workspace's buyer page
]

handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.page_not_found
handler500 = errors.server_error
