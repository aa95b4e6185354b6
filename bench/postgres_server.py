"""A PostgreSQL server of the benchmark's own for the soak: `initdb` into a temporary folder, started on
a free port of 127.0.0.1 with autovacuum on (PostgreSQL's default, as production runs it), stopped and
removed on exit. A long run against a server with autovacuum off measures stale planner statistics
instead of the app (docs/bench.md, "Soak")."""

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

from bench.config import BenchError
from bench.servers import free_port

READY_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
# initdb and postgres refuse to run as root; as root, both run as the packaged `postgres` account.
SERVICE_USER = "postgres"
# What differs from initdb's defaults, and why: the rest is PostgreSQL's default configuration.
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "autovacuum": "on",
    # The app's pool (20) and the benchmark's own connections, with room to spare.
    "max_connections": "100",
}
REPORTED = (
    "server_version",
    "autovacuum",
    "fsync",
    "synchronous_commit",
    "shared_buffers",
    "max_connections",
)


def _binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise BenchError(
            f"{name} not found: the soak on PostgreSQL starts its own server (apt-get install postgresql)"
        )
    return found


def _as_service_user() -> dict[str, Any]:
    return {"user": SERVICE_USER, "group": SERVICE_USER} if os.geteuid() == 0 else {}


@contextlib.contextmanager
def temporary_postgres(log: Path) -> Iterator[str]:
    """The admin URL of a fresh server; the server and its data folder are gone afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="orders-bench-pg-"))
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    run_as = _as_service_user()
    if run_as:
        shutil.chown(folder, SERVICE_USER, SERVICE_USER)
        shutil.chown(sockets, SERVICE_USER, SERVICE_USER)
    process: subprocess.Popen[bytes] | None = None
    try:
        initdb = subprocess.run(  # noqa: S603 - PostgreSQL's own initdb, fixed arguments
            [_binary("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
            capture_output=True,
            text=True,
            check=False,
            **run_as,
        )
        if initdb.returncode != 0:
            raise BenchError(f"initdb failed: {initdb.stderr.strip()}")
        port = free_port()
        options = [f"-c{key}={value}" for key, value in SETTINGS.items()]
        with log.open("ab") as out:
            process = subprocess.Popen(  # noqa: S603 - PostgreSQL's own server, fixed arguments
                [_binary("postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets), *options],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **run_as,
            )
        _wait_ready(process, port, log)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown: sessions ended, no checkpoint wait
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"the soak's PostgreSQL exited with {process.returncode} on start; see {log}")
        ready = subprocess.run(  # noqa: S603 - PostgreSQL's own pg_isready
            [_binary("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)], check=False
        )
        if ready.returncode == 0:
            return
        time.sleep(0.2)
    raise BenchError(f"the soak's PostgreSQL was not ready within {READY_TIMEOUT_S} s; see {log}")


async def describe(url: str) -> dict[str, Any]:
    """The server's version and the settings a soak depends on, as it reports them."""
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(url, timeout=10)
    try:
        return {name: await connection.fetchval(f"SHOW {name}") for name in REPORTED}
    finally:
        await connection.close()


async def table_maintenance(url: str) -> list[dict[str, Any]]:
    """How often autovacuum and autoanalyze ran on each table during the soak, and the rows it holds."""
    import asyncpg

    connection = await asyncpg.connect(url, timeout=10)
    try:
        rows = await connection.fetch(
            "SELECT relname, n_live_tup, autovacuum_count, autoanalyze_count FROM pg_stat_user_tables "
            "ORDER BY relname"
        )
        return [dict(row) for row in rows]
    finally:
        await connection.close()
