"""The unit of work commits explicitly and rolls back on any error: no partial order ever persists.

These call the use cases directly over a real database (no HTTP), with rows the API would refuse,
so that the database's own constraints are what fails half-way through an operation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from orders_app.db.engine import Database, open_database
from orders_app.db.tables import order_items_table, orders_table
from orders_app.db.unit_of_work import SqlUnitOfWork
from orders_app.domain.limits import (
    OWNER_MAX_LENGTH,
    PRODUCT_MAX_LENGTH,
    PRODUCT_MIN_LENGTH,
    QUANTITY_MAX,
    QUANTITY_MIN,
)
from orders_app.domain.orders import OrderItem, Size
from orders_app.service import orders as use_cases
from orders_app.settings import Settings
from tests.conftest import Backend
from tests.factories import new_user


@pytest.fixture
async def database(backend: Backend) -> AsyncIterator[Database]:
    database = open_database(Settings(db_url=backend.url))
    yield database
    await database.dispose()


async def _count_orders(database: Database, owner: str) -> int:
    async with database.engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).where(orders_table.c.owner == owner)) or 0)


async def test_a_failure_after_the_order_row_rolls_the_whole_order_back(database: Database) -> None:
    owner = new_user()
    # The order row inserts fine; the second item breaks the schema's quantity check.
    items = [OrderItem("latte", Size.SMALL, 1), OrderItem("latte", Size.SMALL, 0)]
    with pytest.raises(IntegrityError):
        await use_cases.place_order(SqlUnitOfWork(database), owner, items)
    assert await _count_orders(database, owner) == 0


async def test_a_failed_update_keeps_the_previous_items(database: Database) -> None:
    owner = new_user()
    order = await use_cases.place_order(SqlUnitOfWork(database), owner, [OrderItem("latte", Size.BIG, 2)])
    # PostgreSQL refuses the over-long product by its type (DataError), SQLite by the length check.
    with pytest.raises(DBAPIError):
        await use_cases.update_order(
            SqlUnitOfWork(database),
            owner,
            order.id,
            [OrderItem("x" * (PRODUCT_MAX_LENGTH + 1), Size.SMALL, 1)],
        )
    reloaded = await use_cases.get_order(SqlUnitOfWork(database), owner, order.id)
    assert reloaded.items == [OrderItem("latte", Size.BIG, 2)]


async def test_nothing_is_kept_without_commit(database: Database) -> None:
    owner = new_user()
    from orders_app.domain.orders import Order

    order = Order.place(owner, [OrderItem("latte", Size.SMALL)])
    async with SqlUnitOfWork(database) as uow:
        await uow.begin_write()
        await uow.orders.add(order)
        # Leaving the block without commit() abandons the work.
    assert await _count_orders(database, owner) == 0


async def test_deleting_an_order_cascades_to_its_items(database: Database) -> None:
    owner = new_user()
    order = await use_cases.place_order(
        SqlUnitOfWork(database), owner, [OrderItem("a", Size.SMALL), OrderItem("b", Size.BIG)]
    )
    await use_cases.delete_order(SqlUnitOfWork(database), owner, order.id)
    async with database.engine.connect() as connection:
        remaining = await connection.scalar(
            select(func.count()).where(order_items_table.c.order_id == order.id)
        )
    assert remaining == 0


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("size", "huge"),
        ("quantity", QUANTITY_MIN - 1),
        ("quantity", QUANTITY_MAX + 1),
        ("product", "x" * (PRODUCT_MIN_LENGTH - 1)),
    ],
)
async def test_the_schema_itself_rejects_out_of_range_items(
    database: Database, column: str, value: object
) -> None:
    owner = new_user()
    order = await use_cases.place_order(SqlUnitOfWork(database), owner, [OrderItem("a", Size.SMALL)])
    row = {"order_id": order.id, "position": 1, "product": "b", "size": "small", "quantity": 1}
    row[column] = value
    with pytest.raises(IntegrityError):
        async with database.engine.begin() as connection:
            await connection.execute(order_items_table.insert().values(**row))


async def test_the_schema_stores_a_row_at_every_bound_and_refuses_a_longer_owner(database: Database) -> None:
    owner = new_user().ljust(OWNER_MAX_LENGTH, "o")
    at_the_bounds = [
        OrderItem("p" * PRODUCT_MAX_LENGTH, Size.BIG, QUANTITY_MAX),
        OrderItem("p" * PRODUCT_MIN_LENGTH, Size.SMALL, QUANTITY_MIN),
    ]
    order = await use_cases.place_order(SqlUnitOfWork(database), owner, at_the_bounds)
    assert (await use_cases.get_order(SqlUnitOfWork(database), owner, order.id)).items == at_the_bounds
    # As for products: PostgreSQL refuses it by the column's type, SQLite by the length check.
    with pytest.raises(DBAPIError):
        await use_cases.place_order(SqlUnitOfWork(database), owner + "o", [OrderItem("a", Size.SMALL)])


async def test_the_schema_rejects_unknown_statuses_and_orphan_items(database: Database) -> None:
    import uuid

    with pytest.raises(IntegrityError):
        async with database.engine.begin() as connection:
            await connection.execute(
                order_items_table.insert().values(
                    order_id=uuid.uuid4(), position=0, product="a", size="small", quantity=1
                )
            )
    owner = new_user()
    order = await use_cases.place_order(SqlUnitOfWork(database), owner, [OrderItem("a", Size.SMALL)])
    with pytest.raises(IntegrityError):
        async with database.engine.begin() as connection:
            await connection.execute(
                orders_table.update().where(orders_table.c.id == order.id).values(status="lost")
            )


async def test_writes_and_locking_reads_are_refused_before_begin_write(database: Database) -> None:
    """Without begin_write() a unit of work reads outside a transaction: a write there would not be atomic."""
    from orders_app.domain.orders import Order

    owner = new_user()
    order = await use_cases.place_order(SqlUnitOfWork(database), owner, [OrderItem("a", Size.SMALL)])
    async with SqlUnitOfWork(database) as uow:
        with pytest.raises(RuntimeError, match="begin_write"):
            await uow.orders.add(Order.place(owner, [OrderItem("b", Size.SMALL)]))
        with pytest.raises(RuntimeError, match="begin_write"):
            await uow.orders.get(owner, order.id, for_update=True)
        assert await uow.orders.get(owner, order.id) == order
        with pytest.raises(RuntimeError, match="before the unit of work's first statement"):
            await uow.begin_write()
    assert await _count_orders(database, owner) == 1


async def test_replacing_items_with_fewer_and_more_keeps_their_order(database: Database) -> None:
    owner = new_user()
    three = [OrderItem("a", Size.SMALL), OrderItem("b", Size.MEDIUM, 2), OrderItem("c", Size.BIG, 3)]
    order = await use_cases.place_order(SqlUnitOfWork(database), owner, three)
    for items in ([OrderItem("z", Size.BIG, 9)], [*reversed(three), OrderItem("d", Size.SMALL, 4)]):
        await use_cases.update_order(SqlUnitOfWork(database), owner, order.id, items)
        assert (await use_cases.get_order(SqlUnitOfWork(database), owner, order.id)).items == items
        page = await use_cases.list_orders(SqlUnitOfWork(database), owner, cancelled=None, limit=5)
        assert page.orders[0].items == items
