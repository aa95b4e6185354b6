"""The peer application, served exactly like the orders app (orders_app.cli.run_server).

Run: DB_URL=... JWT_PUBLIC_KEY_FILE=... python -m bench.peer --port 8082 [--workers N]
"""

from __future__ import annotations

import argparse
import logging
from typing import Annotated, Any
from uuid import UUID

from advanced_alchemy.extensions.litestar import (
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
)
from advanced_alchemy.filters import LimitOffset, OrderBy
from litestar import Controller, Litestar, Request, get, post
from litestar.di import Provide
from litestar.params import Parameter
from litestar.security.jwt import Token
from sqlalchemy.engine import make_url

from bench.peer.auth import User, build_jwt_auth
from bench.peer.models import OrderItemModel, OrderModel
from bench.peer.schemas import CreateOrder, Order, OrderList
from bench.peer.services import OrderService, provide_orders_service
from orders_app.settings import Settings

ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


class OrderController(Controller):
    path = "/orders"
    dependencies = {"orders_service": Provide(provide_orders_service)}  # noqa: RUF012 - Litestar's API

    @post()
    async def create_order(
        self, request: Request[User, Token, Any], orders_service: OrderService, data: CreateOrder
    ) -> Order:
        items = [OrderItemModel(product=i.product, size=i.size, quantity=i.quantity) for i in data.order]
        order = await orders_service.create(OrderModel(owner=request.user.id, items=items))
        return orders_service.to_schema(order, schema_type=Order)

    @get("/{order_id:uuid}")
    async def get_order(
        self, request: Request[User, Token, Any], orders_service: OrderService, order_id: UUID
    ) -> Order:
        order = await orders_service.get_one(id=order_id, owner=request.user.id)
        return orders_service.to_schema(order, schema_type=Order)

    @get()
    async def list_orders(
        self,
        request: Request[User, Token, Any],
        orders_service: OrderService,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 50,
        offset: Annotated[int, Parameter(ge=0)] = 0,
    ) -> OrderList:
        orders = await orders_service.list(
            LimitOffset(limit=limit, offset=offset),
            OrderBy(field_name="created_at", sort_order="desc"),
            owner=request.user.id,
        )
        return OrderList(orders=orders_service.to_schema(orders, schema_type=Order).items)


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


def create_app() -> Litestar:
    settings = Settings.from_env()
    url = make_url(settings.db_url)
    alchemy_config = SQLAlchemyAsyncConfig(
        connection_string=url.set(drivername=ASYNC_DRIVERS[url.get_backend_name()]).render_as_string(
            hide_password=False
        ),
        before_send_handler="autocommit",
        session_config=AsyncSessionConfig(expire_on_commit=False),
        create_all=True,
    )
    jwt_auth = build_jwt_auth(settings)
    return Litestar(
        route_handlers=[OrderController, health],
        plugins=[SQLAlchemyPlugin(config=alchemy_config)],
        on_app_init=[jwt_auth.on_app_init],
    )


def main() -> None:
    from orders_app.cli import run_server

    parser = argparse.ArgumentParser(prog="python -m bench.peer")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    # The same root logging set-up, server options and stop behaviour as `orders-app serve`.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    run_server("bench.peer.app:create_app", args.host, args.port, args.workers, Settings.from_env())


if __name__ == "__main__":
    main()
