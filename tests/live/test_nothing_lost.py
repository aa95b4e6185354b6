"""Nothing lost: every acknowledged create (201) is stored exactly once, even across a SIGKILL.

A live `orders-app serve` takes thousands of creates from many concurrent clients; afterwards the
database itself (not the API) is asked which orders exist. The SIGKILL variant kills the server while
creates are in flight, restarts it on the same database, and checks that every order the server had
acknowledged survived. An order may also exist whose 201 never reached the client (committed, then
killed before the response went out); that is not a loss, and there can be at most as many of those as
requests were in flight.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Backend, TokenMinter
from tests.factories import new_user, order_body
from tests.live_server import LiveServer, base_env, stored_order_ids

pytestmark = pytest.mark.slow

CREATES = 2_000
CLIENTS = 40  # concurrent clients, each its own connection and user
KILL_AFTER = 400  # acknowledged creates before the SIGKILL


def _server(workdir: Path, backend: Backend, keys: Any, port: int | None = None) -> LiveServer:
    env = base_env(DB_URL=backend.url, MIGRATE_ON_START="false", JWT_PUBLIC_KEY_FILE=str(keys.public_key))
    return LiveServer(workdir, env, port=port)


@dataclass
class Load:
    """CLIENTS concurrent clients, each its own user and connection, sharing a budget of creates."""

    url: str
    token_for: TokenMinter
    users: list[str]
    left: int = CREATES
    acknowledged: dict[str, str] = field(default_factory=dict)  # order id -> owner
    failures: Counter[str] = field(default_factory=Counter)
    progress: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        await asyncio.gather(*(self._client(user) for user in self.users))

    async def _client(self, user: str) -> None:
        headers = {"Authorization": f"Bearer {self.token_for(user)}"}
        async with httpx.AsyncClient(base_url=self.url, headers=headers, timeout=60) as client:
            while self.left > 0:
                self.left -= 1
                try:
                    response = await client.post("/orders", json=order_body())
                except httpx.TransportError as error:
                    self.failures[type(error).__name__] += 1
                    return  # the server is gone
                if response.status_code == 201:
                    self.acknowledged[response.json()["id"]] = user
                    self.progress.set()
                else:
                    self.failures[str(response.status_code)] += 1


async def test_every_acknowledged_create_is_stored_exactly_once(
    backend: Backend, keys: Any, token_for: TokenMinter, tmp_path: Path
) -> None:
    users = [new_user("load") for _ in range(CLIENTS)]
    with _server(tmp_path, backend, keys) as server:
        load = Load(server.url, token_for, users)
        started = time.perf_counter()
        await load.run()
        elapsed = time.perf_counter() - started
    acknowledged, failures = load.acknowledged, load.failures
    stored = await stored_order_ids(backend.url, users)

    print(
        f"\n{backend.name}: {CREATES} creates from {CLIENTS} clients in {elapsed:.1f} s: "
        f"{len(acknowledged)} x 201, failures {dict(failures)}; {len(stored)} orders stored"
    )
    assert not failures
    assert len(acknowledged) == CREATES  # and all distinct: they are the keys of a dict
    stored_counts = Counter(stored)
    assert all(stored_counts[order_id] == 1 for order_id in acknowledged)
    assert len(stored) == CREATES, "an order is stored that no client was told about"


@pytest.mark.timeout(300)
async def test_a_sigkill_mid_run_loses_no_acknowledged_order(
    backend: Backend, keys: Any, token_for: TokenMinter, tmp_path: Path
) -> None:
    users = [new_user("kill") for _ in range(CLIENTS)]
    server = _server(tmp_path, backend, keys).start()
    try:
        load = Load(server.url, token_for, users)
        running = asyncio.ensure_future(load.run())
        while len(load.acknowledged) < KILL_AFTER and not running.done():
            load.progress.clear()
            await load.progress.wait()
        server.kill()
        acknowledged_at_kill = len(load.acknowledged)
        await running
    finally:
        server.stop()
    acknowledged, failures = load.acknowledged, load.failures

    # Restarted on the same database (and port), with no repair step in between.
    last_id, last_owner = list(acknowledged.items())[-1]
    with _server(tmp_path, backend, keys, port=server.port) as restarted:
        async with httpx.AsyncClient(base_url=restarted.url, timeout=30) as client:
            ready = await client.get("/health/ready")
            # The last order acknowledged before the kill is served by the restarted process.
            last = await client.get(
                f"/orders/{last_id}", headers={"Authorization": f"Bearer {token_for(last_owner)}"}
            )
    stored = set(await stored_order_ids(backend.url, users))
    missing = set(acknowledged) - stored
    unacknowledged = stored - set(acknowledged)
    print(
        f"\n{backend.name}: SIGKILL after {acknowledged_at_kill} x 201 ({len(acknowledged)} in all), "
        f"client-side failures {dict(failures)}; stored {len(stored)}, missing {len(missing)}, "
        f"stored but never acknowledged {len(unacknowledged)}"
    )
    assert ready.status_code == 200
    assert last.status_code == 200
    assert acknowledged_at_kill >= KILL_AFTER
    assert len(acknowledged) < CREATES, "the server died mid-run, so some creates must have failed"
    assert not missing, f"acknowledged orders lost: {sorted(missing)[:5]}"
    assert len(unacknowledged) <= CLIENTS
