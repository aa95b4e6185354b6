"""The wire format (msgspec structs). oas.yaml publishes the same shapes; a test keeps them in step."""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast
from uuid import UUID

import msgspec
from litestar.dto import MsgspecDTO
from litestar.exceptions import HTTPException, ValidationException

if TYPE_CHECKING:
    from litestar import Request

from orders_app.domain.limits import (
    ITEMS_PER_ORDER_MAX,
    ITEMS_PER_ORDER_MIN,
    PRODUCT_MAX_LENGTH,
    PRODUCT_MIN_LENGTH,
    QUANTITY_MAX,
    QUANTITY_MIN,
)
from orders_app.domain.orders import Order as DomainOrder
from orders_app.domain.orders import OrderItem as DomainOrderItem
from orders_app.domain.orders import Size, Status

# No control characters: PostgreSQL cannot store NUL at all, and none belongs in a product name.
PRODUCT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
Product = Annotated[
    str, msgspec.Meta(min_length=PRODUCT_MIN_LENGTH, max_length=PRODUCT_MAX_LENGTH, pattern=PRODUCT_PATTERN)
]
Quantity = Annotated[int, msgspec.Meta(ge=QUANTITY_MIN, le=QUANTITY_MAX)]


class OrderItem(msgspec.Struct, forbid_unknown_fields=True):
    product: Product
    size: Size
    quantity: Quantity = 1


Items = Annotated[
    list[OrderItem], msgspec.Meta(min_length=ITEMS_PER_ORDER_MIN, max_length=ITEMS_PER_ORDER_MAX)
]


class CreateOrder(msgspec.Struct, forbid_unknown_fields=True):
    order: Items

    def __post_init__(self) -> None:
        # Python's `$` also matches before a final newline, so the pattern alone would let "latte\n" in.
        # Checked here, on the request, rather than on OrderItem: responses build OrderItems too, from
        # stored orders, and would pay for the check on every item of every page.
        for index, item in enumerate(self.order):
            if _CONTROL_CHARACTERS.search(item.product):
                raise ValueError(f"order[{index}].product must not contain control characters")

    def domain_items(self) -> list[DomainOrderItem]:
        return [DomainOrderItem(item.product, item.size, item.quantity) for item in self.order]


# Responses forbid unknown fields too, only so that their published schema says
# `additionalProperties: false`: existing clients validate orders that strictly.
class Order(msgspec.Struct, forbid_unknown_fields=True):
    id: UUID
    created: Annotated[datetime, msgspec.Meta(tz=True)]
    status: Status
    order: Items

    @classmethod
    def from_domain(cls, order: DomainOrder) -> Order:
        return cls(
            id=order.id,
            created=order.created,
            status=order.status,
            order=[OrderItem(item.product, item.size, item.quantity) for item in order.items],
        )


class OrderList(msgspec.Struct, forbid_unknown_fields=True):
    orders: list[Order]


class Health(msgspec.Struct, forbid_unknown_fields=True):
    status: str


# The one media type request bodies may declare; without a Content-Type a body is read as JSON too,
# as the reference service did (oas.yaml says so).
JSON_MEDIA_TYPE = "application/json"
UNSUPPORTED_MEDIA_TYPE = "request bodies must be application/json"

T = TypeVar("T", bound=msgspec.Struct)


class StrictJson(MsgspecDTO[T]):
    """How a request body becomes a handler's `data`: msgspec decodes the bytes strictly into the struct.

    Litestar's own decoding converts in msgspec's lax mode (strict=False), which would read
    `"quantity": "1"` as 1; the contract refuses that. A DTO is Litestar's extension point for it:
    the handler still declares `data: CreateOrder`, Litestar still answers an empty body itself, and
    every failure is a ValidationException (or the 415) for the one error map in api/errors.py.
    """

    def decode_bytes(self, value: bytes) -> Any:
        # Bodies only arrive on HTTP requests, never on the other kind of connection (a websocket).
        media_type, _ = cast("Request[Any, Any, Any]", self.asgi_connection).content_type
        if media_type and media_type != JSON_MEDIA_TYPE:
            raise HTTPException(status_code=415, detail=UNSUPPORTED_MEDIA_TYPE)
        try:
            return _decoder(self.model_type).decode(value)
        except msgspec.ValidationError as error:
            message, _, location = str(error).partition(" - at `")
            raise _body_error(message, key=location.rstrip("`").removeprefix("$.") or None) from None
        except msgspec.DecodeError as error:
            raise _body_error(f"JSON is malformed: {error}") from None
        except UnicodeDecodeError:
            # msgspec reports bytes that are not UTF-8 inside a string this way, not as a DecodeError.
            raise _body_error("JSON is malformed: a string is not valid UTF-8") from None


@functools.cache
def _decoder(model: type[T]) -> msgspec.json.Decoder[T]:
    return msgspec.json.Decoder(model)


def _body_error(message: str, key: str | None = None) -> ValidationException:
    entry = {"message": message, "source": "body"}
    if key:
        entry["key"] = key
    return ValidationException("Validation failed", extra=[entry])
