"""The orders resource. Controllers translate HTTP to use-case calls and back; nothing more."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ValidationException
from litestar.params import FromPath, QueryParameter

from orders_app.api.auth import current_owner, require_bearer_token
from orders_app.api.schemas import (
    CREATE_ORDER_DECODER,
    PAGE_SIZE_DEFAULT,
    PAGE_SIZE_MAX,
    CreateOrder,
    Order,
    OrderList,
)
from orders_app.db.unit_of_work import SqlUnitOfWork
from orders_app.service import orders as use_cases

# Handler parameters, named for what they carry.
Owner = NamedDependency[str]
Work = NamedDependency[SqlUnitOfWork]
# Parsed by hand (parse_order_id) so that a malformed id is a 422, as the contract says, not a 404.
OrderId = FromPath[str]
# The body is decoded by msgspec strictly ("1" is not a quantity), straight from the raw bytes.
CreateOrderBody = NamedDependency[CreateOrder]


async def decode_create_order(request: Request[Any, Any, Any]) -> CreateOrder:
    raw = await request.body()
    if not raw:
        raise _body_error("a JSON request body is required")
    try:
        return CREATE_ORDER_DECODER.decode(raw)
    except msgspec.ValidationError as error:
        message, _, location = str(error).partition(" - at `")
        raise _body_error(message, key=location.rstrip("`").removeprefix("$.") or None) from None
    except msgspec.DecodeError as error:
        raise _body_error(f"JSON is malformed: {error}") from None


def _body_error(message: str, key: str | None = None) -> ValidationException:
    entry = {"message": message, "source": "body"}
    if key:
        entry["key"] = key
    return ValidationException("Validation failed", extra=[entry])


def provide_unit_of_work(state: State) -> SqlUnitOfWork:
    return SqlUnitOfWork(state.database)


def parse_order_id(order_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(order_id)
    except ValueError:
        raise ValidationException(
            "Validation failed",
            extra=[{"message": "order_id must be a UUID", "key": "order_id", "source": "path"}],
        ) from None


def encode_cursor(after: tuple[datetime, uuid.UUID]) -> str:
    created, order_id = after
    raw = f"{created.isoformat()}|{order_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, _, order_id = raw.partition("|")
        parsed = datetime.fromisoformat(created)
        if parsed.tzinfo is None:
            raise ValueError("naive timestamp")
        return parsed, uuid.UUID(order_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationException(
            "Validation failed",
            extra=[{"message": "cursor is not one this API issued", "key": "cursor", "source": "query"}],
        ) from None


class OrdersController(Controller):
    path = "/orders"
    guards = (require_bearer_token,)
    # Litestar reads this class attribute as configuration; it is never mutated.
    dependencies = {  # noqa: RUF012
        "owner": Provide(current_owner, sync_to_thread=False),
        "uow": Provide(provide_unit_of_work, sync_to_thread=False),
        "new_order": Provide(decode_create_order),
    }

    @get(operation_id="getOrders")
    async def list_orders(
        self,
        owner: Owner,
        uow: Work,
        cancelled: Annotated[bool | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=PAGE_SIZE_MAX)] = PAGE_SIZE_DEFAULT,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> Response[OrderList]:
        after = decode_cursor(cursor) if cursor else None
        page = await use_cases.list_orders(uow, owner, cancelled=cancelled, limit=limit, after=after)
        headers = {}
        if page.next_after is not None:
            query: dict[str, Any] = {"limit": limit, "cursor": encode_cursor(page.next_after)}
            if cancelled is not None:
                query["cancelled"] = "true" if cancelled else "false"
            headers["Link"] = f'</orders?{urlencode(query)}>; rel="next"'
        return Response(
            OrderList(orders=[Order.from_domain(order) for order in page.orders]), headers=headers
        )

    @post(operation_id="createOrder", status_code=201)
    async def create_order(self, owner: Owner, uow: Work, new_order: CreateOrderBody) -> Order:
        order = await use_cases.place_order(uow, owner, new_order.domain_items())
        return Order.from_domain(order)

    @get("/{order_id:str}", operation_id="getOrder")
    async def get_order(self, owner: Owner, uow: Work, order_id: OrderId) -> Order:
        order = await use_cases.get_order(uow, owner, parse_order_id(order_id))
        return Order.from_domain(order)

    @put("/{order_id:str}", operation_id="updateOrder")
    async def update_order(
        self,
        owner: Owner,
        uow: Work,
        order_id: OrderId,
        new_order: CreateOrderBody,
    ) -> Order:
        order = await use_cases.update_order(uow, owner, parse_order_id(order_id), new_order.domain_items())
        return Order.from_domain(order)

    @delete("/{order_id:str}", operation_id="deleteOrder", status_code=204)
    async def delete_order(self, owner: Owner, uow: Work, order_id: OrderId) -> None:
        await use_cases.delete_order(uow, owner, parse_order_id(order_id))

    @post("/{order_id:str}/pay", operation_id="payOrder", status_code=200)
    async def pay_order(self, owner: Owner, uow: Work, order_id: OrderId) -> Order:
        order = await use_cases.pay_order(uow, owner, parse_order_id(order_id))
        return Order.from_domain(order)

    @post("/{order_id:str}/cancel", operation_id="cancelOrder", status_code=200)
    async def cancel_order(self, owner: Owner, uow: Work, order_id: OrderId) -> Order:
        order = await use_cases.cancel_order(uow, owner, parse_order_id(order_id))
        return Order.from_domain(order)
