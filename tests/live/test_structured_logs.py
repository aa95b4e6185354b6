"""With LOG_FORMAT=json, every line `serve` writes from start-up to exit is one JSON object with a level.

A real `orders-app serve --workers 2` (a parent and two worker processes, each configuring logging for
itself) that migrates its fresh SQLite database on start, answers an order, a 401, a 404 and a 500, and
is stopped with SIGTERM. The 500 is a request whose handler raises: the order's stored `created` is not
a timestamp (a hand edit, a broken restore), so reading the row fails inside the repository.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TokenMinter
from tests.factories import new_user, order_body
from tests.live_server import LiveServer

pytestmark = pytest.mark.slow

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
BROKEN_REQUEST_ID = "broken-row-1"


@pytest.fixture(scope="module")
def server_db_url(server_workdir: Path) -> str:
    # Not migrated: `serve` does it on start, so Alembic's lines are among those checked.
    return f"sqlite:///{server_workdir / 'orders.db'}"


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    return {"LOG_FORMAT": "json", "MIGRATE_ON_START": "true"}


@pytest.fixture(scope="module")
def server_args() -> tuple[str, ...]:
    return ("--workers", "2")


def parsed(output: str, stream: str) -> list[dict[str, Any]]:
    lines = []
    for number, text in enumerate(output.splitlines(), 1):
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            pytest.fail(f"{stream} line {number} is not JSON: {text!r}\n--- {stream} ---\n{output}")
        assert isinstance(line, dict), text
        assert list(line)[:4] == ["timestamp", "level", "logger", "message"], text
        assert line["level"] in {"debug", "info", "warning", "error", "critical"}, text
        lines.append(line)
    return lines


def corrupt_created(db_url: str, order_id: str) -> None:
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as connection:
        connection.execute(
            "UPDATE orders SET created = 'not a timestamp' WHERE id = ?", (order_id.replace("-", ""),)
        )


def test_every_line_from_start_to_exit_is_one_json_object_and_an_error_joins_its_request(
    server: LiveServer, server_db_url: str, token_for: TokenMinter
) -> None:
    auth = {"Authorization": f"Bearer {token_for(new_user())}"}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        created = client.post("/orders", json=order_body(), headers=auth)
        refused = client.get("/orders", headers={"Authorization": "Bearer not-a-token"})
        missing = client.get("/no/such/path")
        corrupt_created(server_db_url, created.json()["id"])
        broken = client.get(
            f"/orders/{created.json()['id']}",
            headers={
                **auth,
                "X-Request-ID": BROKEN_REQUEST_ID,
                "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
            },
        )
    assert [created.status_code, refused.status_code, missing.status_code] == [201, 401, 404]
    assert broken.status_code == 500
    assert broken.json() == {"detail": "Internal server error"}  # no traceback reaches the client
    server.stop()
    assert server.process is not None
    assert server.process.returncode == 0

    stdout, stderr = parsed(server.stdout(), "stdout"), parsed(server.stderr(), "stderr")

    # Start-up (the CLI, Alembic's migration, uvicorn's parent and workers) and shutdown, all JSON.
    messages = [(line["logger"], line["message"]) for line in stderr]
    assert any(logger == "alembic.runtime.migration" and "Running upgrade" in m for logger, m in messages)
    assert any(logger == "orders_app" and m.startswith("orders-app listening on") for logger, m in messages)
    assert sum(m.startswith("Started server process") for _, m in messages) == 2, "one per worker"
    assert ("uvicorn.error", "Application shutdown complete.") in messages
    assert messages[-1][0] == "uvicorn.error"
    assert messages[-1][1].startswith("Stopping parent process")

    # The access lines, in the same shape.
    requests = {
        (line["method"], line["path"]): line for line in stdout if line["logger"] == "orders_app.access"
    }
    order_path = f"/orders/{created.json()['id']}"
    assert requests["POST", "/orders"]["status"] == 201
    assert requests["GET", "/orders"]["status"] == 401
    assert requests["GET", "/no/such/path"]["status"] == 404
    failed = requests["GET", order_path]
    assert (failed["status"], failed["request_id"], failed["trace_id"]) == (500, BROKEN_REQUEST_ID, TRACE_ID)

    # The error: one line, its traceback a field of it, joined to its access line by both ids.
    (error,) = [line for line in stderr if line["level"] == "error"]
    assert error["logger"] == "orders_app.errors"
    assert error["message"] == f"unhandled error on GET {order_path}"
    assert (error["request_id"], error["trace_id"]) == (failed["request_id"], failed["trace_id"])
    assert error["exception"].startswith("Traceback (most recent call last):")
    assert "ValueError" in error["exception"]
    assert "not a timestamp" in error["exception"]
