"""The orders resource. Controllers translate HTTP to use-case calls and back; nothing more."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.exceptions import ValidationException
from litestar.params import FromPath, QueryParameter
from litestar.types import Receive, Scope, Send

from orders_app.api.auth import BearerAuthentication
from orders_app.api.schemas import (
    CREATE_ORDER_DECODER,
    PAGE_SIZE_DEFAULT,
    PAGE_SIZE_MAX,
    CreateOrder,
    Order,
    OrderList,
)
from orders_app.db.engine import Database
from orders_app.db.unit_of_work import SqlUnitOfWork
from orders_app.service import orders as use_cases
from orders_app.service.ports import OrderEvents

# Parsed by hand (parse_order_id) so that a malformed id is a 422, as the contract says, not a 404.
OrderId = FromPath[str]
# BearerAuthentication has put the verified token's subject here; the handlers read it as the orders' owner.
AuthenticatedRequest = Request[str, Any, Any]


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


_ENCODE = msgspec.json.Encoder().encode


class JsonResponse:
    """A finished JSON response, returned by a handler as a plain ASGI application.

    Litestar sends an ASGI app returned by a handler as it is (documented under "returning ASGI
    applications"). Building a Litestar Response instead (its header container, media-type and
    encoder resolution) cost about as much as the order's own database read (docs/bench.md). The
    bodies are msgspec-encoded structs, byte for byte what Litestar's msgspec encoder makes of them.
    """

    __slots__ = ("_body", "_start")

    def __init__(
        self, body: msgspec.Struct, *, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        encoded = _ENCODE(body)
        raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(encoded)).encode()),
        ]
        raw_headers.extend(
            (name.lower().encode(), value.encode("latin-1")) for name, value in (headers or {}).items()
        )
        self._start = {"type": "http.response.start", "status": status, "headers": raw_headers}
        self._body = {"type": "http.response.body", "body": encoded, "more_body": False}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(self._start)  # type: ignore[arg-type]
        await send(self._body)  # type: ignore[arg-type]


def unit_of_work(request: AuthenticatedRequest) -> SqlUnitOfWork:
    # Built in the handler rather than injected: Litestar's dependency resolution cost more per
    # request than the unit of work itself.
    database: Database = request.app.state.database
    return SqlUnitOfWork(database)


def order_events(request: AuthenticatedRequest) -> OrderEvents:
    events: OrderEvents = request.app.state.order_events
    return events


def parse_order_id(order_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(order_id)
    except ValueError:
        raise ValidationException(
            "Validation failed",
            extra=[{"message": "order_id must be a UUID", "key": "order_id", "source": "path"}],
        ) from None


def parse_flag(name: str, raw: str | None) -> bool | None:
    """A boolean query parameter as the contract serialises it: `true`, `false`, or absent."""
    if raw is None:
        return None
    if raw in ("true", "false"):
        return raw == "true"
    raise ValidationException(
        "Validation failed",
        extra=[{"message": f"{name} must be true or false", "key": name, "source": "query"}],
    )


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
    middleware = (BearerAuthentication,)

    @get(operation_id="getOrders")
    async def list_orders(
        self,
        request: AuthenticatedRequest,
        # Parsed by hand (parse_flag): as `bool | None`, Litestar would read "cancelled=null" as absent.
        cancelled: Annotated[str | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=PAGE_SIZE_MAX)] = PAGE_SIZE_DEFAULT,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> JsonResponse:
        only_cancelled = parse_flag("cancelled", cancelled)
        after = decode_cursor(cursor) if cursor else None
        page = await use_cases.list_orders(
            unit_of_work(request), request.user, cancelled=only_cancelled, limit=limit, after=after
        )
        headers = {}
        if page.next_after is not None:
            query: dict[str, Any] = {"limit": limit, "cursor": encode_cursor(page.next_after)}
            if only_cancelled is not None:
                query["cancelled"] = "true" if only_cancelled else "false"
            headers["Link"] = f'</orders?{urlencode(query)}>; rel="next"'
        return JsonResponse(
            OrderList(orders=[Order.from_domain(order) for order in page.orders]), headers=headers
        )

    @post(operation_id="createOrder", status_code=201)
    async def create_order(self, request: AuthenticatedRequest) -> JsonResponse:
        new_order = await decode_create_order(request)
        order = await use_cases.place_order(
            unit_of_work(request), request.user, new_order.domain_items(), order_events(request)
        )
        return JsonResponse(Order.from_domain(order), status=201)

    @get("/{order_id:str}", operation_id="getOrder")
    async def get_order(self, request: AuthenticatedRequest, order_id: OrderId) -> JsonResponse:
        order = await use_cases.get_order(unit_of_work(request), request.user, parse_order_id(order_id))
        return JsonResponse(Order.from_domain(order))

    @put("/{order_id:str}", operation_id="updateOrder")
    async def update_order(self, request: AuthenticatedRequest, order_id: OrderId) -> JsonResponse:
        order_uuid = parse_order_id(order_id)
        new_order = await decode_create_order(request)
        order = await use_cases.update_order(
            unit_of_work(request), request.user, order_uuid, new_order.domain_items()
        )
        return JsonResponse(Order.from_domain(order))

    @delete("/{order_id:str}", operation_id="deleteOrder", status_code=204)
    async def delete_order(self, request: AuthenticatedRequest, order_id: OrderId) -> None:
        await use_cases.delete_order(unit_of_work(request), request.user, parse_order_id(order_id))

    @post("/{order_id:str}/pay", operation_id="payOrder", status_code=200)
    async def pay_order(self, request: AuthenticatedRequest, order_id: OrderId) -> JsonResponse:
        order = await use_cases.pay_order(
            unit_of_work(request), request.user, parse_order_id(order_id), order_events(request)
        )
        return JsonResponse(Order.from_domain(order))

    @post("/{order_id:str}/cancel", operation_id="cancelOrder", status_code=200)
    async def cancel_order(self, request: AuthenticatedRequest, order_id: OrderId) -> JsonResponse:
        order = await use_cases.cancel_order(
            unit_of_work(request), request.user, parse_order_id(order_id), order_events(request)
        )
        return JsonResponse(Order.from_domain(order))
