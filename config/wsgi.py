"""WSGI entry point: `gunicorn config.wsgi:application` (runserver uses it too).

KooGallery's calls (/koogallery/…) go straight to marketplace_isv.views.wsgi; everything else
(admin, health, metrics, SSO, APIs) goes through Django's handler as usual.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_wsgi_application()

from django.conf import settings  # noqa: E402

from config.celery import start_embedded_beat  # noqa: E402  (needs Django set up)
from marketplace_isv import views  # noqa: E402


def application(environ, start_response):
    if views.handles(environ):
        return views.wsgi(environ, start_response)
    return django_application(environ, start_response)


if settings.ROOT_URLCONF != "config.urls":
    application = django_application  # e.g. the separate agents process: its URL table only  # noqa: F811


start_embedded_beat()
