"""The compose stack end to end, the same tests on docker-compose and on podman-compose (1.0 and latest).

These are the claims of the README's Compose section, proven in order. The tests share one project
(module scope) and run in file order, each building on the state the previous one left: the api started
20 s before its database -> orders -> second `up` -> graceful stop -> `down` + `up` keeps data -> database
outage -> two api replicas -> `down -v` deletes data -> the schema migrated while the api serves 503s ->
up-to-ready figures. The fixture removes the project, its volumes and networks whatever happens.

Readiness is read over HTTP from the published port, never from the engine's health status: podman 4.3
without systemd runs no healthchecks. Only the check that the healthchecks themselves pass is docker-only.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx
import pytest

from orders_app.settings import Settings
from tests.compose.compose_stack import ComposeError, ComposeStack, free_port, merge_artifact
from tests.factories import item, order_body

pytestmark = [pytest.mark.compose, pytest.mark.timeout(900)]

# An answer slower than this while the database is down counts as a hang.
OUTAGE_ANSWER_SECONDS = 5.0
# compose.yaml leaves READINESS_CACHE_SECONDS at its default: a ready answer may be that old.
READINESS_CACHE_SECONDS = Settings().readiness_cache_seconds
HEALTHY_SECONDS = 180

# The start-order test: how long the api runs before PostgreSQL even exists.
API_HEAD_START_SECONDS = 20
FIGURE_RUNS = 3

ORDER = order_body(item("latte", quantity=2))
TIMINGS: dict[str, dict[str, Any]] = {}


def api(stack: ComposeStack, token: str, index: int = 1) -> httpx.Client:
    address = stack.published_address("api", 8080, index=index)
    assert address.startswith("127.0.0.1:"), f"api published on {address}, expected loopback"
    return httpx.Client(
        base_url=f"http://{address}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(OUTAGE_ANSWER_SECONDS * 2),
    )


def orders_by_id(client: httpx.Client) -> dict[str, dict[str, Any]]:
    response = client.get("/orders")
    assert response.status_code == 200, response.text
    return {order["id"]: order for order in response.json()["orders"]}


def wait_ready(stack: ComposeStack, index: int = 1, timeout: float = HEALTHY_SECONDS) -> float:
    """Poll the replica's published /health/ready until 200; the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            address = stack.published_address("api", 8080, index=index)
            response = httpx.get(f"http://{address}/health/ready", timeout=3)
            if response.status_code == 200:
                return time.monotonic() - started
            last = f"{response.status_code} {response.text}"
        except (ComposeError, httpx.TransportError) as error:
            last = f"{type(error).__name__}: {str(error)[:200]}"
        time.sleep(0.5)
    raise ComposeError(f"api replica {index} not ready after {timeout:.0f}s ({last})\n{stack.logs()}")


def check_healthchecks_pass(stack: ComposeStack) -> None:
    """The engine's own view: docker runs the healthchecks; podman 4.3 without systemd never does."""
    if not stack.runs_healthchecks:
        reason = "podman runs healthchecks only from systemd timers, absent here"
        print(f"\n[{stack.leg}] engine health status not checked: {reason}")
        return
    stack.wait_healthy("api", timeout=HEALTHY_SECONDS)
    assert stack.status(stack.container_id("db"))[1] == "healthy"


def up_until_ready(stack: ComposeStack, *args: str) -> float:
    started = time.monotonic()
    try:
        stack.up("--detach", *args, timeout=HEALTHY_SECONDS)
    except ComposeError as error:
        raise ComposeError(f"{error}\n--- logs ---\n{stack.logs()}") from None
    wait_ready(stack)
    return round(time.monotonic() - started, 1)


def record(stack: ComposeStack, label: str, value: Any) -> None:
    TIMINGS.setdefault(stack.leg, {})[label] = value


def migrate_succeeded(stack: ComposeStack) -> None:
    # `up --detach` returns while the one-shot may still be on its way out.
    deadline = time.monotonic() + 60
    while stack.status(stack.container_id("migrate"))[0] == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    state, _, code = stack.status(stack.container_id("migrate"))
    assert (state, code) == ("exited", 0), stack.logs("migrate")


@pytest.fixture(scope="module")
def created(stack: ComposeStack) -> dict[str, str]:
    """Ids of the orders the round-trip test creates, for the later persistence checks."""
    return {}


@pytest.fixture(scope="module", autouse=True)
def report_timings() -> Any:
    yield
    if TIMINGS:
        merge_artifact("compose-timings.json", TIMINGS)


def test_api_started_before_postgresql_becomes_ready_then_serves(stack: ComposeStack, token: str) -> None:
    assert stack.volumes() == [], "the project must start without data"
    started = time.monotonic()
    stack.build()
    record(stack, "build", round(time.monotonic() - started, 1))

    # Only the api: no database container runs yet, let alone a ready one.
    stack.start_only("api")
    with api(stack, token) as client:
        head_start = time.monotonic()
        while time.monotonic() - head_start < API_HEAD_START_SECONDS:
            try:
                live = client.get("/health/live")
            except httpx.TransportError:
                time.sleep(0.5)  # still starting
                continue
            assert live.status_code == 200, "liveness must not depend on the database"
            ready = client.get("/health/ready")
            assert ready.status_code == 503, ready.text
            assert ready.json()["detail"].startswith("database unreachable"), ready.text
            time.sleep(2)
        refused = client.post("/orders", json=ORDER)
        assert refused.status_code == 503, refused.text
        assert refused.json()["detail"].startswith("database unreachable")

        # Now the rest of the stack: PostgreSQL initialises, migrate waits for it, the api heals itself.
        record(stack, "db_up_to_api_ready_after_head_start", up_until_ready(stack))
        first = client.post("/orders", json=ORDER)
        assert first.status_code == 201, first.text
        assert first.json()["id"] in orders_by_id(client)

    migrate_succeeded(stack)
    db = stack.container_id("db")
    assert stack.engine_cmd("port", db).stdout.strip() == "", "db must not publish ports"
    check_healthchecks_pass(stack)


def test_orders_round_trip_with_a_real_token(
    stack: ComposeStack, token: str, created: dict[str, str]
) -> None:
    with api(stack, token) as client:
        assert client.get("/health/live").status_code == 200
        assert client.get("/orders", headers={"Authorization": ""}).status_code == 401

        to_pay = client.post("/orders", json=ORDER)
        to_cancel = client.post("/orders", json=ORDER)
        assert to_pay.status_code == 201, to_pay.text
        assert to_cancel.status_code == 201, to_cancel.text
        created["paid"] = to_pay.json()["id"]
        created["cancelled"] = to_cancel.json()["id"]

        listed = orders_by_id(client)
        assert set(created.values()) <= set(listed)

        paid = client.post(f"/orders/{created['paid']}/pay")
        assert paid.status_code == 200, paid.text
        cancelled = client.post(f"/orders/{created['cancelled']}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"

        statuses = {oid: order["status"] for oid, order in orders_by_id(client).items()}
        created["paid_status"] = paid.json()["status"]
        assert statuses[created["paid"]] == created["paid_status"] != "created"
        assert statuses[created["cancelled"]] == "cancelled"


def test_a_second_up_reruns_migrations_harmlessly(
    stack: ComposeStack, token: str, created: dict[str, str]
) -> None:
    api_before = stack.container_id("api")
    migrate = stack.container_id("migrate")
    first_run = stack.inspect(migrate, "{{.State.StartedAt}}")
    stack.up("--detach", timeout=HEALTHY_SECONDS)
    assert stack.inspect(stack.container_id("migrate"), "{{.State.StartedAt}}") != first_run, (
        "a second `up` must run the migrations again"
    )
    migrate_succeeded(stack)
    wait_ready(stack)
    assert stack.container_id("api") == api_before, "an unchanged api must not be recreated"
    with api(stack, token) as client:
        assert {created["paid"], created["cancelled"]} <= set(orders_by_id(client))


def test_api_stops_gracefully(stack: ComposeStack) -> None:
    api_id = stack.container_id("api")
    started = time.monotonic()
    stack.compose("stop", "api", timeout=60)
    record(stack, "api_stop", round(time.monotonic() - started, 1))
    state, _, code = stack.status(api_id)
    # 0: uvicorn handled SIGTERM and exited by itself; 137 would mean the engine had to SIGKILL it.
    assert (state, code) == ("exited", 0), stack.logs("api")


def test_orders_survive_down_and_up(stack: ComposeStack, token: str, created: dict[str, str]) -> None:
    stack.compose("down", timeout=120)
    assert stack.container_ids("db") == []
    assert any(name.endswith("_db-data") for name in stack.volumes()), "down must keep the volume"

    up_until_ready(stack)

    with api(stack, token) as client:
        listed = orders_by_id(client)
    assert listed[created["paid"]]["status"] == created["paid_status"]
    assert listed[created["cancelled"]]["status"] == "cancelled"


def assert_prompt_503(client: httpx.Client, method: str, path: str, **kwargs: Any) -> None:
    started = time.monotonic()
    response = client.request(method, path, **kwargs)
    elapsed = time.monotonic() - started
    assert response.status_code == 503, f"{method} {path}: {response.status_code} {response.text}"
    assert response.json().get("detail"), f"{method} {path}: 503 without detail: {response.text}"
    assert elapsed < OUTAGE_ANSWER_SECONDS, f"{method} {path} took {elapsed:.1f}s with the database down"


def test_api_answers_503_while_the_database_is_down_and_recovers(
    stack: ComposeStack, token: str, created: dict[str, str]
) -> None:
    api_id = stack.container_id("api")
    started_at = stack.inspect(api_id, "{{.State.StartedAt}}")

    with api(stack, token) as client:
        stack.compose("stop", "db", timeout=60)
        assert stack.status(stack.container_id("db"))[0] == "exited"

        assert client.get("/health/live").status_code == 200, "liveness must not depend on the database"
        # The engine's healthcheck (docker runs it) may have refreshed the cached answer just before
        # the stop: the outage must show once that answer is older than READINESS_CACHE_SECONDS.
        deadline = time.monotonic() + READINESS_CACHE_SECONDS + 1
        while client.get("/health/ready").status_code == 200:
            assert time.monotonic() < deadline, "/health/ready still 200 after the readiness cache period"
            time.sleep(0.1)
        assert_prompt_503(client, "GET", "/health/ready")
        assert_prompt_503(client, "GET", "/orders")
        assert_prompt_503(client, "GET", f"/orders/{created['paid']}")
        assert_prompt_503(client, "POST", "/orders", json=ORDER)

        outage_ended = time.monotonic()
        stack.compose("start", "db", timeout=60)
        deadline = time.monotonic() + 60
        while (ready := client.get("/health/ready")).status_code != 200:
            assert time.monotonic() < deadline, f"api did not recover: {ready.status_code} {ready.text}"
            time.sleep(0.5)
        record(stack, "db_start_to_api_ready", round(time.monotonic() - outage_ended, 1))

        assert created["paid"] in orders_by_id(client)
        assert client.post("/orders", json=ORDER).status_code == 201

    assert stack.container_id("api") == api_id
    assert stack.inspect(api_id, "{{.State.StartedAt}}") == started_at, "api was restarted"
    assert stack.inspect(api_id, "{{.RestartCount}}") == "0"


def test_two_replicas_share_one_database(stack: ComposeStack, token: str, created: dict[str, str]) -> None:
    # Empty ORDERS_API_PORT: the engine gives each replica a free loopback port.
    stack.set_variables(ORDERS_API_REPLICAS="2", ORDERS_API_PORT="")
    stack.up("--detach", timeout=HEALTHY_SECONDS)
    replicas = stack.container_ids("api")
    assert len(replicas) == 2
    for index in (1, 2):
        wait_ready(stack, index=index)
    migrate_succeeded(stack)
    for replica in replicas:
        # Migrations stay with the one-shot service: replicas never run them, so they cannot race.
        assert "MIGRATE_ON_START=false" in stack.inspect(replica, "{{json .Config.Env}}")

    with api(stack, token, index=1) as one, api(stack, token, index=2) as two:
        assert one.base_url != two.base_url
        new = one.post("/orders", json=ORDER)
        assert new.status_code == 201, new.text
        seen_by_two = orders_by_id(two)
        assert new.json()["id"] in seen_by_two
        assert created["paid"] in seen_by_two


def test_down_with_volumes_removes_the_data(stack: ComposeStack) -> None:
    stack.compose("down", "--volumes", "--timeout", "20", timeout=120)
    assert stack.container_ids("db") == []
    assert stack.container_ids("api") == []
    assert stack.volumes() == []


def test_schema_migrated_while_the_api_serves_503s_then_serves(stack: ComposeStack, token: str) -> None:
    # A fresh volume, PostgreSQL and the api, but no migration yet (as when `migrate` is run by hand later).
    stack.set_variables(ORDERS_API_REPLICAS="1", ORDERS_API_PORT=str(free_port()))
    stack.start_only("db", "api")
    with api(stack, token) as client:
        deadline = time.monotonic() + HEALTHY_SECONDS
        detail = ""
        while "schema at revision none" not in detail:
            assert time.monotonic() < deadline, f"api never reported the missing schema: {detail}"
            time.sleep(0.5)
            try:
                ready = client.get("/health/ready")
            except httpx.TransportError:
                continue
            assert ready.status_code == 503, ready.text
            detail = ready.json()["detail"]
        assert detail.endswith("run `orders-app migrate`")
        refused = client.post("/orders", json=ORDER)
        assert refused.status_code == 503, refused.text
        assert refused.json()["detail"] == detail

        api_id = stack.container_id("api")
        stack.up("--detach", timeout=HEALTHY_SECONDS)
        wait_ready(stack, timeout=60)
        first = client.post("/orders", json=ORDER)
        assert first.status_code == 201, first.text
        assert stack.container_id("api") == api_id, "the api must heal without being recreated"
    migrate_succeeded(stack)


def test_up_to_ready_figures(stack: ComposeStack) -> None:
    """compose up -> api ready, FIGURE_RUNS times on a fresh volume and on an existing one (reported)."""
    fresh, existing = [], []
    for _ in range(FIGURE_RUNS):
        stack.compose("down", "--volumes", "--timeout", "10", timeout=120)
        assert stack.volumes() == []
        fresh.append(up_until_ready(stack))
    for _ in range(FIGURE_RUNS):
        stack.compose("down", "--timeout", "10", timeout=120)
        existing.append(up_until_ready(stack))
    record(stack, "up_to_ready_fresh_volume", {"runs": fresh, "median": statistics.median(fresh)})
    record(stack, "up_to_ready_existing_volume", {"runs": existing, "median": statistics.median(existing)})
