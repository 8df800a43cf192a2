"""The licence check API the ISV's software calls (Django REST framework), under /api/licenses/.

POST check  {"token": licence key, "fingerprint": this device's fingerprint (device-bound keys)}
  200 {"status": "active"|"frozen"|"released"|"revoked", …, "token": refreshed key or null}
  401 {"detail": "invalid licence key"} for anything that is not a valid key of ours for this
      device — malformed, tampered, unknown key id, unknown licence, wrong device alike — so the
      answer tells a caller without a valid key nothing.
  429 when throttled (per address and per key; DRF throttling in the shared cache, Redis in
      production), with Retry-After.
GET keys    the public keys as a JWK set, for software that fetches them instead of bundling them.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from marketplace_isv import strict_json

from . import services, signing, verifier

logger = logging.getLogger(__name__)

REFUSAL = {"detail": "invalid licence key"}


def client_address(request: Request) -> str:
    """The caller's address: the peer, or the entry ISV_LICENSE_CHECK_PROXY_COUNT from the end of
    X-Forwarded-For when the service sits behind that many proxies."""
    proxies = settings.ISV_LICENSE_CHECK_PROXY_COUNT
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if proxies > 0 and forwarded:
        return forwarded[-min(proxies, len(forwarded))]
    return request.META.get("REMOTE_ADDR", "")


class _SettingsRateThrottle(SimpleRateThrottle):
    """A DRF throttle whose rate is read from settings on every call (operators tune it by env)."""

    setting = ""

    def get_rate(self) -> str:
        return getattr(settings, self.setting)


class PerAddressThrottle(_SettingsRateThrottle):
    scope = "license_check_address"
    setting = "ISV_LICENSE_CHECK_RATE_PER_ADDRESS"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}


class PerKeyThrottle(_SettingsRateThrottle):
    """Bounds how often one licence key is checked, wherever the calls come from. Keyed by a hash
    of the whole key, so forged keys cannot use up a real key's budget."""

    scope = "license_check_key"
    setting = "ISV_LICENSE_CHECK_RATE_PER_KEY"

    def get_cache_key(self, request, view):
        token = request.data.get("token") if isinstance(request.data, dict) else None
        if not isinstance(token, str) or not token:
            return None
        return self.cache_format % {
            "scope": self.scope,
            "ident": hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest(),
        }


class StrictJSONParser(JSONParser):
    """JSON read by the service's one set of rules (marketplace_isv.strict_json): no NaN, no lone
    surrogates, no nesting too deep; the answer names no parser internals."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return strict_json.loads(stream.read().decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ParseError("the body is not UTF-8 JSON") from None


class CheckRequest(serializers.Serializer):
    token = serializers.CharField(max_length=16384, trim_whitespace=True)
    fingerprint = serializers.CharField(max_length=8192, required=False, allow_blank=True, trim_whitespace=True)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LicenseCheckView(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    parser_classes = [StrictJSONParser]
    throttle_classes = [PerAddressThrottle, PerKeyThrottle]

    def post(self, request: Request) -> Response:
        form = CheckRequest(data=request.data)
        if not form.is_valid():
            return self._answer(
                {"detail": "send a JSON object with the licence key in `token`"}, status.HTTP_400_BAD_REQUEST
            )
        try:
            answer = services.license_check(
                token=form.validated_data["token"], fingerprint=form.validated_data.get("fingerprint") or None
            )
        except services.CheckRefused as exc:
            logger.info("licenses.check_refused reason=%s", exc)
            return self._answer(REFUSAL, status.HTTP_401_UNAUTHORIZED)
        license, state, now = answer.license, answer.state, timezone.now()
        body = {
            "status": state.status,
            "licenseId": str(license.public_id),
            "instanceId": license.instance_id,
            "productId": license.current_product_id or license.product_id,
            "skuCode": license.sku_code,
            "quantity": license.quantity,
            "validFrom": _iso(license.valid_from),
            "validUntil": _iso(state.valid_until),
            "expired": state.valid_until is not None and state.valid_until <= now,
            "token": answer.token,
            "checkedAt": _iso(now),
        }
        if answer.reason:
            body["reason"] = answer.reason
        return self._answer(body, status.HTTP_200_OK)

    @staticmethod
    def _answer(body: dict, code: int) -> Response:
        response = Response(body, status=code)
        response["Cache-Control"] = "no-store"
        if code == status.HTTP_401_UNAUTHORIZED:
            response["WWW-Authenticate"] = 'License realm="licences"'
        return response


class PublicKeysView(APIView):
    """The trusted public keys (current first) as a JWK set; they are public by design."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes = [PerAddressThrottle]

    def get(self, request: Request) -> Response:
        return Response({"keys": [verifier.public_jwk(key) for key in signing.public_keys()]})
