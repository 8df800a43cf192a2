"""A seller's own Django views, guarded by the AgentsGatewayMiddleware in tests."""

from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def own_agent(request):
    return JsonResponse({"api_key": request.agents_gateway.api_key, "usage": {"total_tokens": 0}})


def public(request):
    return JsonResponse({"public": True, "verified": hasattr(request, "agents_gateway")})


urlpatterns = [
    path("my-agent/chat", own_agent),
    path("public", public),
    path("", include("config.urls")),
]
