"""The request a log line is written for: its request id and trace id, carried in a context variable.

The access log binds them when a request arrives; every line logged while that request is handled (an
error with its traceback, a warning) then carries the same two ids, so it joins the request's access line.
uvicorn runs each request in its own task, and a task works on a copy of the context: a binding never
leaks into another request.
"""

from __future__ import annotations

from contextvars import ContextVar

# (request_id, trace_id); one variable holding both: one set per request.
_REQUEST: ContextVar[tuple[str, str] | None] = ContextVar("orders_app_request", default=None)


def bind_request(request_id: str, trace_id: str) -> None:
    _REQUEST.set((request_id, trace_id))


def current_request() -> tuple[str, str] | None:
    """(request_id, trace_id) of the request being handled, None outside any request."""
    return _REQUEST.get()
