"""Idempotent writes: one change per (subject, Idempotency-Key), its response replayed to every repeat.

The key is claimed first, in the change's own transaction, so a concurrent duplicate waits on the
key's row until that transaction ends (PostgreSQL's INSERT … ON CONFLICT waits for it; SQLite runs
one writer at a time), then finds the stored response. The response is stored before the commit: a
key is never visible without it, and a change that fails (404, 409, 503) rolls its key back too, so
only a committed change binds a key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from orders_app.domain.errors import IdempotencyKeyInFlight, IdempotencyKeyReused
from orders_app.domain.idempotency import KeyHolder, StoredResponse
from orders_app.domain.orders import Order
from orders_app.service.orders import OrderWrite
from orders_app.service.ports import NO_EVENTS, OrderEvents, UnitOfWork

# Expired keys removed by each request that takes a new key: 20 times the rate keys arrive, so any
# backlog drains, while one request's extra work stays bounded to 20 rows.
EXPIRED_KEYS_PER_CLAIM = 20


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """How long a key is kept (IDEMPOTENCY_KEY_TTL) and a duplicate waits (IDEMPOTENCY_KEY_WAIT)."""

    ttl: timedelta
    wait: float
    clock: Callable[[], datetime] = field(default=_now)


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    """The key a request carries and its fingerprint: SHA-256 of its method, path and body."""

    key: str
    fingerprint: str

    @classmethod
    def of(cls, key: str, method: str, path: str, body: bytes) -> KeyedRequest:
        digest = hashlib.sha256(f"{method}\n{path}\n".encode())
        digest.update(body)
        return cls(key, digest.hexdigest())


@dataclass(frozen=True, slots=True)
class Answer:
    response: StoredResponse
    # True when the response is the one stored by an earlier request with this key.
    replayed: bool


async def write_order_once(
    uow: UnitOfWork,
    owner: str,
    request: KeyedRequest,
    write: OrderWrite,
    render: Callable[[Order], StoredResponse],
    policy: KeyPolicy,
    events: OrderEvents = NO_EVENTS,
) -> Answer:
    """Run `write` unless `owner` used this key already: then answer what that first request answered.

    `render` turns the written order into the response that is stored and sent. The same key with a
    different request is IdempotencyKeyReused; a first request still running past `policy.wait` is
    IdempotencyKeyInFlight. Neither runs anything.
    """
    now = policy.clock()
    expired_before = now - policy.ttl
    async with uow:
        await uow.begin_write()
        keys = uow.idempotency_keys
        holder = await keys.claim(
            owner, request.key, request.fingerprint, now=now, expired_before=expired_before, wait=policy.wait
        )
        if holder is not None:
            return Answer(_stored_response(holder, request), replayed=True)
        await keys.remove_expired(expired_before, limit=EXPIRED_KEYS_PER_CLAIM)
        written = await write(uow)
        response = render(written.order)
        await keys.record(owner, request.key, response)
        await uow.commit()
    written.tell(events)
    return Answer(response, replayed=False)


def _stored_response(holder: KeyHolder, request: KeyedRequest) -> StoredResponse:
    if holder.fingerprint != request.fingerprint:
        raise IdempotencyKeyReused()
    if holder.response is None:
        raise IdempotencyKeyInFlight()
    return holder.response
