"""Two migration Jobs started at once against one PostgreSQL both succeed, and the schema is migrated once.

What runs is the rendered Job's own command: the image's entrypoint (`orders-app`, here the same package
installed in the test venv) with the Job's args and literal environment, DB_URL pointing at a fresh database.
Two processes started together could still run one after the other by chance (each spends a second or more
importing before it connects). So their connections go through a gate on 127.0.0.1 that holds every
connection until both processes have connected, then lets them through together: both reach the database at
the same moment, and only the migration lock decides who goes first. The one that waits must find the
schema current and change nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from orders_app.db.tables import metadata
from tests.kubernetes.manifests import REPO_ROOT, one, overlays

pytestmark = [pytest.mark.kubernetes, pytest.mark.postgres, pytest.mark.timeout(300)]

GATE_TIMEOUT = 60.0


class Gate:
    """A TCP relay to the database that opens only once `expected` connections are waiting at it."""

    def __init__(self, upstream_host: str, upstream_port: int, expected: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.expected = expected
        self.arrived = 0
        self.opened_by_count = False
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._open: asyncio.Event | None = None
        self._server: asyncio.Server | None = None

    def __enter__(self) -> Gate:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *_exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> None:
        self._open = asyncio.Event()
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        assert self._open is not None
        self.arrived += 1
        if self.arrived >= self.expected and not self._open.is_set():
            self.opened_by_count = True
            self._open.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._open.wait(), GATE_TIMEOUT)
        self._open.set()  # after a time-out, let everyone through: the assertions say what happened
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer)
        )

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


def _job_command(documents: list[dict[str, Any]]) -> tuple[list[str], dict[str, str]]:
    """The Job container's argv (image entrypoint + args) and its literal environment values."""
    container = one(documents, "Job")["spec"]["template"]["spec"]["containers"][0]
    assert not container.get("command"), "the Job overrides the image's entrypoint; run that instead"
    entrypoint = Path(sys.executable).with_name("orders-app")
    env = {entry["name"]: entry["value"] for entry in container.get("env") or [] if "value" in entry}
    return [str(entrypoint), *container["args"]], env


def _start(argv: list[str], env: dict[str, str], workdir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        argv,
        cwd=workdir,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        output, _ = process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return process.returncode, output


def _upgrades(output: str) -> list[str]:
    return [line for line in output.splitlines() if "Running upgrade" in line]


async def _schema(url: str) -> tuple[list[str], set[str]]:
    parsed = make_url(url)
    connection = await asyncpg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, database=parsed.database, timeout=10
    )
    try:
        versions = [row[0] for row in await connection.fetch("SELECT version_num FROM alembic_version")]
        tables = {
            row[0]
            for row in await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
    finally:
        await connection.close()
    return versions, tables


@pytest.fixture
def job_command(
    kubectl_binary: str, rendered: dict[Path, list[dict[str, Any]]]
) -> tuple[list[str], dict[str, str]]:
    return _job_command(rendered[overlays()[0]])


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_two_jobs_at_once_both_succeed_and_migrate_once(
    job_command: tuple[list[str], dict[str, str]],
    make_postgres_database: Callable[[], str],
    processes: list[subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    argv, env = job_command
    url = make_url(make_postgres_database())
    revisions = list(ScriptDirectory(str(REPO_ROOT / "alembic")).walk_revisions())

    with Gate(url.host or "127.0.0.1", url.port or 5432, expected=2) as gate:
        gated = url.set(host="127.0.0.1", port=gate.port).render_as_string(hide_password=False)
        processes += [_start(argv, {**env, "DB_URL": gated}, tmp_path) for _ in range(2)]
        results = [_finish(process) for process in processes]

    report = "\n".join(f"--- job {n} exited {code}:\n{output}" for n, (code, output) in enumerate(results))
    assert [code for code, _ in results] == [0, 0], report
    assert gate.opened_by_count, (
        f"the two jobs never waited at the gate together ({gate.arrived} arrived)\n{report}"
    )
    upgrades = [_upgrades(output) for _, output in results]
    # Each revision ran exactly once, all of them in one of the two jobs; the other found nothing to do.
    assert sorted(len(found) for found in upgrades) == [0, len(revisions)], report

    versions, tables = asyncio.run(_schema(url.render_as_string(hide_password=False)))
    assert versions == [revisions[0].revision]
    assert set(metadata.tables) <= tables


def test_a_job_run_again_changes_nothing(
    job_command: tuple[list[str], dict[str, str]], make_postgres_database: Callable[[], str], tmp_path: Path
) -> None:
    argv, env = job_command
    url = make_postgres_database()
    first = subprocess.run(
        argv, cwd=tmp_path, env={**os.environ, **env, "DB_URL": url}, capture_output=True, text=True
    )
    again = subprocess.run(
        argv, cwd=tmp_path, env={**os.environ, **env, "DB_URL": url}, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    assert again.returncode == 0, again.stderr
    assert _upgrades(first.stdout + first.stderr)
    assert _upgrades(again.stdout + again.stderr) == []
