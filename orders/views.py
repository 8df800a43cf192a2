"""The buyer-facing page of the demo workspace: /app/<instance_id> (ISV_FRONTEND_URL's default).

A stand-in for the ISV's own application: it shows whether the workspace is ready, frozen or
released. It never shows credentials.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.utils.html import format_html
from django.views.decorators.http import require_GET

from .models import DemoWorkspace, Instance, Status

NOTICES = {
    "provisioning": "Your workspace is being prepared. This page will show it once it is ready.",
    "failed": "Your workspace could not be prepared. The seller has been notified.",
    Status.ACTIVE: "Your workspace is ready. Sign in with the administrator account you received.",
    Status.FROZEN: "Your workspace is frozen: renew the subscription to use it again. Your data is kept.",
    Status.RELEASED: "This workspace was released and is no longer available.",
}

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Workspace {id}</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:4em auto}}.s{{font-weight:bold}}</style></head>
<body><h1>Workspace</h1><p>Instance <code>{id}</code></p><p class="s">Status: {status}</p><p>{notice}</p>{plan}</body></html>"""


@require_GET
def workspace(request: HttpRequest, instance_id: str) -> HttpResponse:
    # PostgreSQL text cannot hold a NUL (/app/%00): no instance has one, and asking would be a 500.
    instance = Instance.objects.filter(instance_id=instance_id).first() if "\x00" not in instance_id else None
    if instance is None:
        raise Http404("no such workspace")
    status = instance.summary_status
    workspace = DemoWorkspace.objects.filter(instance_id=instance_id).first()
    plan = format_html("<p>Plan: {}</p>", workspace.plan) if workspace and workspace.plan else ""
    html = format_html(PAGE, id=instance.instance_id, status=status, notice=NOTICES[status], plan=plan)
    return HttpResponse(html)
