"""What every log line looks like, in one of two formats (LOG_FORMAT): `json` or `console`.

json: one object per line, first `timestamp` (RFC 3339, UTC, milliseconds), `level`, `logger` and
`message`, then `request_id` and `trace_id` for lines written while handling a request, then the line's
own fields (the access log's `status`, an error's `exception` traceback). A traceback or a multi-line
message stays inside its line, escaped, so a log pipeline reads each line as one event.
console: the same fields for a person: `timestamp LEVEL logger  message  key=value ...` (fields that
are false or absent, and what the message already says, left out), a traceback after its line.

The access log renders its lines with `render_line` directly (one os.write per request, no logging
call: docs/bench.md, "Access log writes"); every other line comes through the logging module and
`LineFormatter`, which renders it the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from orders_app.observability.request_context import current_request

# A line's fields, in order: timestamp, level, logger, message, then any others.
Fields = dict[str, Any]
Render = Callable[[Fields], bytes]

_ENCODE = msgspec.json.Encoder().encode
# An access line's message already says these; the console leaves them out of its key=value pairs.
_SAID_IN_MESSAGE = frozenset({"method", "path", "status"})
# C0 controls and DEL written as escapes on the console, so client input (a path) cannot forge a line.
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)}


def timestamp(seconds: float | None = None) -> str:
    """RFC 3339 in UTC with milliseconds: 2026-12-03T20:05:33.189+00:00 (now when no time is given)."""
    moment = datetime.now(UTC) if seconds is None else datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds")


def json_line(fields: Fields) -> bytes:
    return _ENCODE(fields) + b"\n"


def console_line(fields: Fields) -> bytes:
    text = dict(fields)
    exception = text.pop("exception", None)
    head = (
        f"{text.pop('timestamp')} {str(text.pop('level')).upper():<8} {text.pop('logger')}  "
        f"{_inert(str(text.pop('message')))}"
    )
    rest = "".join(
        f"  {key}={_inert(str(value))}"
        for key, value in text.items()
        if key not in _SAID_IN_MESSAGE and value is not None and value is not False
    )
    tail = f"\n{exception.rstrip()}" if exception else ""
    return f"{head}{rest}{tail}\n".encode(errors="backslashreplace")


def _inert(value: str) -> str:
    return value if value.isprintable() else value.translate(_CONTROLS)


RENDERERS: dict[str, Render] = {"json": json_line, "console": console_line}


def render_line(log_format: str) -> Render:
    """The function that turns a line's fields into its bytes, newline included."""
    return RENDERERS[log_format]


class LineFormatter(logging.Formatter):
    """Formats a logging record as one line of `log_format`, with the request it was written for."""

    def __init__(self, log_format: str = "json") -> None:
        super().__init__()
        self._render = render_line(log_format)

    def format(self, record: logging.LogRecord) -> str:
        fields: Fields = {
            "timestamp": timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _message(record),
        }
        request = current_request()
        if request is not None:
            fields["request_id"], fields["trace_id"] = request
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            fields["exception"] = record.exc_text
        if record.stack_info:
            fields["stack"] = self.formatStack(record.stack_info)
        return self._render(fields).decode().removesuffix("\n")


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a logging call whose arguments do not fit its format: still one line
        return f"{record.msg!r} % {record.args!r}"
