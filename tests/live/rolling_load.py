"""Steady API traffic across a rollout: many clients, each knowing the exact answer to every request it sends.

Each client is one user repeating a journey through every operation: read a seeded order and a seeded
user's newest page; create an order, read it, update it, pay it, pay it again, cancel it, find it first
in its own list; create one more, delete it, read it again. Nobody else touches a client's orders and the
seeded ones are only read, so each status and body is known in advance: anything else is a failure, and
so is every socket error. The only non-2xx answers it accepts are the two it provokes (the second pay,
409; the read after the delete, 404), each with its `detail`.

Requests go to the Service's replicas in turn, so during a rollout one journey crosses both releases. A
replica leaves the rotation before it is stopped, once its in-flight requests have finished, as it leaves
a Kubernetes Service's endpoints before its pod gets SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import httpx

from tests.conftest import TokenMinter
from tests.factories import item, new_user

Body = dict[str, Any]
# Clients drop an idle connection well before the server's KEEPALIVE_TIMEOUT (5 s), as the proxies in
# front of replicas should: one reused just as the server closes it meets a reset, a race of HTTP/1.1.
CLIENT_LIMITS = httpx.Limits(keepalive_expiry=1.0)


def comparable(body: Body) -> Body:
    """An order as JSON with its timestamp parsed: the same instant compares equal however it is written."""
    return {**body, "created": datetime.fromisoformat(body["created"])}


class Service:
    """The ready replicas, in turn; `remove` takes one out and waits for its in-flight requests."""

    def __init__(self) -> None:
        self.endpoints: dict[str, str] = {}  # url -> which release serves there
        self.in_flight: Counter[str] = Counter()
        self._drained: dict[str, asyncio.Event] = {}
        self._turn = itertools.count()

    def add(self, url: str, release: str) -> None:
        self.endpoints[url] = release

    async def remove(self, url: str) -> None:
        del self.endpoints[url]
        if self.in_flight[url]:
            self._drained[url] = asyncio.Event()
            await self._drained[url].wait()

    @contextlib.contextmanager
    def pick(self) -> Iterator[tuple[str, str]]:
        urls = list(self.endpoints)
        url = urls[next(self._turn) % len(urls)]
        self.in_flight[url] += 1
        try:
            yield url, self.endpoints[url]
        finally:
            self.in_flight[url] -= 1
            if not self.in_flight[url] and url in self._drained:
                self._drained[url].set()


class Load:
    """`clients` concurrent journeys until `stop()`; each figure is kept per `phase`, which the test sets."""

    def __init__(self, service: Service, token_for: TokenMinter, seeded: dict[str, list[Body]], clients: int):
        self.service = service
        self.token_for = token_for
        self.phase = "start"
        self.users = [new_user("rolling") for _ in range(clients)]
        self._seeded = seeded
        self._seeded_orders = [(owner, order) for owner, orders in seeded.items() for order in orders]
        self._seeded_tokens = {owner: token_for(owner) for owner in seeded}
        self._stop = asyncio.Event()
        self._progress = asyncio.Event()  # set by every finished journey and every failure
        self._random = random.Random(25)
        # Per phase: answers as expected (provoked ones included), provoked ones, answers per release.
        self.answered: Counter[str] = Counter()
        self.provoked: Counter[str] = Counter()
        self.by_release: Counter[tuple[str, str]] = Counter()
        self.slowest: defaultdict[str, float] = defaultdict(float)
        self.journeys: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.failures: list[str] = []
        # Every order a client still holds, as it must read now: its owner's list must be exactly these.
        self.kept: defaultdict[str, list[Body]] = defaultdict(list)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Load]:
        """The clients run inside the block; on leaving it each finishes its request in flight and stops."""
        clients = asyncio.gather(*(self._client(user) for user in self.users))
        try:
            yield self
        finally:
            self._stop.set()
            await clients

    async def settle(self, phase: str) -> None:
        """Return once every client has completed a whole journey that started in `phase` (or failed)."""
        while len(self.journeys[phase]) < len(self.users) and not self.failures:
            self._progress.clear()
            await self._progress.wait()

    async def _client(self, user: str) -> None:
        headers = {"Authorization": f"Bearer {self.token_for(user)}"}
        async with httpx.AsyncClient(headers=headers, limits=CLIENT_LIMITS, timeout=30) as client:
            while not self._stop.is_set():
                phase = self.phase
                if not await self._journey(client, user):
                    await asyncio.sleep(0.1)  # keep going: later answers still count, the failure is kept
                    continue
                self.journeys[phase][user] += 1
                self._progress.set()

    async def _journey(self, client: httpx.AsyncClient, user: str) -> bool:
        owner, seeded = self._random.choice(self._seeded_orders)
        as_owner = {"Authorization": f"Bearer {self._seeded_tokens[owner]}"}
        read = await self._call(client, "GET", f"/orders/{seeded['id']}", 200, headers=as_owner)
        if not self._same(read, seeded):
            return False
        page = await self._call(client, "GET", "/orders?limit=5", 200, headers=as_owner)
        if not self._same_list(page, self._seeded[owner][:5]):
            return False

        items = [item(f"rolling-{n}", self._random.choice(["small", "medium", "big"]), n) for n in (1, 2)]
        created = await self._call(client, "POST", "/orders", 201, json={"order": items})
        if created is None:
            return False
        order = created.json()
        if not self._same(created, {**order, "status": "created", "order": items}):
            return False
        path = f"/orders/{order['id']}"
        if not self._same(await self._call(client, "GET", path, 200), order):
            return False
        order = {**order, "order": [item("rolling-updated", "big", 3)]}
        if not self._same(await self._call(client, "PUT", path, 200, json={"order": order["order"]}), order):
            return False
        order = {**order, "status": "paid"}
        if not self._same(await self._call(client, "POST", f"{path}/pay", 200), order):
            return False
        if await self._call(client, "POST", f"{path}/pay", 409) is None:
            return False
        order = {**order, "status": "cancelled"}
        if not self._same(await self._call(client, "POST", f"{path}/cancel", 200), order):
            return False
        self.kept[user].insert(0, order)
        if not self._same_list(await self._call(client, "GET", "/orders?limit=1", 200), [order]):
            return False

        doomed = await self._call(client, "POST", "/orders", 201, json={"order": items})
        if doomed is None:
            return False
        doomed_path = f"/orders/{doomed.json()['id']}"
        if await self._call(client, "DELETE", doomed_path, 204) is None:
            return False
        return await self._call(client, "GET", doomed_path, 404) is not None

    async def _call(
        self, client: httpx.AsyncClient, method: str, path: str, expected: int, **kwargs: Any
    ) -> httpx.Response | None:
        phase = self.phase
        with self.service.pick() as (url, release):
            started = time.monotonic()
            try:
                response = await client.request(method, url + path, **kwargs)
            except httpx.HTTPError as error:
                self._fail(f"{phase}: {method} {path} on the {release}: {type(error).__name__}: {error}")
                return None
            self.slowest[phase] = max(self.slowest[phase], time.monotonic() - started)
        self.by_release[phase, release] += 1
        if response.status_code != expected:
            self._fail(
                f"{phase}: {method} {path} on the {release}: {response.status_code} (expected {expected}) "
                f"{response.text[:300]}"
            )
            return None
        if expected >= 400:
            if "detail" not in response.json():
                self._fail(f"{phase}: {method} {path} on the {release}: {expected} without detail")
                return None
            self.provoked[phase] += 1
        self.answered[phase] += 1
        return response

    def _same(self, response: httpx.Response | None, expected: Body) -> bool:
        if response is None:
            return False
        if comparable(response.json()) != comparable(expected):
            self._fail(f"{self.phase}: {response.request.url}: {response.text[:300]} instead of {expected}")
            return False
        return True

    def _same_list(self, response: httpx.Response | None, expected: list[Body]) -> bool:
        if response is None:
            return False
        orders = [comparable(order) for order in response.json()["orders"]]
        if orders != [comparable(order) for order in expected]:
            self._fail(f"{self.phase}: {response.request.url}: {response.text[:300]} instead of {expected}")
            return False
        return True

    def _fail(self, failure: str) -> None:
        self.failures.append(failure)
        self._progress.set()
