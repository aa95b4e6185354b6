"""The idempotent-write rule (service/idempotency.py) against in-memory ports: no database, no HTTP.

KeyedUnitOfWork adds keys to the use cases' fake unit of work, staged and committed with the orders,
so a key rolls back with a change that fails, as in the real transaction.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

import pytest

from orders_app.domain.errors import IdempotencyKeyInFlight, IdempotencyKeyReused, TransitionNotAllowed
from orders_app.domain.idempotency import KeyHolder, StoredResponse
from orders_app.domain.orders import Order
from orders_app.service import orders as use_cases
from orders_app.service.idempotency import (
    EXPIRED_KEYS_PER_CLAIM,
    KeyedRequest,
    KeyPolicy,
    write_order_once,
)
from orders_app.service.ports import UnitOfWork
from tests.unit.test_use_cases import LATTE, START, FakeUnitOfWork, _placed

Row = tuple[KeyHolder, datetime]


class FakeKeys:
    def __init__(self, unit: KeyedUnitOfWork) -> None:
        self._unit = unit
        self.removals: list[tuple[datetime, int]] = []

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
        self._unit.require_writing()
        held = self._unit.staged_keys.get((subject, key))
        if held is not None and held[1] >= expired_before:
            return held[0]
        self._unit.staged_keys[(subject, key)] = (KeyHolder(fingerprint, None), now)
        return None

    async def record(self, subject: str, key: str, response: StoredResponse) -> None:
        holder, created = self._unit.staged_keys[(subject, key)]
        self._unit.staged_keys[(subject, key)] = (KeyHolder(holder.fingerprint, response), created)

    async def remove_expired(self, expired_before: datetime, *, limit: int) -> None:
        self.removals.append((expired_before, limit))


class KeyedUnitOfWork(FakeUnitOfWork):
    def __init__(self, *orders: Order) -> None:
        super().__init__({order.id: copy.deepcopy(order) for order in orders})
        self.committed_keys: dict[tuple[str, str], Row] = {}
        self.staged_keys: dict[tuple[str, str], Row] = {}
        self.keys = FakeKeys(self)

    @property
    def idempotency_keys(self) -> FakeKeys:
        return self.keys

    async def __aenter__(self) -> KeyedUnitOfWork:
        await super().__aenter__()
        self.staged_keys = dict(self.committed_keys)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await super().__aexit__(*exc)
        self.staged_keys = {}

    async def commit(self) -> None:
        await super().commit()
        self.committed_keys = dict(self.staged_keys)


# mypy checks here that the fake satisfies the port the use cases are typed against.
_PORT_CHECK: type[UnitOfWork] = KeyedUnitOfWork


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class Events:
    def __init__(self) -> None:
        self.told: list[str] = []

    def placed(self) -> None:
        self.told.append("placed")

    def transitioned(self, from_status: str, to_status: str) -> None:
        self.told.append(f"{from_status}->{to_status}")


def _render(order: Order) -> StoredResponse:
    return StoredResponse(201, str(order.id).encode(), (("ETag", '"1"'),))


KEYED = KeyedRequest.of("k-1", "POST", "/orders", b'{"order": []}')


async def _place_once(
    uow: KeyedUnitOfWork, clock: Clock, events: Events, request: KeyedRequest = KEYED
) -> Any:
    policy = KeyPolicy(ttl=timedelta(hours=24), wait=5, clock=clock)
    return await write_order_once(
        uow, "alice", request, use_cases.placing("alice", [LATTE]), _render, policy, events
    )


async def test_the_first_request_runs_and_its_response_commits_with_the_order() -> None:
    uow, clock, events = KeyedUnitOfWork(), Clock(), Events()
    answer = await _place_once(uow, clock, events)

    assert not answer.replayed
    [order_id] = uow.committed
    assert answer.response == StoredResponse(201, str(order_id).encode(), (("ETag", '"1"'),))
    holder, created = uow.committed_keys[("alice", "k-1")]
    assert (holder, created) == (KeyHolder(KEYED.fingerprint, answer.response), START)
    assert (uow.commits, events.told) == (1, ["placed"])
    assert uow.keys.removals == [(START - timedelta(hours=24), EXPIRED_KEYS_PER_CLAIM)]


async def test_a_repeat_gets_the_stored_response_and_runs_nothing() -> None:
    uow, clock, events = KeyedUnitOfWork(), Clock(), Events()
    first = await _place_once(uow, clock, events)
    clock.now += timedelta(hours=23)
    again = await _place_once(uow, clock, events)

    assert again.replayed
    assert again.response == first.response
    assert (len(uow.committed), uow.commits, events.told) == (1, 1, ["placed"])


async def test_the_same_key_for_another_request_is_refused_and_runs_nothing() -> None:
    uow, clock, events = KeyedUnitOfWork(), Clock(), Events()
    await _place_once(uow, clock, events)
    other = KeyedRequest.of("k-1", "POST", "/orders", b'{"order": [1]}')

    with pytest.raises(IdempotencyKeyReused):
        await _place_once(uow, clock, events, other)
    assert (len(uow.committed), uow.commits) == (1, 1)


async def test_a_key_held_without_a_response_is_in_flight() -> None:
    uow, clock, events = KeyedUnitOfWork(), Clock(), Events()
    uow.committed_keys[("alice", "k-1")] = (KeyHolder(KEYED.fingerprint, None), START)

    with pytest.raises(IdempotencyKeyInFlight):
        await _place_once(uow, clock, events)
    assert (uow.committed, uow.commits) == ({}, 0)


async def test_an_expired_key_runs_the_request_again() -> None:
    uow, clock, events = KeyedUnitOfWork(), Clock(), Events()
    first = await _place_once(uow, clock, events)
    clock.now += timedelta(hours=24, seconds=1)
    again = await _place_once(uow, clock, events)

    assert not again.replayed
    assert again.response != first.response
    assert (len(uow.committed), events.told) == (2, ["placed", "placed"])


async def test_a_refused_change_leaves_its_key_free() -> None:
    order = _placed()
    order.cancel()
    uow, clock = KeyedUnitOfWork(order), Clock()
    policy = KeyPolicy(ttl=timedelta(hours=24), wait=5, clock=clock)
    paying = KeyedRequest.of("k-1", "POST", f"/orders/{order.id}/pay", b"")

    with pytest.raises(TransitionNotAllowed):
        await write_order_once(uow, "alice", paying, use_cases.paying("alice", order.id), _render, policy)
    assert uow.committed_keys == {}


@pytest.mark.parametrize(
    "other",
    [("PUT", "/orders", b"{}"), ("POST", "/orders/1/pay", b"{}"), ("POST", "/orders", b"{} ")],
    ids=["method", "path", "body"],
)
def test_the_fingerprint_tells_method_path_and_body_apart(other: tuple[str, str, bytes]) -> None:
    same = KeyedRequest.of("k", "POST", "/orders", b"{}")
    assert same == KeyedRequest.of("k", "POST", "/orders", b"{}")
    assert len(same.fingerprint) == 64
    assert KeyedRequest.of("k", *other).fingerprint != same.fingerprint
