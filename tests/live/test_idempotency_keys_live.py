"""Idempotency keys against a real `orders-app serve`: concurrent duplicates, a restart, raw headers.

On SQLite and PostgreSQL. The 20 duplicates go out over 20 connections opened beforehand, each request
written in one tight loop, and the server's access log shows how many it was handling at once.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from datetime import datetime, timedelta

import httpx
import pytest

from tests.conftest import Backend, TokenMinter
from tests.factories import new_user, order_body
from tests.live_server import LiveServer, access_log, raw_exchange, status_of, stored_order_ids

pytestmark = pytest.mark.slow

DUPLICATES = 20


@pytest.fixture(scope="module")
def server_db_url(backend: Backend) -> str:
    return backend.url


def _raw_post(path: str, token: str, body: bytes, *key_lines: str) -> bytes:
    head = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Bearer {token}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"Idempotency-Key: {key}" for key in key_lines),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _send_together(port: int, request: bytes, count: int) -> list[bytes]:
    """Open `count` connections, then write the request on each in one loop, then read every answer."""
    connections = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(count)]
    try:
        time.sleep(0.2)  # the server accepts them all before any request arrives
        for connection in connections:
            connection.sendall(request)
        answers = []
        for connection in connections:
            received = b""
            while chunk := connection.recv(65536):
                received += chunk
            answers.append(received)
        return answers
    finally:
        for connection in connections:
            connection.close()


def _peak_in_flight(lines: list[dict[str, object]]) -> int:
    """The most requests the server was handling at one instant, from each line's end and duration."""
    events = []
    for line in lines:
        end = datetime.fromisoformat(str(line["timestamp"]))
        start = end - timedelta(milliseconds=float(str(line["duration_ms"])))
        events += [(start, 1), (end, -1)]
    peak = current = 0
    for _, step in sorted(events):
        current += step
        peak = max(peak, current)
    return peak


def _body_of(answer: bytes) -> bytes:
    return answer.partition(b"\r\n\r\n")[2]


async def test_twenty_concurrent_duplicates_place_exactly_one_order(
    server: LiveServer, backend: Backend, token_for: TokenMinter
) -> None:
    subject = new_user()
    request = _raw_post("/orders", token_for(subject), json.dumps(order_body()).encode(), str(uuid.uuid4()))
    logged_before = len(access_log(server))

    answers = await asyncio.to_thread(_send_together, server.port, request, DUPLICATES)

    assert [status_of(answer) for answer in answers] == [201] * DUPLICATES
    bodies = {_body_of(answer) for answer in answers}
    assert len(bodies) == 1, bodies
    replayed = [answer for answer in answers if b"idempotent-replayed: true" in answer.lower()]
    assert len(replayed) == DUPLICATES - 1
    assert await stored_order_ids(backend.url, [subject]) == [json.loads(bodies.pop())["id"]]
    # The duplicates really overlapped: most of them were in the server together.
    lines = [line for line in access_log(server)[logged_before:] if line["path"] == "/orders"]
    peak = _peak_in_flight(lines)
    print(f"\n{backend.name}: up to {peak} of {DUPLICATES} duplicates in the server at once")
    assert peak >= DUPLICATES // 2


async def test_two_key_headers_are_400_and_create_nothing(
    server: LiveServer, backend: Backend, token_for: TokenMinter
) -> None:
    subject = new_user()
    request = _raw_post("/orders", token_for(subject), json.dumps(order_body()).encode(), "one", "two")

    answer = await asyncio.to_thread(raw_exchange, server.port, request)

    assert status_of(answer) == 400
    assert "2 Idempotency-Key headers" in json.loads(_body_of(answer))["detail"]
    assert await stored_order_ids(backend.url, [subject]) == []


async def test_a_key_is_replayed_after_a_restart(
    server: LiveServer, backend: Backend, token_for: TokenMinter
) -> None:
    subject = new_user()
    headers = {"Authorization": f"Bearer {token_for(subject)}", "Idempotency-Key": f'"{uuid.uuid4()}"'}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
        first = await client.post("/orders", json=order_body())
        pay = f"/orders/{first.json()['id']}/pay"
        paid = await client.post(pay, headers={"Idempotency-Key": "pay-1"})

    await asyncio.to_thread(server.stop)
    await asyncio.to_thread(server.start)

    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
        again = await client.post("/orders", json=order_body())
        paid_again = await client.post(
            f"/orders/{first.json()['id']}/pay", headers={"Idempotency-Key": "pay-1"}
        )

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert (paid.status_code, paid_again.status_code) == (200, 200)
    assert paid_again.content == paid.content
    assert await stored_order_ids(backend.url, [subject]) == [first.json()["id"]]
