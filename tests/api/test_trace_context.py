"""W3C trace context: a valid `traceparent` gives the access log line its trace id, else one is started."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from orders_app.app import create_app, serving_stack
from orders_app.settings import Settings
from tests.conftest import run_migrations

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
VALID = f"00-{TRACE}-00f067aa0ba902b7-01"
HEX32 = re.compile(r"[0-9a-f]{32}")


class Lines:
    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def __call__(self, line: bytes) -> None:
        self.lines.append(json.loads(line))


@pytest.fixture
async def logged(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    lines = Lines()
    monkeypatch.setattr("orders_app.app.stdout_lines", lambda: lines)
    db_url = f"sqlite:///{tmp_path / 'trace.db'}"
    run_migrations(db_url)
    app = create_app(Settings(db_url=db_url, auth_disabled=True, log_format="json"))
    async with AsyncTestClient(serving_stack(app)) as client:
        yield client, lines


async def _trace_id(logged: Any, headers: dict[str, str] | list[tuple[str, str]]) -> str:
    client, lines = logged
    response = await client.get("/health/live", headers=headers)
    assert response.status_code == 200
    trace_id: str = lines.lines[-1]["trace_id"]
    return trace_id


async def test_a_valid_traceparent_gives_its_trace_id(logged: Any) -> None:
    assert await _trace_id(logged, {"traceparent": VALID}) == TRACE
    # Not sampled (flags 00) is still the same trace.
    assert await _trace_id(logged, {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-00"}) == TRACE


async def test_without_traceparent_a_new_trace_id_is_started_per_request(logged: Any) -> None:
    first = await _trace_id(logged, {})
    second = await _trace_id(logged, {})
    assert HEX32.fullmatch(first)
    assert HEX32.fullmatch(second)
    assert first != second
    assert first != "0" * 32


@pytest.mark.parametrize(
    "invalid",
    [
        f"01-{TRACE}-00f067aa0ba902b7-01",  # a version this parser does not know
        f"ff-{TRACE}-00f067aa0ba902b7-01",  # the forbidden version
        f"00-{'0' * 32}-00f067aa0ba902b7-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE.upper()}-00f067aa0ba902b7-01",  # upper-case hex
        f"00-{TRACE[:-1]}-00f067aa0ba902b7-01",  # short trace id
        f"00-{TRACE}-00f067aa0ba902b-01",  # short parent id
        f"00-{TRACE}-00f067aa0ba902b7-1",  # short flags
        f"00-{TRACE}-00f067aa0ba902b7-01-extra",  # trailing data under version 00
        f"00_{TRACE}_00f067aa0ba902b7_01",
        "",
        "garbage",
    ],
)
async def test_an_invalid_traceparent_is_replaced(logged: Any, invalid: str) -> None:
    trace_id = await _trace_id(logged, {"traceparent": invalid})
    assert HEX32.fullmatch(trace_id)
    assert trace_id != TRACE
    assert trace_id != "0" * 32


async def test_two_traceparent_headers_are_invalid(logged: Any) -> None:
    other = f"00-{'a' * 32}-00f067aa0ba902b7-01"
    trace_id = await _trace_id(logged, [("traceparent", VALID), ("traceparent", other)])
    assert trace_id not in (TRACE, "a" * 32)
    assert HEX32.fullmatch(trace_id)
