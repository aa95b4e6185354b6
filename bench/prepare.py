"""What the servers are measured on: throwaway databases, keys and tokens, seeded orders, wrk's data,
and the check that a server answers the benchmark's requests like the orders API."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.config import PRODUCTS, READER, SEED_ORDERS, SIZES, TOKEN_POOL, BenchError
from bench.servers import Server


@dataclass
class PeerSetup:
    """What the peer needs besides its server: its own database (in `env`) and the tokens to use; and
    what checking that the app and the peer answer alike needs."""

    env: dict[str, str]
    data: Path
    readers: list[str]
    writers: list[str]
    wrong_audience: str
    app_ids: list[str]


@contextlib.contextmanager
def throwaway_database(backend: str, workdir: Path, admin_url: str, name: str = "orders") -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / f'{name}.db'}"
        return
    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy.engine import make_url

    admin = make_url(admin_url).set(drivername="postgresql")
    name = f"{name}_bench_{uuid.uuid4().hex[:10]}"
    dsn = admin.render_as_string(hide_password=False)

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(dsn, timeout=10)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    try:
        asyncio.run(run(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        raise BenchError(f"cannot create a database on {admin.render_as_string()}: {error}") from None
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def mint_tokens(keys_dir: Path) -> tuple[list[str], list[str]]:
    """Readers act for the seeded user (each token a distinct jti); writers are distinct other users."""
    from orders_app.auth.keys import load_private_key
    from orders_app.auth.tokens import mint_token
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
    return readers, writers


def wrong_audience_token(keys_dir: Path) -> str:
    from orders_app.auth.keys import load_private_key
    from orders_app.auth.tokens import mint_token

    private_key = load_private_key(keys_dir / "private_key.pem")
    return mint_token(private_key, subject=READER, audience="https://elsewhere.example/api")


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


def seed_peer(backend: str, peer: PeerSetup) -> list[str]:
    """The peer's database gets the same shape of data as the app's, through the peer's own models."""
    from bench.peer.seed import seed as seed_peer_orders

    print(f"[{backend}] seeding the peer with {SEED_ORDERS} orders …", flush=True)
    ids = asyncio.run(seed_peer_orders(peer.env["DB_URL"], READER, SEED_ORDERS, PRODUCTS, SIZES))
    write_lua_data(peer.data, peer.readers, peer.writers, ids)
    return ids


def check_answers(peer: PeerSetup, *targets: tuple[Server, list[str]]) -> None:
    """The app and the peer answer the benchmark's requests alike (bench/peer/check.py), or no run."""
    from bench.peer.check import problems as wrong_answers

    for server, ids in targets:
        found = wrong_answers(
            server.url,
            reader=peer.readers[0],
            writer=peer.writers[0],
            wrong_audience=peer.wrong_audience,
            ids=ids,
        )
        if found:
            raise BenchError(f"{server.name} does not answer like the orders API: {'; '.join(found)}")
