"""Logging, configured once per process: every logger (ours, uvicorn's, Alembic's) through one handler.

`logging_config` is a `logging.config.dictConfig` dictionary. The CLI applies it at start-up, and `serve`
hands the same dictionary to uvicorn as `log_config`, which applies it again in each `--workers` process
before that process logs anything. The root logger gets the one handler; named loggers keep none of
their own and propagate to it, so nothing configured earlier (Alembic's fileConfig, uvicorn's defaults)
writes in another format.
"""

from __future__ import annotations

import logging
import logging.config
import sys
import threading
from types import TracebackType
from typing import Any

from orders_app.observability.log_lines import LineFormatter
from orders_app.settings import Settings

# uvicorn's names for LOG_LEVEL; `trace` is its level below debug.
_LEVEL_NUMBERS = {"critical": 50, "error": 40, "warning": 30, "info": 20, "debug": 10, "trace": 5}

_uncaught = logging.getLogger("orders_app")


def logging_config(settings: Settings) -> dict[str, Any]:
    return {
        "version": 1,
        # Loggers created at import (orders_app.*, sqlalchemy.*) keep working; only their handlers go.
        "disable_existing_loggers": False,
        "handlers": {
            "output": {"()": f"{__name__}.output_handler", "log_format": settings.log_format.lower()},
        },
        "root": {"level": _LEVEL_NUMBERS[settings.log_level.lower()], "handlers": ["output"]},
        "loggers": {
            # Named here so that handlers another configuration gave them are removed: one format.
            **{name: _propagating() for name in ("uvicorn", "uvicorn.error", "alembic", "sqlalchemy")},
            # Alembic announces every plugin it loads at INFO; operators only need the revisions it runs.
            "alembic.runtime.plugins": {"level": "WARNING", "handlers": [], "propagate": True},
        },
    }


def _propagating() -> dict[str, Any]:
    return {"handlers": [], "propagate": True}


def configure_logging(settings: Settings) -> None:
    logging.config.dictConfig(logging_config(settings))


def output_handler(log_format: str) -> logging.Handler:
    """The one handler of a process: stderr, one line per record in `log_format` (LOG_FORMAT).

    dictConfig builds it in every process that configures logging (the CLI, each uvicorn worker), so
    the process-wide hooks that turn warnings and uncaught exceptions into log records are set here too:
    otherwise both print loose lines to stderr.
    """
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    handler = _StandardError()
    handler.setFormatter(LineFormatter(log_format))
    return handler


class _StandardError(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a line is written, not when logging was configured: a
    replaced sys.stderr (a test's capture) gets the lines, and one closed since never does."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        """StreamHandler.__init__ assigns one; sys.stderr is looked up instead."""


def _log_uncaught(kind: type[BaseException], error: BaseException, traceback: TracebackType | None) -> None:
    _uncaught.critical("uncaught %s: %s", kind.__name__, error, exc_info=(kind, error, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = args.thread.name if args.thread else "?"
    _uncaught.critical(
        "uncaught %s in thread %s: %s",
        args.exc_type.__name__,
        name,
        args.exc_value,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )
