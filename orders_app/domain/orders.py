"""Orders, their items and the status state machine."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from orders_app.domain.errors import InvalidOrder, TransitionNotAllowed, VersionMismatch


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


# Which statuses each action may start from. The reference implementation let a cancelled order be paid
# and a delivered one be cancelled; these tables are the single source of truth that prevents both.
PAYABLE_FROM: tuple[Status, ...] = (Status.CREATED,)
UPDATABLE_FROM: tuple[Status, ...] = (Status.CREATED,)
CANCELLABLE_FROM: tuple[Status, ...] = (Status.CREATED, Status.PAID, Status.PROGRESS)


@dataclass(frozen=True, slots=True)
class OrderItem:
    product: str
    size: Size
    quantity: int = 1


@dataclass(slots=True)
class Order:
    id: uuid.UUID
    owner: str
    status: Status
    created: datetime
    items: list[OrderItem] = field(default_factory=list)
    # Advances with every change, so a client can name the state it saw (ETag) and change only that.
    version: int = 1

    @classmethod
    def place(cls, owner: str, items: list[OrderItem], *, now: datetime | None = None) -> Order:
        """A new order in status `created`, stamped with the current (timezone-aware) time."""
        _require_items(items)
        created = now if now is not None else datetime.now(UTC)
        if created.tzinfo is None:
            raise ValueError("order timestamps must be timezone-aware")
        return cls(id=uuid.uuid4(), owner=owner, status=Status.CREATED, created=created, items=items)

    def replace_items(self, items: list[OrderItem]) -> None:
        self._require_status("updated", UPDATABLE_FROM)
        _require_items(items)
        self.items = list(items)
        self.version += 1

    def pay(self) -> None:
        self._require_status("paid", PAYABLE_FROM)
        self.status = Status.PAID
        self.version += 1

    def cancel(self) -> None:
        self._require_status("cancelled", CANCELLABLE_FROM)
        self.status = Status.CANCELLED
        self.version += 1

    def _require_status(self, action: str, allowed_from: tuple[Status, ...]) -> None:
        if self.status not in allowed_from:
            raise TransitionNotAllowed(
                self.id, action, self.status.value, tuple(s.value for s in allowed_from)
            )


@dataclass(frozen=True, slots=True)
class ExpectedVersion:
    """A conditional change's precondition: the versions it may start from, or any version (`any_version`)."""

    versions: frozenset[int] = frozenset()
    any_version: bool = False

    def require(self, order: Order) -> None:
        """VersionMismatch unless `order` is in one of the expected versions; checked before any change."""
        if not (self.any_version or order.version in self.versions):
            raise VersionMismatch(order.id, order.version)


def _require_items(items: list[OrderItem]) -> None:
    if not items:
        raise InvalidOrder("an order needs at least one item")
