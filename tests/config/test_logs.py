"""Log lines stay lines (config/logs.py)."""

import logging
import logging.config

from django.conf import settings


def formatted(message: str, *args, exc_info=None) -> str:
    # The formatter settings.LOGGING configures for the console handler.
    name = settings.LOGGING["handlers"]["console"]["formatter"]
    formatter = logging.config.DictConfigurator(settings.LOGGING).configure_formatter(
        settings.LOGGING["formatters"][name]
    )
    record = logging.LogRecord("orders.alerts", logging.WARNING, __file__, 1, message, args, exc_info)
    return formatter.format(record)


def test_a_line_break_sent_by_a_caller_cannot_forge_a_log_line():
    line = formatted("orders.alert kind=%s instance=%s", "unknown_instance", "a\nb\r\nc\u202ed\x00")
    assert "\n" not in line and "\r" not in line and "\u202e" not in line and "\x00" not in line
    assert line.endswith("instance=a\\x0ab\\x0d\\x0ac\\u202ed\\x00")


def test_a_traceback_keeps_its_lines():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        line = formatted("delivery.unexpected_error delivery=%s", "x", exc_info=sys.exc_info())
    first, *rest = line.split("\n")
    assert first.endswith("delivery.unexpected_error delivery=x") and rest[0] == "Traceback (most recent call last):"
