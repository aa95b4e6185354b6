"""A schema change rolled out as docs/kubernetes.md says (expand, then contract), on PostgreSQL, under load.

The previous release (tests/live/releases.py: the commit before this checkout's newest migration, from
git history) migrates a fresh database and finds 10,000 orders in it. Two of its replicas serve steady
traffic (tests/live/rolling_load.py), every answer checked, while:

1. this checkout's `orders-app migrate` applies the new revision: the previous release keeps answering
   every request correctly, stays ready, and the migration holds no lock that blocks its requests for
   long; the tables it uses keep every column and are not rewritten;
2. the replicas move to this release one at a time (a new one ready, then an old one out of the
   rotation and stopped): orders the previous release created, before and after the migration, are
   fully usable by this one (with the ETag and Idempotency-Key the contract documents, if it does);
3. the replicas move back, and `alembic downgrade` restores the previous revision under them: the
   previous release serves on with every order kept, each as the new release left it.

Zero socket errors and zero unexpected statuses or bodies in every phase.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orders_app.auth.keys import KeyPair
from tests.conftest import TokenMinter
from tests.factories import item, new_user
from tests.live.postgres_state import BlockingLocks, Snapshot, seed
from tests.live.releases import REPO_ROOT, Release, Rollout, current_release, documented, previous_release
from tests.live.rolling_load import CLIENT_LIMITS, Body, Load, Service, comparable
from tests.live_server import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(900)]

REPLICAS = 2
CLIENTS = 8
SEEDED_OWNERS, ORDERS_EACH = 500, 20  # 10,000 orders already in the database
LEGACY_EACH = 10  # orders per kind checked one by one on the new release
# A blocking lock held longer than the app's DB_POOL_TIMEOUT (5 s) turns queued requests into 503s.
LOCK_BOUND_SECONDS = 2.0
MIGRATION_BOUND_SECONDS = 120.0  # the whole `orders-app migrate` process, start-up included, on a busy host


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def call(
    service: Service, client: httpx.AsyncClient, method: str, path: str, expected: int, **kwargs: Any
) -> httpx.Response:
    """One request to the next replica in the rotation, which must answer `expected`."""
    with service.pick() as (url, release):
        response = await client.request(method, url + path, **kwargs)
    assert response.status_code == expected, (
        f"{release}: {method} {path}: {response.status_code} {response.text}"
    )
    return response


async def create_orders(
    service: Service, client: httpx.AsyncClient, token: str, count: int, label: str
) -> list[Body]:
    created = []
    for n in range(count):
        body = {"order": [item(f"{label}-{n}", "medium", n + 1)]}
        created.append(
            (await call(service, client, "POST", "/orders", 201, json=body, headers=bearer(token))).json()
        )
    return created


async def use(
    service: Service, client: httpx.AsyncClient, token: str, order: Body, conditional: bool, keyed: bool
) -> Body:
    """Read, update and pay `order` as a client of the serving release would; the order as it then stands."""
    path = f"/orders/{order['id']}"
    auth = bearer(token)
    read = await call(service, client, "GET", path, 200, headers=auth)
    assert comparable(read.json()) == comparable(order)
    headers = auth
    if conditional:
        etag = read.headers["ETag"]
        assert etag.startswith('"'), f"not a strong ETag: {etag}"
        unchanged = await call(service, client, "GET", path, 304, headers={**auth, "If-None-Match": etag})
        assert unchanged.content == b""
        headers = {**auth, "If-Match": etag}
    order = {**order, "order": [item("legacy-updated", "big", 2)]}
    updated = await call(service, client, "PUT", path, 200, json={"order": order["order"]}, headers=headers)
    assert comparable(updated.json()) == comparable(order)
    if conditional:
        assert updated.headers["ETag"] != etag
        await call(service, client, "POST", f"{path}/pay", 412, headers=headers)  # the ETag before the update
        headers = {**auth, "If-Match": updated.headers["ETag"]}
    if keyed:
        headers = {**auth, "Idempotency-Key": f"pay-{order['id']}"}
    order = {**order, "status": "paid"}
    paid = await call(service, client, "POST", f"{path}/pay", 200, headers=headers)
    assert comparable(paid.json()) == comparable(order)
    if keyed:  # the same key again: the stored answer, not a 409 for paying twice
        assert (
            await call(service, client, "POST", f"{path}/pay", 200, headers=headers)
        ).json() == paid.json()
    return order


async def an_edit_by_the_previous_release_changes_the_etag(
    client: httpx.AsyncClient, token: str, previous: LiveServer, new: LiveServer
) -> None:
    """While both releases serve: once the previous release edits an order, its old ETag no longer matches."""
    auth = bearer(token)
    created = await client.post(f"{new.url}/orders", json={"order": [item("mixed")]}, headers=auth)
    assert created.status_code == 201, created.text
    path, etag = f"/orders/{created.json()['id']}", created.headers["ETag"]
    edited = await client.put(
        f"{previous.url}{path}", json={"order": [item("edited-by-previous")]}, headers=auth
    )
    assert edited.status_code == 200, edited.text
    read = await client.get(f"{new.url}{path}", headers=auth)
    assert read.headers["ETag"] != etag, "the previous release's edit left the ETag as it was"
    overwrite = await client.put(
        f"{new.url}{path}", json={"order": [item("lost")]}, headers={**auth, "If-Match": etag}
    )
    assert overwrite.status_code == 412, overwrite.text


async def listed(service: Service, client: httpx.AsyncClient, token: str) -> list[Body]:
    """Every order of the token's user, page by page, newest first."""
    orders: list[Body] = []
    path: str | None = "/orders?limit=100"
    while path:
        response = await call(service, client, "GET", path, 200, headers=bearer(token))
        orders.extend(response.json()["orders"])
        path = response.links.get("next", {}).get("url")
    return orders


@pytest.fixture
def previous(tmp_path_factory: pytest.TempPathFactory) -> Release:
    return previous_release(tmp_path_factory.mktemp("previous-release"))


@pytest.fixture
def rollout(make_postgres_database: Any, keys: KeyPair, tmp_path: Path) -> Iterator[Rollout]:
    rollout = Rollout(tmp_path, make_postgres_database(), keys)
    yield rollout
    rollout.stop_all()


async def test_a_revision_rolls_out_and_back_while_the_previous_release_serves(
    previous: Release, rollout: Rollout, token_for: TokenMinter, tmp_path: Path
) -> None:
    new = current_release()
    for release in (previous, new):
        assert release.imported_from(rollout.env(release), tmp_path) == release.tree, release.name
    conditional, keyed = documented(new)

    # The database as the previous release leaves it: its own schema, then thousands of its orders.
    await rollout.run(previous, "orders-app", "migrate")
    owners = [new_user("seeded") for _ in range(SEEDED_OWNERS)]
    seeded = await seed(rollout.db_url, owners, ORDERS_EACH)
    reserved = await seed(rollout.db_url, [new_user("reserved") for _ in range(LEGACY_EACH)], ORDERS_EACH)
    before = await Snapshot.take(rollout.db_url, owners)
    assert before.revision == (previous.head,)

    service, load = rollout.service, Load(rollout.service, token_for, seeded, CLIENTS)
    legacy_token, mixed_token = token_for(new_user("legacy")), token_for(new_user("mixed"))
    # Orders the new release must take over: seeded ones, and ones the previous release's API creates.
    legacy = [
        (token_for(owner), o) for owner, mine in reserved.items() for o in mine if o["status"] == "created"
    ]
    legacy = legacy[:LEGACY_EACH]
    old = list(await asyncio.gather(*(rollout.start(previous) for _ in range(REPLICAS))))
    async with httpx.AsyncClient(limits=CLIENT_LIMITS, timeout=30) as client, load.running():
        load.phase = f"previous release on {previous.head}"
        created = await create_orders(service, client, legacy_token, LEGACY_EACH, "before")
        legacy += [(legacy_token, order) for order in created]
        await load.settle(load.phase)

        # 1. The new revision is applied while the previous release serves.
        load.phase = "migrating"
        locks = BlockingLocks(rollout.db_url, sorted(before.tables - {"alembic_version"}))
        async with locks.watching():
            migration_seconds = await rollout.run(new, "orders-app", "migrate")
        load.phase = f"previous release on {new.head}"
        migrated = await Snapshot.take(rollout.db_url, owners)
        for server in old:
            assert (await client.get(f"{server.url}/health/ready")).status_code == 200
        created = await create_orders(service, client, legacy_token, LEGACY_EACH, "after")
        legacy += [(legacy_token, order) for order in created]
        await load.settle(load.phase)

        # 2. The replicas move to the new release, one at a time.
        load.phase = "rolling out"
        current = [await rollout.replace(old[0], new)]
        if conditional:
            await an_edit_by_the_previous_release_changes_the_etag(client, mixed_token, old[1], current[0])
        current += [await rollout.replace(server, new) for server in old[1:]]
        load.phase = f"new release on {new.head}"
        # One order after another, beside the load: checks of answers, not another burst of traffic.
        used = [await use(service, client, token, order, conditional, keyed) for token, order in legacy]
        await load.settle(load.phase)

        # 3. Back: the replicas first, then the schema, under the previous release.
        load.phase = "rolling back"
        old = [await rollout.replace(server, previous) for server in current]
        load.phase = "downgrading"
        downgrade = ("alembic", "-c", str(REPO_ROOT / "alembic.ini"), "downgrade", previous.head)
        downgrade_seconds = await rollout.run(new, *downgrade)
        load.phase = f"previous release on {previous.head} again"
        await load.settle(load.phase)
    downgraded = await Snapshot.take(rollout.db_url, owners)
    async with httpx.AsyncClient(limits=CLIENT_LIMITS, timeout=30) as client:
        for (token, _), order in zip(legacy, used, strict=True):
            read = await call(service, client, "GET", f"/orders/{order['id']}", 200, headers=bearer(token))
            assert comparable(read.json()) == comparable(order)
        lists = {user: await listed(service, client, token_for(user)) for user in load.users}

    report(load, previous, new, migration_seconds, locks, downgrade_seconds)
    assert not load.failures, f"{len(load.failures)} failures:\n" + "\n".join(load.failures[:20])

    # 1. Expand: the previous release answered throughout, and its tables kept their columns and files.
    assert load.by_release["migrating", previous.name] >= CLIENTS
    assert migration_seconds < MIGRATION_BOUND_SECONDS
    assert locks.window <= LOCK_BOUND_SECONDS
    assert migrated.revision == (new.head,)
    assert {column: migrated.columns.get(column) for column in before.columns} == before.columns
    for (table, column), (_, nullable, default) in migrated.columns.items():
        if table in before.tables and (table, column) not in before.columns:
            assert nullable == "YES" or default is not None, f"{table}.{column}: NOT NULL without a default"
    assert {table: migrated.file_nodes[table] for table in before.tables} == before.file_nodes
    assert migrated.seeded_rows(before.columns) == before.seeded_rows(before.columns)

    # 3. The downgrade restored the previous schema exactly and kept every order.
    assert downgraded.revision == (previous.head,)
    assert downgraded.columns == before.columns
    assert downgraded.seeded_rows(before.columns) == before.seeded_rows(before.columns)
    for user in load.users:
        assert [comparable(o) for o in lists[user]] == [comparable(o) for o in load.kept[user]], user


def report(
    load: Load, previous: Release, new: Release, migration: float, locks: BlockingLocks, downgrade: float
) -> None:
    print(f"\nprevious release {previous.commit} at {previous.head}, this checkout at {new.head}")
    for phase, answered in load.answered.items():
        releases = {release: n for (p, release), n in load.by_release.items() if p == phase}
        print(
            f"  {phase}: {answered} answered as expected ({load.provoked[phase]} of them provoked 4xx), "
            f"by {releases}, slowest {load.slowest[phase]:.3f} s"
        )
    print(
        f"  migration {migration:.2f} s, a blocking lock seen for {locks.window:.3f} s "
        f"({len(locks.seen)} of {locks.polls} polls); downgrade {downgrade:.2f} s"
    )
