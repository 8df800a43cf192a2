"""The usage-reporting API the ISV's own system calls: POST /api/usage/ (docs/orders.md §6a).

Authorization: Bearer <ORDERS_USAGE_API_TOKEN>; the API answers 404 until that is set.
Body: {"usage_records": [{"instance_id", "begin_time", "end_time", "usage_value",
       "metering_sn"?, "relate_pkg_instance"?}, …]} — KooGallery's own field names (§7.2); times
       yyyyMMdd'T'HHmmss'Z' (or yyyyMMddHHmmss), UTC; at most 1000 records.
200 {"recorded": n, "refused": m, "results": [{"index", "metering_sn", "state", "created"} |
     {"index", "error"}]}: every record stands alone, so a refused one does not hold back the rest,
     and sending the same body again records nothing twice (a window is recorded once).
400 a body that is not such an object; 401 a wrong token; 405 not POST.
Refused records also raise an operators' alert (`usage_report_refused`), one per instance named,
counted on every repeat: the caller's answer is not the only place a missing window shows.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from config.bearer import bearer_matches
from marketplace_isv import strict_json
from marketplace_isv.views import drain_oversized

from . import alerts, usage
from .models import Alert, Instance

logger = logging.getLogger(__name__)

MAX_RECORDS = 1000
MAX_ALERTS = 50  # alerts one call may raise; refusals beyond them share the unnamed one


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


def _text(item: dict[str, Any], name: str, *, required: bool = False) -> str:
    value = item.get(name)
    if value is None or value == "":
        if required:
            raise usage.UsageRefused(f"{name} is required")
        return ""
    if not isinstance(value, str):
        raise usage.UsageRefused(f"{name} must be a string")
    return value.strip()


def _shown(value: Any, limit: int) -> str:
    """Caller-sent text as it may be stored and shown: cut, NUL escaped (the body's strict
    reading already refused lone surrogates)."""
    return str(value)[:limit].replace("\x00", "\\x00")


def _one(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise usage.UsageRefused("a record must be a JSON object")
    if strict_json.contains_nul(item):
        raise usage.UsageRefused("NUL characters are not accepted")
    reported = usage.usage_record(
        instance_id=_text(item, "instance_id", required=True),
        begin=usage.parse_time(item.get("begin_time"), "begin_time"),
        end=usage.parse_time(item.get("end_time"), "end_time"),
        value=usage.parse_value(item.get("usage_value")),
        metering_sn=_text(item, "metering_sn"),
        package_instance_id=_text(item, "relate_pkg_instance"),
        actor="isv:api",
        push=False,
    )
    return {"metering_sn": reported.record.metering_sn, "state": reported.record.state, "created": reported.created}


def _alert_refusals(records: list[Any], results: list[dict[str, Any]]) -> None:
    """One alert per instance named by refused records (unnamed ones share the empty reference)."""
    refusals: dict[str, list[str]] = {}
    for item, result in zip(records, results, strict=True):
        if "error" not in result:
            continue
        named = item.get("instance_id") if isinstance(item, dict) else None
        ref = _shown(named.strip(), 255) if isinstance(named, str) else ""
        window = ""
        if isinstance(item, dict):
            window = f" [{_shown(item.get('begin_time'), 20)} → {_shown(item.get('end_time'), 20)}]"
        if ref not in refusals and len(refusals) >= MAX_ALERTS - 1:
            window = f" of {ref}{window}" if ref else window
            ref = ""
        refusals.setdefault(ref, []).append(f"record {result['index']}{window}: {result['error']}")
    known = {i.instance_id: i for i in Instance.objects.filter(instance_id__in=[r for r in refusals if r])}
    for ref, errors in refusals.items():
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        message = f"/api/usage/ refused {len(errors)} window(s); {errors[0]}{more}"
        alerts.raise_alert(Alert.Kind.USAGE_REPORT_REFUSED, instance=known.get(ref), instance_ref=ref, message=message)


@csrf_exempt
@never_cache
def report_usage(request: HttpRequest) -> HttpResponse:
    token = settings.ORDERS_USAGE_API_TOKEN
    if not token:
        return _error("not found", 404)
    if not bearer_matches(request, token):
        logger.warning("orders.usage_api_refused")
        response = _error("a valid bearer token is required", 401)
        response["WWW-Authenticate"] = 'Bearer realm="usage"'
        return response
    if request.method != "POST":
        response = _error("use POST with a JSON body", 405)
        response["Allow"] = "POST"
        return response
    try:
        body = strict_json.loads(request.body.decode("utf-8"))
    except RequestDataTooBig:
        drain_oversized(request)  # answered after the body is read: no reset for the caller
        return _error("the body is too large", 413)
    except (UnicodeDecodeError, ValueError):
        return _error("the body is not UTF-8 JSON", 400)
    records = body.get("usage_records") if isinstance(body, dict) else None
    if not isinstance(records, list) or not records:
        return _error("send a JSON object with a non-empty usage_records array", 400)
    if len(records) > MAX_RECORDS:
        return _error(f"at most {MAX_RECORDS} records per call", 400)
    results = []
    for index, item in enumerate(records):
        try:
            results.append({"index": index, **_one(item)})
        except usage.UsageRefused as exc:
            results.append({"index": index, "error": str(exc)})
        except Exception:  # each record stands alone: its own transaction was rolled back
            logger.exception("orders.usage_api_record_failed index=%s", index)
            results.append({"index": index, "error": "not recorded: internal error, send it again"})
    refused = sum(1 for r in results if "error" in r)
    if refused < len(results):
        usage.push_soon()  # one push for the whole body: its records go out together
    if refused:
        _alert_refusals(records, results)
    logger.info("orders.usage_api records=%s refused=%s", len(results), refused)
    return JsonResponse({"recorded": len(results) - refused, "refused": refused, "results": results})
