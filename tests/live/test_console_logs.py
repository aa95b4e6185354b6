"""LOG_FORMAT=console: the same lines for a person reading a terminal, not JSON.

`timestamp LEVEL logger  message  key=value ...`, one line each; an access line says method, path and
status in its message, and a path holding a control character cannot forge a second line.
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.live_server import LiveServer

pytestmark = pytest.mark.slow

LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 (INFO|WARNING|ERROR) +[a-z_.]+  \S.*")


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    return {"LOG_FORMAT": "console"}


def test_console_lines_are_for_a_person_one_per_event(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        refused = client.get("/orders", headers={"X-Request-ID": "console-1"})
        forged = client.get("/a%0Ab")
    assert (refused.status_code, forged.status_code) == (401, 404)
    server.stop()

    output = server.stdout() + server.stderr()
    assert not [line for line in output.splitlines() if line.startswith("{")], "no JSON in console mode"
    for line in output.splitlines():
        assert LINE.fullmatch(line), line
    access = server.stdout().splitlines()
    assert any(
        re.fullmatch(
            r"\S+ INFO +orders_app\.access  GET /orders 401  request_id=console-1  trace_id=[0-9a-f]{32}"
            r"  duration_ms=[0-9.]+  client=127\.0\.0\.1",
            line,
        )
        for line in access
    ), access
    assert any(r"  GET /a\x0ab 404  " in line for line in access), access
    assert "Uvicorn running on" in server.stderr()
