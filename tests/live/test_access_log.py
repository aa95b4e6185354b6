"""The structured access log of a served process: JSON lines only, never the token or the body."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.conftest import TokenMinter
from tests.factories import item, new_user, order_body
from tests.live_server import LiveServer


@pytest.mark.slow
def test_the_server_logs_json_lines_only_and_never_the_token_or_body(
    server: LiveServer, token_for: TokenMinter
) -> None:
    token = token_for(new_user())
    marker = "secret-product-marker"
    with httpx.Client(base_url=server.url, timeout=30) as client:
        auth = {"Authorization": f"Bearer {token}"}
        created = client.post(
            "/orders", json=order_body(item(product=marker)), headers={**auth, "X-Request-ID": "req-1"}
        )
        fetched = client.get(f"/orders/{created.json()['id']}?x=1", headers=auth)
        missing = client.get("/no/such/path")
        refused = client.get("/orders", headers={"Authorization": "Bearer not-a-token"})
    server.stop()  # flushes and closes the log files

    assert created.headers["x-request-id"] == "req-1"
    generated = fetched.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    lines = [json.loads(line) for line in server.stdout().splitlines() if line.strip()]
    # Exactly the four requests above, plus the readiness polls made while the server started.
    ours = [line for line in lines if not line["path"].startswith("/health/")]
    assert [(line["method"], line["path"], line["status"]) for line in ours] == [
        ("POST", "/orders", 201),
        ("GET", f"/orders/{created.json()['id']}", 200),
        ("GET", "/no/such/path", 404),
        ("GET", "/orders", 401),
    ]
    assert ours[0]["request_id"] == "req-1"
    assert ours[1]["request_id"] == generated
    assert missing.headers["x-request-id"] == ours[2]["request_id"]
    assert refused.headers["x-request-id"] == ours[3]["request_id"]
    everything = server.stdout() + server.stderr()
    assert token not in everything
    assert "not-a-token" not in everything
    assert marker not in everything
    # uvicorn's own access log ('127.0.0.1:PORT - "GET / HTTP/1.1" 200') is switched off.
    assert 'HTTP/1.1" ' not in everything
