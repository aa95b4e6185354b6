"""The wire format (msgspec structs). oas.yaml publishes the same shapes; a test keeps them in step."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from orders_app.domain.orders import Order as DomainOrder
from orders_app.domain.orders import OrderItem as DomainOrderItem
from orders_app.domain.orders import Size, Status

# Upper bounds on everything a client sends: documented in oas.yaml, enforced here and in the schema.
PRODUCT_MAX_LENGTH = 200
ITEMS_MAX = 100
QUANTITY_MAX = 1_000_000
PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 100

# No control characters: PostgreSQL cannot store NUL at all, and none belongs in a product name.
PRODUCT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
Product = Annotated[str, msgspec.Meta(min_length=1, max_length=PRODUCT_MAX_LENGTH, pattern=PRODUCT_PATTERN)]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=QUANTITY_MAX)]


class OrderItem(msgspec.Struct, forbid_unknown_fields=True):
    product: Product
    size: Size
    quantity: Quantity = 1


class CreateOrder(msgspec.Struct, forbid_unknown_fields=True):
    order: Annotated[list[OrderItem], msgspec.Meta(min_length=1, max_length=ITEMS_MAX)]

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
    order: Annotated[list[OrderItem], msgspec.Meta(min_length=1, max_length=ITEMS_MAX)]

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


# Built once: decoding straight into the struct validates every constraint above in one pass.
CREATE_ORDER_DECODER = msgspec.json.Decoder(CreateOrder)
