"""Seed the peer's database through its own models, with the same shape of data as the app's seed."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bench.peer.app import ASYNC_DRIVERS
from bench.peer.models import OrderItemModel, OrderModel


async def seed(
    db_url: str, owner: str, count: int, products: tuple[str, ...], sizes: tuple[str, ...]
) -> list[str]:
    """`count` orders of `owner` with 1-3 items each, 1 ms apart; the peer has created the tables."""
    rng = random.Random(8)  # noqa: S311 - test data, not security
    url = make_url(db_url)
    engine = create_async_engine(url.set(drivername=ASYNC_DRIVERS[url.get_backend_name()]))
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    orders = [
        OrderModel(
            owner=owner,
            created_at=start + dt.timedelta(milliseconds=i),
            items=[
                OrderItemModel(
                    product=rng.choice(products), size=rng.choice(sizes), quantity=rng.randint(1, 5)
                )
                for _ in range(rng.randint(1, 3))
            ],
        )
        for i in range(count)
    ]
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            session.add_all(orders)
            await session.commit()
    finally:
        await engine.dispose()
    return [str(order.id) for order in orders]
