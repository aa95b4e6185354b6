"""Typed domain errors. The API maps each to an HTTP status in exactly one place."""

from __future__ import annotations

from uuid import UUID


class DomainError(Exception):
    """Base class for every error the domain raises on purpose."""


class OrderNotFound(DomainError):
    """No order with this id exists for the current owner (someone else's order counts as missing)."""

    def __init__(self, order_id: UUID | str) -> None:
        self.order_id = order_id
        super().__init__(f"Order with ID {order_id} not found")


class TransitionNotAllowed(DomainError):
    """The requested action is not allowed from the order's current status; nothing was changed."""

    def __init__(self, order_id: UUID, action: str, status: str, allowed_from: tuple[str, ...]) -> None:
        self.order_id = order_id
        self.action = action
        self.status = status
        self.allowed_from = allowed_from
        allowed = ", ".join(allowed_from)
        super().__init__(
            f"Order {order_id} cannot be {action}: its status is '{status}', "
            f"and only orders in status {allowed} can be {action}."
        )


class InvalidOrder(DomainError):
    """An order that breaks an invariant (for example, no items)."""


class VersionMismatch(DomainError):
    """The order is not in the version the change was conditioned on (If-Match); nothing was changed."""

    def __init__(self, order_id: UUID, version: int) -> None:
        self.order_id = order_id
        self.version = version
        super().__init__(
            f"Order {order_id} has changed since the version this request names (If-Match); "
            "read it again and retry with its current ETag."
        )


class InvalidPrecondition(DomainError):
    """An If-Match or If-None-Match header that is not `*` or a list of entity tags."""


class InvalidIdempotencyKey(DomainError):
    """An Idempotency-Key header that is not one key of 1-255 printable ASCII characters."""


class IdempotencyKeyReused(DomainError):
    """The key already stands for another request (method, path or body differ); nothing was run."""

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was already used for a different request (method, path or body); "
            "use a new key for a new request."
        )


class IdempotencyKeyInFlight(DomainError):
    """A request with this key is still running and its response is not stored yet; nothing was run."""

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed; retry shortly to get its response."
        )
