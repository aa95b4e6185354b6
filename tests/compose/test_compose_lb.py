"""compose.yaml + compose.lb.yaml: several api replicas behind HAProxy on one published port, on every leg.

The claims of docs/compose.md's "Load balancer" section, in order on one project (module scope): three
replicas all receive requests through the one port and a mixed load loses nothing; a stopped replica leaves
the rotation and the port keeps answering; `up` brings it back. Which replica answered is read from the
`X-Served-By` header HAProxy adds (server slot and address), checked against the addresses the engine
reports for the api containers.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compose.compose_stack import ComposeError, ComposeStack, merge_artifact
from tests.compose.conftest import LB_REPLICAS
from tests.factories import item, order_body

pytestmark = [pytest.mark.compose, pytest.mark.timeout(900)]

READY_SECONDS = 180
# HAProxy re-resolves `api` every second and needs two passed checks one second apart (haproxy.cfg).
ROTATION_SECONDS = 60
LOAD_SECONDS = 15
LOAD_CLIENTS = 8
# Under round robin each of the three replicas gets a third; far below that means one is left out.
MIN_SHARE = 0.15

ORDER = order_body(item("latte", quantity=2))
FIGURES: dict[str, dict[str, Any]] = {}


def lb_address(stack: ComposeStack) -> str:
    address = stack.published_address("lb", 8080)
    assert address.startswith("127.0.0.1:"), f"lb published on {address}, expected loopback"
    return address


def replica_addresses(stack: ComposeStack) -> set[str]:
    """The compose-network address of every running api container, as the engine reports it."""
    addresses = set()
    for container in stack.container_ids("api"):
        if stack.status(container)[0] != "running":
            continue
        found = stack.inspect(container, "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}")
        addresses.update(found.split())
    return addresses


def served_by(response: httpx.Response) -> str:
    """The address of the replica that answered ('api2 10.89.0.7' -> '10.89.0.7')."""
    header = response.headers.get("x-served-by", "")
    assert header, f"no X-Served-By on {response.status_code} {response.request.url}"
    return header.split()[-1]


def wait_rotation(stack: ComposeStack, expected: set[str], timeout: float = ROTATION_SECONDS) -> float:
    """Until requests through the port are answered by exactly the replicas at EXPECTED; seconds it took."""
    started = time.monotonic()
    seen: set[str] = set()
    last = "no answer"
    while time.monotonic() - started < timeout:
        seen = set()
        try:
            with httpx.Client(base_url=f"http://{lb_address(stack)}", timeout=5) as client:
                for _ in range(4 * max(len(expected), 1)):
                    response = client.get("/health/ready")
                    last = f"{response.status_code} {response.text[:200]}"
                    if response.status_code == 200:
                        seen.add(served_by(response))
        except (ComposeError, httpx.TransportError) as error:
            last = f"{type(error).__name__}: {str(error)[:200]}"
        if seen == expected:
            return round(time.monotonic() - started, 1)
        time.sleep(0.5)
    raise ComposeError(
        f"requests through lb reached {sorted(seen)}, expected {sorted(expected)} ({last})\n{stack.logs()}"
    )


@dataclass
class Load:
    """What a mixed load through the load balancer saw."""

    statuses: Counter[int] = field(default_factory=Counter)
    replicas: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + len(self.errors)


def drive(
    base_url: str, token: str, order_id: str, until: float, load: Load, stop: threading.Event | None = None
) -> None:
    """One keep-alive client: three GET /orders/{id} to one POST /orders, until UNTIL or STOP."""
    rng = random.Random()
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        while time.monotonic() < until and not (stop and stop.is_set()):
            try:
                if rng.random() < 0.25:
                    response = client.post("/orders", json=ORDER)
                else:
                    response = client.get(f"/orders/{order_id}")
            except httpx.TransportError as error:
                with load.lock:
                    load.errors.append(f"{type(error).__name__}: {error}")
                continue
            with load.lock:
                load.statuses[response.status_code] += 1
                # HAProxy's own answers (503 with no replica left) name no replica.
                load.replicas[response.headers.get("x-served-by", "haproxy").split()[-1]] += 1
                if response.status_code == 201:
                    load.created.append(response.json()["id"])


def record(stack: ComposeStack, label: str, value: Any) -> None:
    FIGURES.setdefault(stack.leg, {})[label] = value


@pytest.fixture(scope="module", autouse=True)
def report_figures() -> Any:
    yield
    if FIGURES:
        merge_artifact("compose-lb.json", FIGURES)


def test_every_replica_serves_through_the_one_port(lb_stack: ComposeStack) -> None:
    stack = lb_stack
    stack.build()
    started = time.monotonic()
    stack.up("--detach", timeout=READY_SECONDS)
    replicas = stack.container_ids("api")
    assert len(replicas) == LB_REPLICAS, replicas
    expected = replica_addresses(stack)
    assert len(expected) == LB_REPLICAS, expected
    wait_rotation(stack, expected, timeout=READY_SECONDS)
    record(stack, "up_to_all_replicas_in_rotation", round(time.monotonic() - started, 1))
    # The replicas stay reachable one by one on loopback ports of their own; the lb is the one API port.
    assert stack.container_ids("lb"), "no lb container"


def test_a_mixed_load_through_the_port_loses_nothing(lb_stack: ComposeStack, token: str) -> None:
    stack = lb_stack
    base_url = f"http://{lb_address(stack)}"
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as client:
        first = client.post("/orders", json=ORDER)
        assert first.status_code == 201, first.text
        order_id = first.json()["id"]

    load = Load()
    until = time.monotonic() + LOAD_SECONDS
    clients = [
        threading.Thread(target=drive, args=(base_url, token, order_id, until, load))
        for _ in range(LOAD_CLIENTS)
    ]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(timeout=LOAD_SECONDS + 60)
    record(
        stack,
        "mixed_load",
        {
            "seconds": LOAD_SECONDS,
            "clients": LOAD_CLIENTS,
            "requests": load.requests,
            "requests_per_second": round(load.requests / LOAD_SECONDS, 1),
            "statuses": {str(code): count for code, count in sorted(load.statuses.items())},
            "transport_errors": len(load.errors),
            "per_replica": dict(sorted(load.replicas.items())),
        },
    )
    assert load.errors == [], load.errors[:5]
    assert set(load.statuses) <= {200, 201}, load.statuses
    assert load.created, "no POST /orders answered 201"
    assert set(load.replicas) == replica_addresses(stack), load.replicas
    for replica, count in load.replicas.items():
        assert count >= MIN_SHARE * load.requests, f"{replica} served {count} of {load.requests}"

    # Every order whose POST got a 201 is there, whichever replica is asked.
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as client:
        for created in load.created[-30:]:
            assert client.get(f"/orders/{created}").status_code == 200, created


def test_a_stopped_replica_leaves_the_rotation_and_up_brings_it_back(lb_stack: ComposeStack) -> None:
    stack = lb_stack
    before = replica_addresses(stack)
    stopped = stack.container_ids("api")[0]
    stack.engine_cmd("stop", stopped, timeout=60)
    remaining = replica_addresses(stack)
    assert len(remaining) == LB_REPLICAS - 1, remaining
    record(stack, "stop_to_out_of_rotation", wait_rotation(stack, remaining))

    stack.up("--detach", timeout=READY_SECONDS)
    back = replica_addresses(stack)
    assert len(back) == LB_REPLICAS, back
    record(stack, "up_to_back_in_rotation", wait_rotation(stack, back))
    assert len(before) == LB_REPLICAS


def build_next_release(stack: ComposeStack, workdir: Path) -> str:
    """A second image of the app, differing only by a label: the "new release" of a roll; its tag."""
    current = stack.env["ORDERS_IMAGE"]
    tag = f"{current}-next"
    (workdir / "Containerfile").write_text(f"FROM {current}\nLABEL org.opencontainers.image.version=next\n")
    containerfile = workdir / "Containerfile"
    stack.engine_cmd("build", "-q", "-t", tag, "-f", str(containerfile), str(workdir), timeout=300)
    return tag


def replace_missing_replicas(stack: ComposeStack) -> None:
    """`up` that creates the missing api replica on the current ORDERS_IMAGE and recreates nothing else."""
    if stack.is_podman_compose_1_0:
        # 1.0 never recreates a container; it only creates the ones whose name is free.
        stack.up("--detach", timeout=READY_SECONDS)
    else:
        stack.up("--detach", "--no-deps", "--no-recreate", "api", timeout=READY_SECONDS)


def test_the_api_rolls_to_a_new_image_one_replica_at_a_time(
    lb_stack: ComposeStack, token: str, tmp_path: Path
) -> None:
    """The README's roll under load: stop and remove one old replica, `up` creates its successor, next."""
    stack = lb_stack
    new_image = build_next_release(stack, tmp_path)
    new_id = stack.engine_cmd("image", "inspect", "--format", "{{.Id}}", new_image).stdout.strip()
    old = stack.container_ids("api")
    assert len(old) == LB_REPLICAS
    base_url = f"http://{lb_address(stack)}"
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as client:
        created = client.post("/orders", json=ORDER)
        assert created.status_code == 201, created.text

    load = Load()
    stop = threading.Event()
    until = time.monotonic() + 3600
    clients = [
        threading.Thread(target=drive, args=(base_url, token, created.json()["id"], until, load, stop))
        for _ in range(2)
    ]
    for thread in clients:
        thread.start()
    stack.set_variables(ORDERS_IMAGE=new_image)
    started = time.monotonic()
    try:
        for step, replica in enumerate(old, start=1):
            # As compose's stop_grace_period for the api: SIGTERM, SIGKILL only after 20 s.
            stack.engine_cmd("stop", "--time", "20", replica, timeout=60)
            stack.engine_cmd("rm", replica)
            replace_missing_replicas(stack)
            running = stack.container_ids("api")
            assert len(running) == LB_REPLICAS, running
            # One at a time: the old replicas not yet rolled are the very same containers.
            assert set(old[step:]) <= set(running), (old[step:], running)
            wait_rotation(stack, replica_addresses(stack))
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=60)
    record(
        stack,
        "roll",
        {
            "seconds": round(time.monotonic() - started, 1),
            "requests": load.requests,
            "statuses": {str(code): count for code, count in sorted(load.statuses.items())},
            "transport_errors": len(load.errors),
        },
    )
    assert load.errors == [], load.errors[:5]
    assert set(load.statuses) <= {200, 201}, load.statuses
    rolled = stack.container_ids("api")
    assert not set(rolled) & set(old)
    assert {stack.inspect(replica, "{{.Image}}") for replica in rolled} == {new_id}
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as client:
        for order in load.created[-20:]:
            assert client.get(f"/orders/{order}").status_code == 200, order
