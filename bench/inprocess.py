"""CPU time per request of the served ASGI stack, driven in-process (no sockets, no wrk).

    uv run python -m bench.inprocess S2 --requests 1500 --rounds 5 [--tree PATH]

Builds what `orders-app serve` serves (create_asgi_app, or create_app for older trees) on a fresh
SQLite database, places 60 orders, then times `--rounds` rounds of `--requests` calls of one scenario
with time.process_time(); prints each round's microseconds per request and the lowest. `--tree`
imports orders_app from another checkout (an exported older commit), so that two versions can be
compared in alternation on the same machine. Used for the attribution in docs/bench.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ORDER = json.dumps({"order": [{"product": "latte", "size": "small", "quantity": 1}]}).encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess")
    parser.add_argument("scenario", choices=["S1", "S2", "S3"])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tree", type=Path, help="import orders_app from this checkout")
    args = parser.parse_args(argv)
    if args.tree:
        sys.path.insert(0, str(args.tree.resolve()))
    results = asyncio.run(_measure(args.scenario, args.requests, args.rounds))
    label = args.tree or "this tree"
    rounds = " ".join(f"{value:.0f}" for value in results)
    print(f"{args.scenario} {label}: {rounds} us/request; lowest {min(results):.0f}")
    return 0


async def _measure(scenario: str, requests: int, rounds: int) -> list[float]:
    import orders_app.app as app_module
    from orders_app.auth.dev_tokens import mint_token
    from orders_app.auth.keys import create_key_pair, load_private_key
    from orders_app.db.migrations import upgrade_to_head
    from orders_app.settings import DEFAULT_AUDIENCE, Settings

    work = Path(tempfile.mkdtemp(prefix="orders-inprocess-"))
    keys = create_key_pair(work / "keys")
    url = f"sqlite:///{work}/orders.db"
    await asyncio.to_thread(upgrade_to_head, url)
    # From an environment, which an older tree's Settings reads too (ignoring LOG_FORMAT); json: the image's.
    environment = {"DB_URL": url, "JWT_PUBLIC_KEY_FILE": str(keys.public_key), "MIGRATE_ON_START": "false"}
    settings = Settings.from_env({**environment, "LOG_FORMAT": "json"})
    factory = getattr(app_module, "create_asgi_app", None) or app_module.create_app
    app = factory(settings)
    token = mint_token(load_private_key(keys.private_key), subject="bench", audience=DEFAULT_AUDIENCE)
    # The access log writes to stdout; the figures go to stderr's neighbour, so silence fd 1 meanwhile.
    saved_stdout = os.dup(1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    try:
        call = _caller(app, token)
        ids = []
        for _ in range(60):
            status, body = await call("POST", "/orders", b"", ORDER)
            assert status == 201, body
            ids.append(json.loads(body)["id"])
        scenarios: dict[str, Callable[[int], Awaitable[tuple[int, bytes]]]] = {
            "S1": lambda _: call("POST", "/orders", b"", ORDER),
            "S2": lambda i: call("GET", f"/orders/{ids[i % len(ids)]}", b"", b""),
            "S3": lambda _: call("GET", "/orders", b"limit=50", b""),
        }
        request = scenarios[scenario]
        for i in range(300):
            await request(i)
        results = []
        for _ in range(rounds):
            gc.collect()
            started = time.process_time()
            for i in range(requests):
                status, body = await request(i)
                assert status in (200, 201), body
            results.append((time.process_time() - started) / requests * 1e6)
        return results
    finally:
        os.dup2(saved_stdout, 1)


def _caller(app: Any, token: str) -> Callable[[str, str, bytes, bytes], Awaitable[tuple[int, bytes]]]:
    async def call(method: str, path: str, query: bytes, body: bytes) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query,
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"authorization", f"Bearer {token}".encode()),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8080),
            "state": {},
        }
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return sent[0]["status"], sent[-1].get("body", b"")

    return call


if __name__ == "__main__":
    sys.exit(main())
