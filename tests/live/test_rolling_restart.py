"""A rolling restart behind a load balancer loses nothing.

Two `orders-app serve` replicas on one PostgreSQL database behind Debian's HAProxy (its defaults and an
active health check on /health/ready) take a 3:1 mix of GET /orders/{id} and POST /orders from wrk for
the whole procedure, while each replica in turn gets SIGTERM, exits, starts again and is waited for until
HAProxy reports it UP. Every request must succeed: no socket error, no status outside 2xx; and every order
whose POST got a 201 must be readable afterwards.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from orders_app.auth.keys import KeyPair
from tests.conftest import TokenMinter, run_migrations, skip_or_fail
from tests.factories import new_user, order_body
from tests.haproxy import HAProxy, HealthCheck, haproxy_binary
from tests.live_server import LiveServer, base_env, free_port

pytestmark = [pytest.mark.rolling, pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(600)]

LOAD_SCRIPT = Path(__file__).with_name("rolling_load.lua")
CHECK = HealthCheck(inter_ms=1000, fall=2, rise=2, timeout_ms=5000)
# Longer than HAProxy takes to see 503 twice (CHECK.detection_seconds(), 3 s) with room for a slow check.
DRAIN_SECONDS = 6
REPLICAS = ("a", "b")
SEEDED_ORDERS = 20
# Traffic before the first restart and after each replica is back, so that each one serves under load.
SETTLE_SECONDS = 3


@pytest.fixture(scope="module")
def tools() -> dict[str, str]:
    found = {"haproxy": haproxy_binary(), "wrk": shutil.which("wrk")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        skip_or_fail(f"rolling restart skipped: {', '.join(missing)} not installed (Debian packages)")
    return {name: str(path) for name, path in found.items()}


def _replica(workdir: Path, db_url: str, keys: KeyPair, port: int) -> LiveServer:
    env = base_env(
        DB_URL=db_url,
        MIGRATE_ON_START="false",
        JWT_PUBLIC_KEY_FILE=str(keys.public_key),
        SHUTDOWN_DRAIN_SECONDS=str(DRAIN_SECONDS),
    )
    return LiveServer(workdir, env, port=port)


def _restart(replica: LiveServer, name: str, lb: HAProxy) -> dict[str, Any]:
    """SIGTERM, wait for the exit, start again, wait until HAProxy reports the replica UP."""
    assert replica.process is not None
    started = time.monotonic()
    replica.process.send_signal(signal.SIGTERM)
    exit_code = replica.process.wait(60)
    exited = time.monotonic() - started
    replica.stop()  # closes its log files; the process is gone
    replica.start()
    up_after = lb.wait_until(name, "UP")
    return {"replica": name, "exit_code": exit_code, "exit_s": round(exited, 1), "up_s": round(up_after, 1)}


def _listed_ids(url: str, token: str) -> set[str]:
    ids: set[str] = set()
    next_url: str | None = "/orders?limit=100"
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        while next_url:
            response = client.get(next_url)
            assert response.status_code == 200, response.text
            ids.update(order["id"] for order in response.json()["orders"])
            next_url = response.links.get("next", {}).get("url")
    return ids


def test_rolling_restart_behind_haproxy_loses_no_request(
    tools: dict[str, str],
    make_postgres_database: Any,
    keys: KeyPair,
    token_for: TokenMinter,
    tmp_path: Path,
) -> None:
    db_url = make_postgres_database()
    run_migrations(db_url)
    replicas = {name: _replica(tmp_path, db_url, keys, free_port()) for name in REPLICAS}
    lb = HAProxy(tmp_path, free_port(), free_port(), {n: r.port for n, r in replicas.items()}, CHECK)
    user = new_user("rolling")
    token = token_for(user, ttl_seconds=3600)
    restarts: list[dict[str, Any]] = []
    try:
        for replica in replicas.values():
            replica.start(probe="/health/ready")
        lb.start()
        for name in REPLICAS:
            lb.wait_until(name, "UP")
        with httpx.Client(base_url=lb.url, headers={"Authorization": f"Bearer {token}"}) as client:
            seeded = [client.post("/orders", json=order_body()).json()["id"] for _ in range(SEEDED_ORDERS)]
        data = tmp_path / "rolling_data.lua"
        data.write_text(
            f'rolling_token = "{token}"\nrolling_ids = {{{", ".join(f"{i!r}" for i in seeded)}}}\n'
        )
        created_file = tmp_path / "created.txt"
        wrk = subprocess.Popen(
            [
                tools["wrk"],
                "-t2",
                "-c8",
                "-d600s",
                "--timeout",
                "10s",
                "-s",
                str(LOAD_SCRIPT),
                lb.url,
                "--",
                str(data),
                str(created_file),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            time.sleep(SETTLE_SECONDS)
            for name in REPLICAS:
                restarts.append(_restart(replicas[name], name, lb))
                time.sleep(SETTLE_SECONDS)
        finally:
            # wrk stops on SIGINT and still reports (its done() writes the created ids).
            wrk.send_signal(signal.SIGINT)
            out, err = wrk.communicate(timeout=60)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        assert lines, f"wrk printed no summary: {out}\n{err}"
        summary = json.loads(lines[-1])
        created = set(filter(None, created_file.read_text().splitlines()))
        listed = _listed_ids(replicas["a"].url, token)
    finally:
        lb.stop()
        for replica in replicas.values():
            replica.stop()

    statuses = {int(code): count for code, count in summary["statuses"].items()}
    socket_errors = sum(summary["errors"].values())
    non_2xx = sum(count for code, count in statuses.items() if not 200 <= code < 300)
    unreadable = created - listed
    figures = {
        "requests": summary["requests"],
        "socket_errors": summary["errors"],
        "statuses": statuses,
        "created": len(created),
        "unreadable_created": len(unreadable),
        "restarts": restarts,
    }
    print("rolling restart:", json.dumps(figures))
    assert all(restart["exit_code"] == 0 for restart in restarts), figures
    assert statuses.get(200, 0) > 0, figures
    assert statuses.get(201, 0) > 0, figures
    assert socket_errors == 0, figures
    assert non_2xx == 0, figures
    assert not unreadable, figures
    assert len(created) == statuses[201], figures
