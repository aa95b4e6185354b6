"""What the use cases need from persistence. `orders_app.db` provides it; tests may fake it."""

from __future__ import annotations

import uuid
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from orders_app.domain.idempotency import KeyHolder, StoredResponse
from orders_app.domain.orders import Order


class OrdersRepository(Protocol):
    async def add(self, order: Order) -> None: ...

    async def get(self, owner: str, order_id: uuid.UUID, *, for_update: bool = False) -> Order | None: ...

    async def list(
        self,
        owner: str,
        *,
        cancelled: bool | None,
        limit: int,
        before: tuple[datetime, uuid.UUID] | None = None,
    ) -> list[Order]: ...

    async def save(self, order: Order, *, items_changed: bool) -> None: ...

    async def remove(self, order: Order) -> None: ...


class IdempotencyKeys(Protocol):
    """Keys per subject, inside a writing unit of work; what a key holds commits with the change it made."""

    async def claim(
        self,
        subject: str,
        key: str,
        fingerprint: str,
        *,
        now: datetime,
        expired_before: datetime,
        wait: float,
    ) -> KeyHolder | None:
        """Take the key for this request: None when taken (new, or expired and taken over).

        Otherwise the holder, read once its transaction has ended, waiting up to `wait` seconds for it
        (IdempotencyKeyInFlight beyond).
        """
        ...

    async def record(self, subject: str, key: str, response: StoredResponse) -> None: ...

    async def remove_expired(self, expired_before: datetime, *, limit: int) -> None: ...


class UnitOfWork(Protocol):
    @property
    def orders(self) -> OrdersRepository: ...

    @property
    def idempotency_keys(self) -> IdempotencyKeys: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    async def begin_write(self) -> None: ...

    async def commit(self) -> None: ...


class OrderEvents(Protocol):
    """Told about changes once they are committed (metrics; a test may record them)."""

    def placed(self) -> None: ...

    def transitioned(self, from_status: str, to_status: str) -> None: ...


class NoEvents:
    def placed(self) -> None:
        pass

    def transitioned(self, from_status: str, to_status: str) -> None:
        pass


NO_EVENTS = NoEvents()
