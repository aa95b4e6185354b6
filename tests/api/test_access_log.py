"""The structured access log: one line per request, a request id echoed back, no secrets logged."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest

from orders_app.edge.access_log import AccessLog, stdout_lines
from orders_app.edge.request_ids import RequestIds, request_id_from

FIELDS = {
    "timestamp",
    "level",
    "logger",
    "message",
    "method",
    "path",
    "status",
    "duration_ms",
    "request_id",
    "trace_id",
    "client",
    "client_closed",
}


class Lines:
    """An access-log sink that keeps the parsed lines."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def __call__(self, line: bytes) -> None:
        assert line.endswith(b"\n")
        assert line.count(b"\n") == 1
        self.lines.append(json.loads(line))


@pytest.fixture
def captured() -> Lines:
    return Lines()


Headers = list[tuple[bytes, bytes]]


async def _call(app: Any, path: str, headers: Headers, query: bytes = b"") -> dict[str, Any]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": query,
        "headers": headers,
        "client": ("127.0.0.7", 50000),
    }
    await app(scope, receive, send)
    return sent[0]


async def ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": [(b"x-request-id", b"spoofed")]})
    await send({"type": "http.response.body", "body": b""})


async def test_one_line_per_request_with_the_callers_request_id(captured: Any) -> None:
    handler = captured
    start = await _call(
        AccessLog(ok, handler), "/orders", [(b"x-request-id", b"trace-42.a:b")], query=b"limit=5&cursor=x"
    )

    assert [value for name, value in start["headers"] if name == b"x-request-id"] == [b"trace-42.a:b"]
    (line,) = handler.lines
    assert set(line) == FIELDS
    # The four fields every log line starts with, in the same order (observability/log_lines.py).
    assert list(line)[:4] == ["timestamp", "level", "logger", "message"]
    assert (line["level"], line["logger"], line["message"]) == (
        "info",
        "orders_app.access",
        "GET /orders 204",
    )
    assert line["method"] == "GET"
    assert line["path"] == "/orders"  # the query string is not logged
    assert line["status"] == 204
    assert line["request_id"] == "trace-42.a:b"
    assert line["client"] == "127.0.0.7"
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] >= 0


@pytest.mark.parametrize(
    "supplied",
    [b"", b"has space", b'quote"d', b"new\nline", b"x" * 129, "caf\u00e9".encode()],
    ids=["empty", "space", "quote", "newline", "too-long", "non-ascii"],
)
async def test_a_malformed_request_id_is_replaced_by_a_generated_one(captured: Any, supplied: bytes) -> None:
    handler = captured
    start = await _call(AccessLog(ok, handler), "/orders", [(b"x-request-id", supplied)])
    echoed = dict(start["headers"])[b"x-request-id"].decode()
    assert re.fullmatch(r"[0-9a-f]{32}", echoed)
    assert handler.lines[0]["request_id"] == echoed


def test_request_ids_are_generated_fresh_when_absent() -> None:
    assert request_id_from([]) != request_id_from([])
    assert request_id_from([(b"x-request-id", b"x" * 128)]) == "x" * 128


def test_generated_request_ids_are_unique_within_and_across_processes() -> None:
    one_process, another_process = RequestIds(), RequestIds()
    ids = [one_process() for _ in range(1000)] + [another_process() for _ in range(1000)]
    assert len(set(ids)) == 2000
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids)


def test_lines_reach_the_file_descriptor_whole(tmp_path: Any) -> None:
    path = tmp_path / "access.log"
    with path.open("wb") as target:
        write = stdout_lines(target.fileno())
        for number in range(3):
            write(b'{"n":%d}\n' % number)
    assert path.read_bytes() == b'{"n":0}\n{"n":1}\n{"n":2}\n'


def test_a_closed_stdout_drops_the_line_and_not_the_request(tmp_path: Any) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    write = stdout_lines(write_end)
    try:
        write(b'{"n":1}\n')  # EPIPE: swallowed (Python ignores SIGPIPE)
    finally:
        os.close(write_end)


async def test_an_application_crash_is_logged_as_500(captured: Any) -> None:
    handler = captured

    async def crash(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await _call(AccessLog(crash, handler), "/orders", [])
    assert handler.lines[0]["status"] == 500
