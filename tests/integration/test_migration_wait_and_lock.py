"""`orders-app migrate` waits for a database that is not up yet, and two migrations at once run in turn.

Real processes, as compose or Kubernetes start them: the command waits (one log line per attempt) up to
DB_WAIT_TIMEOUT, fails with one line when the time is up, fails at once on errors waiting cannot fix, and
serialises on the migration lock (PostgreSQL advisory lock, SQLite BEGIN IMMEDIATE).
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from orders_app.db.migrations import MIGRATION_LOCK_KEY
from orders_app.db.revision import SchemaScripts
from tests.late_database import LateDatabase
from tests.live_server import CLI, base_env, free_port

pytestmark = pytest.mark.timeout(120)

HEAD = ", ".join(SchemaScripts().heads)
WAITING_FOR_LOCK = "another migration of this database is running; waiting for it to finish"


class Migrate:
    """One `orders-app migrate` process; its stderr (the log) goes to a file that the test can watch."""

    def __init__(self, workdir: Path, db_url: str, **settings: str) -> None:
        self.log = workdir / f"migrate-{time.monotonic_ns()}.err"
        with self.log.open("w") as stderr:
            self.process = subprocess.Popen(
                [*CLI, "migrate"],
                cwd=workdir,
                env=base_env(DB_URL=db_url, **settings),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                text=True,
            )

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text():
            assert self.process.poll() is None, f"migrate exited early:\n{self.log.read_text()}"
            assert time.monotonic() < deadline, f"no {text!r} in the log:\n{self.log.read_text()}"
            time.sleep(0.1)

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        self.process.wait(timeout)
        return self.process.returncode, self.log.read_text()


def revision(db_url: str) -> str | None:
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        with sqlite3.connect(str(url.database)) as connection:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        return str(row[0]) if row else None

    async def read() -> str | None:
        connection = await asyncpg.connect(url.render_as_string(hide_password=False).replace("+asyncpg", ""))
        try:
            value = await connection.fetchval("SELECT version_num FROM alembic_version")
            return str(value) if value is not None else None
        finally:
            await connection.close()

    return asyncio.run(read())


@pytest.mark.postgres
def test_migrate_waits_for_a_database_that_comes_up_later(
    make_postgres_database: Any, tmp_path: Path
) -> None:
    target = make_postgres_database()
    with LateDatabase(target) as late:
        migrate = Migrate(tmp_path, late.url, DB_WAIT_TIMEOUT="60")
        migrate.wait_for_log("attempt 2 failed")
        late.open()
        code, stderr = migrate.finish()
    assert code == 0, stderr
    waits = [line for line in stderr.splitlines() if "waiting for the database" in line]
    assert len(waits) >= 2, f"one log line per attempt expected:\n{stderr}"
    assert "attempt 1 failed" in waits[0]
    assert revision(target) == HEAD


def test_migrate_gives_up_after_db_wait_timeout_with_one_clear_line(tmp_path: Path) -> None:
    url = f"postgresql://orders:secret@127.0.0.1:{free_port()}/orders"
    started = time.monotonic()
    code, stderr = Migrate(tmp_path, url, DB_WAIT_TIMEOUT="3").finish()
    elapsed = time.monotonic() - started
    assert code == 2
    last = stderr.strip().splitlines()[-1]
    assert "  orders-app: error: the database at postgresql+asyncpg://orders:***@127.0.0.1:" in last
    assert "was not reachable within DB_WAIT_TIMEOUT=3s" in last
    assert "ConnectionRefusedError" in last
    assert "secret" not in stderr, "the password must never be logged"
    assert "Traceback" not in stderr
    # At least the wait; far less than a hang (the bound is generous: start-up is slow on a loaded machine).
    assert 3 <= elapsed < 60
    assert sum("waiting for the database" in line for line in stderr.splitlines()) >= 3


@pytest.mark.postgres
def test_an_error_that_waiting_cannot_fix_fails_at_once(postgres_server: str, tmp_path: Path) -> None:
    missing = make_url(postgres_server).set(database="orders_no_such_database")
    started = time.monotonic()
    code, stderr = Migrate(
        tmp_path, missing.render_as_string(hide_password=False), DB_WAIT_TIMEOUT="60"
    ).finish()
    assert code == 2
    # Well within DB_WAIT_TIMEOUT=60: it did not wait (and logged no attempt).
    assert time.monotonic() - started < 45
    assert "waiting for the database" not in stderr
    assert "orders_no_such_database" in stderr.strip().splitlines()[-1]


@pytest.mark.postgres
def test_two_migrations_at_once_run_one_after_the_other_on_postgresql(
    make_postgres_database: Any, tmp_path: Path
) -> None:
    url = make_postgres_database()

    async def hold_lock_while_two_start() -> list[Migrate]:
        admin = await asyncpg.connect(url)
        try:
            # Another migration (this session) holds the lock: both new ones must queue behind it.
            await admin.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
            migrations = [Migrate(tmp_path, url), Migrate(tmp_path, url)]
            for migrate in migrations:
                await asyncio.to_thread(migrate.wait_for_log, WAITING_FOR_LOCK)
            await admin.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
            return migrations
        finally:
            await admin.close()

    results = [migrate.finish() for migrate in asyncio.run(hold_lock_while_two_start())]
    assert [code for code, _ in results] == [0, 0], results
    logs = "\n".join(stderr for _, stderr in results)
    assert logs.count("Running upgrade  -> ") == 1, "the second one must find the schema current"
    assert revision(url) == HEAD


def test_two_migrations_at_once_run_one_after_the_other_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    url = f"sqlite:///{path}"
    # Another writer holds the database's write lock: both migrations queue behind it, then run in turn.
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = WAL")
    holder.execute("BEGIN IMMEDIATE")
    migrations = [Migrate(tmp_path, url), Migrate(tmp_path, url)]
    for migrate in migrations:
        migrate.wait_for_log("taking the migration lock")
    time.sleep(1)
    assert all(migrate.process.poll() is None for migrate in migrations), "they must wait for the lock"
    holder.execute("COMMIT")
    holder.close()
    results = [migrate.finish() for migrate in migrations]
    assert [code for code, _ in results] == [0, 0], results
    logs = "\n".join(stderr for _, stderr in results)
    assert logs.count("Running upgrade  -> ") == 1, "the second one must find the schema current"
    assert revision(url) == HEAD
