"""Every log line, in either format: the fields it starts with, the request it belongs to, one line each."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from contextvars import copy_context
from typing import Any

import pytest

from orders_app.observability.log_lines import LineFormatter, console_line, json_line
from orders_app.observability.request_context import bind_request


def record(message: str, *args: object, level: int = logging.ERROR, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("the stored value is not a timestamp")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("orders_app.errors", level, __file__, 1, message, args, exc_info)


def formatted(log_format: str, line: logging.LogRecord, request: tuple[str, str] | None = None) -> str:
    def run() -> str:
        if request is not None:
            bind_request(*request)
        return LineFormatter(log_format).format(line)

    return copy_context().run(run)


def test_a_json_line_starts_with_timestamp_level_logger_and_message() -> None:
    line = json.loads(formatted("json", record("unhandled error on %s %s", "GET", "/orders")))
    assert list(line) == ["timestamp", "level", "logger", "message"]
    assert line["level"] == "error"
    assert line["logger"] == "orders_app.errors"
    assert line["message"] == "unhandled error on GET /orders"
    assert line["timestamp"].endswith("+00:00")


def test_a_traceback_is_a_field_of_its_line_never_lines_of_its_own() -> None:
    text = formatted("json", record("unhandled error", exc=True))
    assert "\n" not in text
    line = json.loads(text)
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert line["exception"].rstrip().endswith("ValueError: the stored value is not a timestamp")


def test_a_line_written_while_handling_a_request_carries_its_ids() -> None:
    line = json.loads(formatted("json", record("failed"), request=("req-7", "ab" * 16)))
    assert (line["request_id"], line["trace_id"]) == ("req-7", "ab" * 16)
    assert "request_id" not in json.loads(formatted("json", record("outside any request")))


def test_a_message_whose_arguments_do_not_fit_is_still_one_line() -> None:
    line = json.loads(formatted("json", record("%d orders", "many")))
    assert line["message"] == "'%d orders' % ('many',)"


def test_a_console_line_is_for_a_person_with_the_traceback_after_it() -> None:
    text = formatted("console", record("unhandled error on GET /x", exc=True), request=("req-7", "f" * 32))
    first, *traceback = text.splitlines()
    assert first.endswith(
        f" ERROR    orders_app.errors  unhandled error on GET /x  request_id=req-7  trace_id={'f' * 32}"
    )
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "ValueError: the stored value is not a timestamp"


def test_the_console_escapes_control_characters_so_no_line_is_forged() -> None:
    fields: dict[str, Any] = {
        "timestamp": "t",
        "level": "info",
        "logger": "orders_app.access",
        "message": "GET /a\nINFO forged 200",
        "path": "/a\nx",
        "client": None,
    }
    assert console_line(fields) == b"t INFO     orders_app.access  GET /a\\x0aINFO forged 200\n"
    assert json_line(fields).count(b"\n") == 1


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_warnings_and_uncaught_exceptions_are_log_lines_too(log_format: str) -> None:
    # A fresh interpreter: configuring logging replaces process-wide hooks.
    program = (
        "import warnings\n"
        "from orders_app.observability.log_setup import configure_logging\n"
        "from orders_app.settings import Settings\n"
        f"configure_logging(Settings(log_format={log_format!r}))\n"
        "warnings.warn('a library is unhappy', UserWarning)\n"
        "raise RuntimeError('a bug')\n"
    )
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 1
    if log_format == "console":
        assert " WARNING  py.warnings  " in result.stderr
        assert " CRITICAL orders_app  uncaught RuntimeError: a bug" in result.stderr
        return
    warning, crash = (json.loads(line) for line in result.stderr.splitlines())
    assert (warning["level"], warning["logger"]) == ("warning", "py.warnings")
    assert "UserWarning: a library is unhappy" in warning["message"]
    assert (crash["level"], crash["message"]) == ("critical", "uncaught RuntimeError: a bug")
    assert crash["exception"].rstrip().endswith("RuntimeError: a bug")
