"""Log lines that stay lines (settings.LOGGING): what a caller sent — an instanceId with a line
break, a right-to-left override — is escaped in the message, so it can neither forge a log line
nor hide one. Tracebacks, appended after the message, keep their lines."""

from __future__ import annotations

import logging
import re

# C0 controls, DEL, C1 controls, line/paragraph separators, bidirectional overrides and isolates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class OneLineFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        return _UNSAFE.sub(_escaped, super().formatMessage(record))
