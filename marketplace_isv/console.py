"""Shared pieces of the operators' console (the Django admin) for every app: records that
operators read but never edit, the operator as the actor of an admin action, and JSON shown
pretty-printed and escaped."""

from __future__ import annotations

import json
from typing import Any

from django.utils.html import format_html

from . import strict_json


class ReadOnlyAdminMixin:
    """A record of what happened: operators look; KooGallery, jobs and services write."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def operator_actor(request) -> str:
    """The actor recorded for an admin action (transition logs, event logs, replays)."""
    return f"operator:{request.user.get_username()}"


def pretty_json(value: Any) -> str:
    """`value` (JSON text, or data) indented inside <pre>, HTML-escaped."""
    if isinstance(value, (str, bytes)):
        try:
            value = strict_json.loads(value)  # journaled bodies are anyone's: nesting, NaN, surrogates
        except (ValueError, UnicodeDecodeError):
            return format_html("<pre>{}</pre>", value)
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False, default=str))
