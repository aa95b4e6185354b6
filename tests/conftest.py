"""Shared fixtures: signing keys, a database per backend (SQLite and a real PostgreSQL), the app and clients.

The API suite runs once per backend. The PostgreSQL leg creates a fresh database on the server named by
ORDERS_TEST_POSTGRES_URL (default: the local server) and drops it afterwards. Without a reachable server
that leg is skipped with the reason; with ORDERS_REQUIRE_ALL=1 (set by CI) the skip becomes a failure.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from httpx import Response
from hypothesis import settings
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url

from orders_app.app import create_app, serving_stack
from orders_app.auth.dev_tokens import mint_token
from orders_app.auth.keys import KeyPair, create_key_pair, load_private_key
from orders_app.db.migrations import upgrade_to_head
from orders_app.settings import DEFAULT_AUDIENCE, Settings
from tests.factories import new_user, order_body

# CI runs the same examples every time and keeps no example database between runs.
settings.register_profile("ci", derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# The suites CI selects with -m build images, stacks and clusters once per session: one process for them.
CI_SUITES = re.compile(r"(?<!not )\b(container|compose|publish|kubernetes|browser)\b")


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` (addopts): a worker per CPU (xdist's count), none when -m selects one of the CI suites."""
    if CI_SUITES.search(config.option.markexpr or ""):
        return 0
    return None


POSTGRES_URL = os.environ.get("ORDERS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_ALL = os.environ.get("ORDERS_REQUIRE_ALL", "") not in ("", "0", "false")


def skip_or_fail(reason: str) -> None:
    """Skip a leg whose prerequisite is missing, unless CI demands that every leg runs."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (ORDERS_REQUIRE_ALL is set, so this is a failure, not a skip)")
    pytest.skip(reason)


def run_migrations(db_url: str) -> None:
    # Alembic's env.py runs its own event loop; keep it off the test session's loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(upgrade_to_head, db_url).result()


# --- keys and tokens --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return create_key_pair(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """A second key pair: one the service does not trust, or the one an identity provider rotates to."""
    return create_key_pair(tmp_path_factory.mktemp("other-keys"))


@dataclass(frozen=True)
class TokenMinter:
    keys: KeyPair

    def __call__(self, subject: str, **options: Any) -> str:
        options.setdefault("audience", DEFAULT_AUDIENCE)
        return mint_token(_private_key(self.keys.private_key), subject=subject, **options)


@functools.cache
def _private_key(path: Path) -> Any:
    # Parsing the PEM costs far more than signing; the suite mints hundreds of tokens with one key.
    return load_private_key(path)


@pytest.fixture(scope="session")
def token_for(keys: KeyPair) -> TokenMinter:
    return TokenMinter(keys)


# --- databases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    name: str
    url: str


async def _admin_connect() -> asyncpg.Connection:
    url = make_url(POSTGRES_URL)
    return await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.database or "postgres",
        timeout=5,
    )


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of a reachable PostgreSQL server, or a skip (a failure in CI) saying why not."""

    async def probe() -> None:
        connection = await _admin_connect()
        await connection.close()

    try:
        asyncio.run(probe())
    except Exception as error:
        skip_or_fail(f"PostgreSQL leg skipped: cannot reach {POSTGRES_URL} ({type(error).__name__}: {error})")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def make_postgres_database(postgres_server: str) -> Iterator[Any]:
    """Creates throw-away databases on the server and drops them all at the end of the session."""
    created: list[str] = []

    def create() -> str:
        name = f"orders_test_{uuid.uuid4().hex[:12]}"

        async def run() -> None:
            connection = await _admin_connect()
            try:
                await connection.execute(f'CREATE DATABASE "{name}"')
            finally:
                await connection.close()

        asyncio.run(run())
        created.append(name)
        return make_url(postgres_server).set(database=name).render_as_string(hide_password=False)

    yield create

    async def drop_all() -> None:
        connection = await _admin_connect()
        try:
            for name in created:
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(drop_all())


@pytest.fixture(scope="session")
def make_sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> Any:
    def create() -> str:
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'orders.db'}"

    return create


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Backend:
    """A migrated, empty database on each backend; tests isolate themselves by using fresh users."""
    if request.param == "sqlite":
        url = request.getfixturevalue("make_sqlite_database")()
    else:
        url = request.getfixturevalue("make_postgres_database")()
    run_migrations(url)
    return Backend(request.param, url)


# --- the application --------------------------------------------------------------------------


def app_settings(backend: Backend, keys: KeyPair, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "db_url": backend.url,
        "jwt_public_key_file": keys.public_key,
        "migrate_on_start": False,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def app(backend: Backend, keys: KeyPair) -> Litestar:
    return create_app(app_settings(backend, keys))


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Any]]:
    # Requests go through the same layers as in production (orders_app.app.serving_stack).
    async with AsyncTestClient(serving_stack(app)) as test_client:
        yield test_client


class UserClient:
    """Requests made as one authenticated user, with a few shortcuts for the common calls."""

    def __init__(self, client: AsyncTestClient[Litestar], subject: str, token: str) -> None:
        self.client = client
        self.subject = subject
        self.headers = {"Authorization": f"Bearer {token}"}

    async def request(self, method: str, url: str, **kwargs: Any) -> Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.client.request(method, url, headers=headers, **kwargs)

    async def get(self, url: str, **kwargs: Any) -> Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> Response:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> Response:
        return await self.request("PUT", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> Response:
        return await self.request("DELETE", url, **kwargs)

    async def create(self, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.post("/orders", json=body or order_body())
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


@pytest.fixture(scope="session")
def as_user(client: AsyncTestClient[Litestar], token_for: TokenMinter) -> Any:
    """`as_user()` gives a client for a brand-new user; `as_user("bob")` for a named one."""

    def make(subject: str | None = None) -> UserClient:
        subject = subject or new_user()
        return UserClient(client, subject, token_for(subject))

    return make


@pytest.fixture
def user(as_user: Any) -> UserClient:
    client: UserClient = as_user()
    return client


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


async def update_order_row(backend: Backend, order_id: str, **values: Any) -> None:
    """Change an order's row behind the API's back (statuses and timestamps no endpoint can set)."""
    from sqlalchemy import update
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from orders_app.db.tables import orders_table
    from orders_app.db.url import async_url

    # Its own engine: the app's pool belongs to the test client's event loop.
    engine = create_async_engine(async_url(backend.url), poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(orders_table).where(orders_table.c.id == uuid.UUID(order_id)).values(**values)
            )
    finally:
        await engine.dispose()


@pytest.fixture
def force_status(backend: Backend) -> Any:
    async def force(order_id: str, status: str) -> None:
        await update_order_row(backend, order_id, status=status)

    return force


@pytest.fixture
def force_created(backend: Backend) -> Any:
    from datetime import datetime

    async def force(order_id: str, created: str) -> None:
        await update_order_row(backend, order_id, created=datetime.fromisoformat(created))

    return force
