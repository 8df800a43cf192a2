"""Request guards in front of Django's views (settings.MIDDLEWARE).

`NulParameterMiddleware`: a NUL character in the query string (`?activity=%00`) answers 400.
PostgreSQL text cannot hold one, so any view that filters by a parameter (the admin's list
filters above all) would otherwise end in a 500. KooGallery's own calls never reach this: they
are answered in front of Django (config/wsgi.py), with their own signed 000002.
"""

from __future__ import annotations

from django.core.exceptions import SuspiciousOperation


class NulParameter(SuspiciousOperation):
    """Django answers a SuspiciousOperation with its 400 handler (config/errors.py)."""


class NulParameterMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "%00" in request.META.get("QUERY_STRING", "") and any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
        ):
            raise NulParameter("a NUL character in the query string")
        return self.get_response(request)
