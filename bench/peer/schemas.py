"""The orders API's wire format as msgspec structs (the same JSON as oas.yaml's, for the three routes)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

import msgspec


class Size(StrEnum):
    SMALL = "small"
    MEDIUM = "medium"
    BIG = "big"


class Status(StrEnum):
    CREATED = "created"
    PAID = "paid"
    PROGRESS = "progress"
    CANCELLED = "cancelled"
    DISPATCHED = "dispatched"
    DELIVERED = "delivered"


class OrderItem(msgspec.Struct):
    product: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    size: Size
    quantity: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 1


class CreateOrder(msgspec.Struct, forbid_unknown_fields=True):
    order: Annotated[list[OrderItem], msgspec.Meta(min_length=1, max_length=100)]


# Field names follow the model's attributes (the service converts from attributes); `rename` gives
# the names the API uses on the wire.
class Order(msgspec.Struct, rename={"created_at": "created", "items": "order"}):
    id: UUID
    created_at: datetime
    status: Status
    items: list[OrderItem]


class OrderList(msgspec.Struct):
    orders: list[Order]
