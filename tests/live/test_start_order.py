"""Start order does not matter: `serve` comes up before its database and before the migration, and heals.

This is what compose on podman (no health-gated start) and Kubernetes (no start order at all) rely on.
A real `orders-app serve` process against a PostgreSQL that "comes up later" (tests/late_database.py).
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from orders_app.db.revision import SchemaScripts
from tests.conftest import TokenMinter
from tests.factories import order_body
from tests.late_database import LateDatabase
from tests.live_server import CLI, LiveServer, base_env

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]


def wait_for(client: httpx.Client, path: str, status: int, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while (response := client.get(path)).status_code != status:
        assert time.monotonic() < deadline, f"{path}: still {response.status_code} {response.text}"
        time.sleep(0.2)
    return response


def test_api_up_before_its_database_and_its_schema_becomes_ready_without_restart(
    make_postgres_database: Any, keys: Any, token_for: TokenMinter, tmp_path: Path
) -> None:
    target = make_postgres_database()
    auth = {"Authorization": f"Bearer {token_for('alice')}"}
    with LateDatabase(target) as late:
        env = base_env(
            DB_URL=late.url,
            MIGRATE_ON_START="false",
            JWT_PUBLIC_KEY_FILE=str(keys.public_key),
            READINESS_CACHE_SECONDS="0.2",
        )
        with LiveServer(tmp_path, env) as server, httpx.Client(base_url=server.url, timeout=10) as client:
            pid = server.process.pid if server.process else None
            # 1. No database yet: alive, not ready, orders 503 with the reason.
            assert client.get("/health/live").status_code == 200
            ready = client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json() == {"detail": "database unreachable (ConnectionRefusedError)"}
            refused = client.post("/orders", json=order_body(), headers=auth)
            assert refused.status_code == 503
            assert refused.json()["detail"] == ready.json()["detail"]

            # 2. The database is up, the schema is not: still not ready, and it says which revision.
            late.open()
            behind = client.get("/health/ready")
            deadline = time.monotonic() + 30
            while "schema at revision none" not in behind.text:
                assert time.monotonic() < deadline, behind.text
                behind = client.get("/health/ready")
                time.sleep(0.2)
            expected = ", ".join(SchemaScripts().heads)
            assert behind.json()["detail"].endswith(f"expected {expected}; run `orders-app migrate`")
            assert client.post("/orders", json=order_body(), headers=auth).status_code == 503

            # 3. The migration runs beside it: ready by itself, and the very first order succeeds.
            migrate = subprocess.run(
                [*CLI, "migrate"], env={**env, "DB_URL": late.url}, capture_output=True, text=True
            )
            assert migrate.returncode == 0, migrate.stderr
            wait_for(client, "/health/ready", 200, timeout=10)
            created = client.post("/orders", json=order_body(), headers=auth)
            assert created.status_code == 201, created.text
            assert server.process is not None
            assert server.process.pid == pid
            assert server.process.poll() is None, "the api must not have restarted"


def test_serve_with_migrate_on_start_waits_for_the_database_instead_of_crashing(
    make_postgres_database: Any, keys: Any, token_for: TokenMinter, tmp_path: Path
) -> None:
    target = make_postgres_database()
    with LateDatabase(target) as late:
        env = base_env(
            DB_URL=late.url,
            MIGRATE_ON_START="true",
            DB_WAIT_TIMEOUT="90",
            JWT_PUBLIC_KEY_FILE=str(keys.public_key),
        )
        server = LiveServer(tmp_path, env)

        def open_once_waiting() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if "attempt 2 failed" in server.stderr():
                    late.open()
                    return
                time.sleep(0.1)

        opener = threading.Thread(target=open_once_waiting, daemon=True)
        opener.start()
        with server, httpx.Client(base_url=server.url, timeout=10) as client:
            opener.join()
            assert "waiting for the database" in server.stderr()
            wait_for(client, "/health/ready", 200)
            created = client.post(
                "/orders", json=order_body(), headers={"Authorization": f"Bearer {token_for('bob')}"}
            )
            assert created.status_code == 201, created.text
