"""What the servers are measured on: throwaway databases, keys and tokens, seeded orders, wrk's data,
and the check that a server answers the benchmark's requests like the orders API."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.config import PRODUCTS, READER, SEED_ORDERS, SIZES, TOKEN_POOL, BenchError
from bench.servers import Server


@dataclass
class Tokens:
    """Signed with the run's key: readers act for the seeded user (each a distinct jti), writers are
    distinct other users, and one token is for another audience (the answer check expects a 401)."""

    readers: list[str]
    writers: list[str]
    wrong_audience: str


@dataclass
class Prepared:
    """One backend, ready to serve: its scratch and log folders, our servers' environment, the seeded
    order ids, the tokens and the wrk data file that holds both."""

    backend: str
    workdir: Path
    log_dir: Path
    env: dict[str, str]
    data: Path
    ids: list[str]
    tokens: Tokens


@dataclass
class PeerSetup:
    """What the peer needs besides its server: its own database (in `env`) and its wrk data."""

    env: dict[str, str]
    data: Path


@contextlib.contextmanager
def throwaway_database(
    backend: str, workdir: Path, admin_url: str, name: str = "orders", copy_of: str | None = None
) -> Iterator[str]:
    """A new database, empty or a copy of the database at `copy_of`; removed afterwards."""
    from sqlalchemy.engine import make_url

    if backend == "sqlite":
        path = workdir / f"{name}.db"
        if copy_of is not None:
            source = sqlite3.connect(str(make_url(copy_of).database))
            with contextlib.closing(source), contextlib.closing(sqlite3.connect(path)) as copy:
                source.backup(copy)
        yield f"sqlite:///{path}"
        return
    import asyncpg  # type: ignore[import-untyped]

    admin = make_url(admin_url).set(drivername="postgresql")
    name = f"{name}_bench_{uuid.uuid4().hex[:10]}"
    dsn = admin.render_as_string(hide_password=False)
    template = "" if copy_of is None else f' TEMPLATE "{make_url(copy_of).database}"'

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(dsn, timeout=10)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    try:
        asyncio.run(run(f'CREATE DATABASE "{name}"{template}'))
    except (OSError, asyncpg.PostgresError) as error:
        raise BenchError(f"cannot create a database on {admin.render_as_string()}: {error}") from None
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def mint_tokens(keys_dir: Path) -> Tokens:
    from orders_app.auth.dev_tokens import mint_token
    from orders_app.auth.keys import load_private_key
    from orders_app.settings import DEFAULT_AUDIENCE

    private_key = load_private_key(keys_dir / "private_key.pem")
    ttl = 6 * 3600
    readers = [
        mint_token(private_key, subject=READER, audience=DEFAULT_AUDIENCE, ttl_seconds=ttl)
        for _ in range(TOKEN_POOL)
    ]
    writers = [
        mint_token(private_key, subject=f"bench-writer-{i}", audience=DEFAULT_AUDIENCE, ttl_seconds=ttl)
        for i in range(TOKEN_POOL)
    ]
    wrong_audience = mint_token(private_key, subject=READER, audience="https://elsewhere.example/api")
    return Tokens(readers, writers, wrong_audience)


async def seed(db_url: str, count: int) -> list[str]:
    """`count` orders with 1-3 items each for the reader, written through the app's own repository."""
    from orders_app.db.engine import open_database
    from orders_app.db.unit_of_work import SqlUnitOfWork
    from orders_app.domain.orders import Order, OrderItem, Size
    from orders_app.settings import Settings

    rng = random.Random(8)  # noqa: S311 - test data, not security
    database = open_database(Settings(db_url=db_url))
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    ids: list[str] = []
    try:
        async with SqlUnitOfWork(database) as uow:
            await uow.begin_write()
            for i in range(count):
                items = [
                    OrderItem(rng.choice(PRODUCTS), Size(rng.choice(SIZES)), rng.randint(1, 5))
                    for _ in range(rng.randint(1, 3))
                ]
                order = Order.place(READER, items, now=start + dt.timedelta(milliseconds=i))
                await uow.orders.add(order)
                ids.append(str(order.id))
            await uow.commit()
    finally:
        await database.dispose()
    return ids


def write_lua_data(path: Path, readers: list[str], writers: list[str], ids: list[str]) -> None:
    """The tokens and order ids bench/scenario.lua picks from, as Lua tables."""

    def table(values: list[str]) -> str:
        return "{\n" + "".join(f'  "{value}",\n' for value in values) + "}\n"

    path.write_text(
        f"bench_readers = {table(readers)}bench_writers = {table(writers)}bench_ids = {table(ids)}"
    )


def seed_peer(backend: str, peer: PeerSetup, tokens: Tokens) -> list[str]:
    """The peer's database gets the same shape of data as the app's, through the peer's own models."""
    from bench.peer.seed import seed as seed_peer_orders

    print(f"[{backend}] seeding the peer with {SEED_ORDERS} orders …", flush=True)
    ids = asyncio.run(seed_peer_orders(peer.env["DB_URL"], READER, SEED_ORDERS, PRODUCTS, SIZES))
    write_lua_data(peer.data, tokens.readers, tokens.writers, ids)
    return ids


def check_answers(tokens: Tokens, *targets: tuple[Server, list[str]]) -> None:
    """Each server answers the benchmark's requests like the orders API (bench/peer/check.py), or no run."""
    from bench.peer.check import problems as wrong_answers

    for server, ids in targets:
        found = wrong_answers(
            server.url,
            reader=tokens.readers[0],
            writer=tokens.writers[0],
            wrong_audience=tokens.wrong_audience,
            ids=ids,
        )
        if found:
            raise BenchError(f"{server.name} does not answer like the orders API: {'; '.join(found)}")
