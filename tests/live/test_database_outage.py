"""Database outage: PostgreSQL stops under a running app, then comes back.

While it is down, every request that needs the database answers 503 with a JSON `detail` within the
connect timeout (never 500, never a hang), readiness fails and liveness stays up. When it is back, the
very next requests succeed without restarting the app: pooled connections that died with the server
are detected at checkout (the driver already knows the server closed them) and replaced.

The test runs its own throw-away cluster (initdb into a temporary directory, a free port on
127.0.0.1), never the shared server other tests use, because it stops it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TokenMinter, skip_or_fail
from tests.factories import new_user, order_body
from tests.live_server import LiveServer, base_env, free_port

pytestmark = pytest.mark.slow

CONNECT_TIMEOUT = 2.0
# Bounds a query on a connection that is open but gets no answer (the frozen-server case below).
STATEMENT_TIMEOUT = 4.0
# Added to the connect timeout for the answer to travel back on a busy CI machine.
MARGIN = 3.0
DETAIL = "The database is unavailable; please retry shortly."
# /health/ready names the reason; its answer is reused for READINESS_CACHE_SECONDS.
READY_DETAIL = "database unreachable"
READINESS_CACHE = 0.5


class Cluster:
    """A private PostgreSQL cluster run as the `postgres` OS user (PostgreSQL refuses to run as root)."""

    def __init__(self) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not binaries:
            skip_or_fail("database outage test skipped: no PostgreSQL server binaries (/usr/lib/postgresql)")
        self.bin = Path(binaries[-1]).parent
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.directory = Path(tempfile.mkdtemp(prefix="orders-outage-"))
        self.data = self.directory / "data"
        self.port = free_port()
        if self.as_postgres:
            shutil.chown(self.directory, "postgres", "postgres")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        result = subprocess.run(
            [*self.as_postgres, *command], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync"
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.directory / "log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self) -> None:
        # Immediate: the server dies without closing client connections cleanly, like a crash.
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def processes(self) -> list[int]:
        """The postmaster and its children (one backend per client connection, plus helpers)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited meanwhile
            if int(fields[1]) == postmaster:
                children.append(int(stat.parent.name))
        return [postmaster, *children]

    def freeze(self) -> list[int]:
        """SIGSTOP every process: connections stay open but nothing answers, as in a network partition."""
        frozen = self.processes()
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        return frozen

    @staticmethod
    def thaw(frozen: list[int]) -> None:
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            pg_ctl = str(self.bin / "pg_ctl")
            stop = [*self.as_postgres, pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"]
            subprocess.run(stop, capture_output=True, check=False)
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    cluster = Cluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="module")
def app(cluster: Cluster, keys: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = base_env(
        DB_URL=cluster.url,
        MIGRATE_ON_START="true",
        DB_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT),
        DB_STATEMENT_TIMEOUT=str(STATEMENT_TIMEOUT),
        JWT_PUBLIC_KEY_FILE=str(keys.public_key),
        READINESS_CACHE_SECONDS=str(READINESS_CACHE),
    )
    with LiveServer(tmp_path_factory.mktemp("outage"), env) as server:
        yield server


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.request.url, response.text)
    if response.request.url.path == "/health/ready":
        assert response.json()["detail"].startswith(READY_DETAIL)
    else:
        assert response.json() == {"detail": DETAIL}


def _timed(client: httpx.Client, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = client.request(method, path, **kwargs)
    return response, time.perf_counter() - started


def _user_client(app: LiveServer, token_for: TokenMinter, timeout: float) -> httpx.Client:
    """A client of the server for a brand-new user."""
    headers = {"Authorization": f"Bearer {token_for(new_user())}"}
    return httpx.Client(base_url=app.url, headers=headers, timeout=timeout)


def _placed(client: httpx.Client, count: int) -> list[httpx.Response]:
    """`count` orders created while the database is up, each a 201."""
    created = [client.post("/orders", json=order_body()) for _ in range(count)]
    assert [response.status_code for response in created] == [201] * count
    return created


def test_outage_answers_503_fast_and_recovery_needs_no_restart(
    cluster: Cluster, app: LiveServer, token_for: TokenMinter
) -> None:
    with _user_client(app, token_for, timeout=30) as client:
        # Fill the pool with live connections, which the outage will kill.
        before = _placed(client, 5)
        order_id = before[0].json()["id"]
        process_before = app.process.pid if app.process else None

        cluster.stop()
        # A readiness answer from before the outage may be reused for READINESS_CACHE_SECONDS.
        time.sleep(READINESS_CACHE)
        down = [
            _timed(client, "GET", "/health/ready"),
            _timed(client, "GET", f"/orders/{order_id}"),
            _timed(client, "GET", "/orders"),
            _timed(client, "POST", "/orders", json=order_body()),
            _timed(client, "POST", f"/orders/{order_id}/pay"),
            _timed(client, "PUT", f"/orders/{order_id}", json=order_body()),
            _timed(client, "DELETE", f"/orders/{order_id}"),
            _timed(client, "GET", "/health/ready"),
        ]
        live, live_seconds = _timed(client, "GET", "/health/live")

        cluster.start()
        # The outage answer may be reused for READINESS_CACHE_SECONDS; no longer than that.
        time.sleep(READINESS_CACHE)
        after_ready = client.get("/health/ready")
        after_get = client.get(f"/orders/{order_id}")
        after_create = client.post("/orders", json=order_body())

    latencies_ms = [seconds * 1000 for _, seconds in down]
    print(
        f"\nPostgreSQL stopped: {len(down)} requests answered "
        f"{sorted({response.status_code for response, _ in down})}; latency ms: "
        + ", ".join(f"{ms:.0f}" for ms in latencies_ms)
        + f" (max {max(latencies_ms):.0f}, DB_CONNECT_TIMEOUT {CONNECT_TIMEOUT:.0f} s); "
        f"/health/live {live.status_code} in {live_seconds * 1000:.0f} ms"
    )
    for response, seconds in down:
        assert_unavailable(response)
        assert response.headers["retry-after"]
        assert seconds < CONNECT_TIMEOUT + MARGIN
    assert live.status_code == 200

    # Back up: the first requests succeed on the same process.
    assert after_ready.status_code == 200
    assert after_get.status_code == 200
    assert after_get.json() == before[0].json()
    assert after_create.status_code == 201
    assert app.process is not None
    assert app.process.pid == process_before
    assert app.process.poll() is None
    assert "Traceback" not in app.stderr()


def test_a_restart_between_requests_fails_no_request(
    cluster: Cluster, app: LiveServer, token_for: TokenMinter
) -> None:
    """Pooled connections that the restart closed are replaced at checkout, without a failed request."""
    with _user_client(app, token_for, timeout=30) as client:
        created = _placed(client, 3)

        cluster.stop()
        cluster.start()
        # No readiness probe first: the very first order requests draw the closed connections.
        after = [client.get(f"/orders/{response.json()['id']}") for response in created]
        after.append(client.post("/orders", json=order_body()))

    assert [response.status_code for response in after] == [200, 200, 200, 201]
    assert [response.json() for response in after[:3]] == [response.json() for response in created]


def test_a_frozen_database_answers_503_within_the_statement_and_connect_timeouts(
    cluster: Cluster, app: LiveServer, token_for: TokenMinter
) -> None:
    # Stopped is the easy case (connections are refused at once). Frozen is the hard one: the pooled
    # connection's statement waits for DB_STATEMENT_TIMEOUT, the reconnect for DB_CONNECT_TIMEOUT.
    with _user_client(app, token_for, timeout=60) as client:
        (created,) = _placed(client, 1)
        order_id = created.json()["id"]
        frozen = cluster.freeze()
        try:
            down = [
                _timed(client, "GET", f"/orders/{order_id}"),
                _timed(client, "GET", "/health/ready"),
                _timed(client, "POST", "/orders", json=order_body()),
            ]
            live, _ = _timed(client, "GET", "/health/live")
        finally:
            cluster.thaw(frozen)
        after = client.get(f"/orders/{order_id}")

    latencies = [seconds for _, seconds in down]
    print(
        "\nPostgreSQL frozen: "
        + ", ".join(f"{response.status_code} in {seconds * 1000:.0f} ms" for response, seconds in down)
        + f" (DB_STATEMENT_TIMEOUT {STATEMENT_TIMEOUT:.0f} s, DB_CONNECT_TIMEOUT {CONNECT_TIMEOUT:.0f} s)"
    )
    for response, _ in down:
        assert_unavailable(response)
    assert max(latencies) < STATEMENT_TIMEOUT + CONNECT_TIMEOUT + MARGIN
    assert live.status_code == 200
    assert after.status_code == 200
