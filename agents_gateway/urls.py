"""The app's URLs, included under /agents/ (config/urls.py and standalone_urls.py).

Each registered agent gets its own fixed URL (§12: no path variables on the gateway's side, so
the agent's name is written into the registered URL literally). A trailing slash is optional:
a redirect would be a failed call.
"""

from django.urls import re_path

from . import views

AGENT = r"(?P<agent>[A-Za-z0-9][A-Za-z0-9_.-]{0,127})"

urlpatterns = [
    re_path(rf"^{AGENT}/v1/chat/completions/?$", views.chat_completions, name="agents-chat-completions"),
    re_path(r"^usage/?$", views.usage_journal, name="agents-usage"),
]
