"""The orders resource. Controllers translate HTTP to use-case calls and back; nothing more."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from orders_app.api.auth import BearerAuthentication
from orders_app.api.conditions import etag, expected_version, none_match
from orders_app.api.idempotency import idempotency_key, write_once
from orders_app.api.schemas import CreateOrder, Order, OrderList, StrictJson
from orders_app.db.unit_of_work import SqlUnitOfWork
from orders_app.domain.limits import CURSOR_MAX_LENGTH, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, PAGE_SIZE_MIN
from orders_app.domain.orders import ExpectedVersion
from orders_app.domain.orders import Order as DomainOrder
from orders_app.edge.subject_limit import SubjectConcurrency
from orders_app.service import orders as use_cases
from orders_app.service.cursor import decode_cursor, encode_cursor
from orders_app.service.orders import OrderWrite
from orders_app.service.ports import OrderEvents

# BearerAuthentication has put the verified token's subject here; the handlers read it as the orders' owner.
AuthenticatedRequest = Request[str, Any, Any]
# The path segment is matched as a string and converted by the handler's signature, so that a
# malformed id is a 422 naming `order_id` (as the contract says), not the router's 404.
ORDER_PATH = "/{order_id:str}"
OrderId = FromPath[UUID]
# A new one per request, from the `uow` dependency that create_app provides.
UnitOfWork = NamedDependency[SqlUnitOfWork]
# A string with a pattern rather than `bool | None`: Litestar's lax conversion would read
# `cancelled=null` as absent and `1` or `True` as true; the contract's booleans are `true` and `false`.
CancelledFilter = Annotated[str | None, QueryParameter(pattern="^(true|false)$")]
PageSize = Annotated[int, QueryParameter(ge=PAGE_SIZE_MIN, le=PAGE_SIZE_MAX)]
Cursor = Annotated[str | None, QueryParameter(max_length=CURSOR_MAX_LENGTH)]


class OrdersController(Controller):
    path = "/orders"
    # Litestar runs these in order: the subject is verified, then held to its share of MAX_CONCURRENCY.
    middleware = (BearerAuthentication, SubjectConcurrency)
    # Bodies are decoded by StrictJson; responses are the handlers' structs, encoded by Litestar.
    dto = StrictJson[CreateOrder]
    return_dto = None

    @get(operation_id="getOrders")
    async def list_orders(
        self,
        request: AuthenticatedRequest,
        uow: UnitOfWork,
        cancelled: CancelledFilter = None,
        limit: PageSize = PAGE_SIZE_DEFAULT,
        cursor: Cursor = None,
    ) -> Response[OrderList]:
        only_cancelled = None if cancelled is None else cancelled == "true"
        after = decode_cursor(cursor) if cursor else None
        page = await use_cases.list_orders(
            uow, request.user, cancelled=only_cancelled, limit=limit, after=after
        )
        orders = OrderList(orders=[Order.from_domain(order) for order in page.orders])
        headers = {}
        if page.next_after is not None:
            query: dict[str, Any] = {"limit": limit, "cursor": encode_cursor(page.next_after)}
            if cancelled is not None:
                query["cancelled"] = cancelled
            headers["Link"] = f'</orders?{urlencode(query)}>; rel="next"'
        return Response(orders, headers=headers)

    @post(operation_id="createOrder", status_code=201)
    async def create_order(
        self,
        request: AuthenticatedRequest,
        uow: UnitOfWork,
        data: JSONBody[CreateOrder],
    ) -> Response[Order] | Response[bytes]:
        key = idempotency_key(request)
        if key is not None:
            placing = use_cases.placing(request.user, data.domain_items())
            return await write_once(request, uow, key, placing, _events(request))
        order = await use_cases.place_order(uow, request.user, data.domain_items(), _events(request))
        return _one(order, status=201)

    @get(ORDER_PATH, operation_id="getOrder")
    async def get_order(
        self, request: AuthenticatedRequest, uow: UnitOfWork, order_id: OrderId
    ) -> Response[Order] | Response[None]:
        order = await use_cases.get_order(uow, request.user, order_id)
        if none_match(request, order.version):
            return Response(None, status_code=304, headers={"ETag": etag(order.version)})
        return _one(order)

    @put(ORDER_PATH, operation_id="updateOrder")
    async def update_order(
        self, request: AuthenticatedRequest, uow: UnitOfWork, order_id: OrderId, data: JSONBody[CreateOrder]
    ) -> Response[Order]:
        expected = expected_version(request)
        return _one(await use_cases.update_order(uow, request.user, order_id, data.domain_items(), expected))

    @delete(ORDER_PATH, operation_id="deleteOrder", status_code=204)
    async def delete_order(self, request: AuthenticatedRequest, uow: UnitOfWork, order_id: OrderId) -> None:
        await use_cases.delete_order(uow, request.user, order_id, expected_version(request))

    @post(f"{ORDER_PATH}/pay", operation_id="payOrder", status_code=200)
    async def pay_order(
        self, request: AuthenticatedRequest, uow: UnitOfWork, order_id: OrderId
    ) -> Response[Order] | Response[bytes]:
        return await _status_change(request, uow, use_cases.paying, order_id)

    @post(f"{ORDER_PATH}/cancel", operation_id="cancelOrder", status_code=200)
    async def cancel_order(
        self, request: AuthenticatedRequest, uow: UnitOfWork, order_id: OrderId
    ) -> Response[Order] | Response[bytes]:
        return await _status_change(request, uow, use_cases.cancelling, order_id)


StatusChange = Callable[[str, UUID, ExpectedVersion | None], OrderWrite]


async def _status_change(
    request: AuthenticatedRequest, uow: SqlUnitOfWork, change: StatusChange, order_id: UUID
) -> Response[Order] | Response[bytes]:
    """Pay or cancel: conditional on If-Match when sent, run once per Idempotency-Key when sent."""
    write = change(request.user, order_id, expected_version(request))
    key = idempotency_key(request)
    if key is not None:
        return await write_once(request, uow, key, write, _events(request))
    return _one(await use_cases.write_order(uow, write, _events(request)))


def _one(order: DomainOrder, status: int = 200) -> Response[Order]:
    """One order on the wire, with its version as the ETag."""
    return Response(Order.from_domain(order), status_code=status, headers={"ETag": etag(order.version)})


def _events(request: AuthenticatedRequest) -> OrderEvents:
    """What is told of each committed change (metrics): the app's one observer, kept in its state.

    Not a second dependency: Litestar resolves two dependencies of one handler concurrently, in an
    anyio task group per request: 6% of a POST's main-thread time (docs/bench.md, "Litestar: guards,
    hooks and dependencies").
    """
    events: OrderEvents = request.app.state.order_events
    return events
