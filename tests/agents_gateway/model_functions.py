"""Model functions plugged into the reference backend by tests (AGENTS_GATEWAY_MODEL)."""

from decimal import Decimal

from agents_gateway.usage import Usage


def reports_its_own_usage(chat):
    yield "counted "
    yield "by the model"
    yield Usage(prompt_tokens=7, completion_tokens=3, total_tokens=10, image_count=1)


def reports_nothing(chat):
    yield "one two three"


def fails_at_once(chat):
    raise RuntimeError("model backend unreachable: secret-host:1234")
    yield  # pragma: no cover


def fails_mid_stream(chat):
    yield "partial"
    raise RuntimeError("model crashed")


def answers_a_lone_surrogate(chat):
    yield "half of a pair: \ud800"


def reports_a_nan_duration(chat):
    yield "a video"
    yield Usage(video_duration=Decimal("NaN"))
