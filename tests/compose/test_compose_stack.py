"""The compose stack end to end, on Docker and (where it can) on podman.

These are the claims of the README's Compose section, proven in order. The tests share one project
(module scope) and run in file order, each building on the state the previous one left: up from
nothing -> orders -> second `up` -> graceful stop -> `down` + `up` keeps data -> database outage -> two api
replicas -> `down -v` deletes data. The fixture removes the project and its volumes whatever happens.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.compose.compose_stack import REPO_ROOT, ComposeError, ComposeStack, free_port_range

pytestmark = [pytest.mark.compose, pytest.mark.timeout(900)]

# An answer slower than this while the database is down counts as a hang.
OUTAGE_ANSWER_SECONDS = 5.0
BUILD_SECONDS = 900
HEALTHY_SECONDS = 180

ORDER = {"order": [{"product": "latte", "size": "small", "quantity": 2}]}
TIMINGS: dict[str, float] = {}


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


def up_until_healthy(stack: ComposeStack, label: str) -> None:
    started = time.monotonic()
    try:
        stack.compose("up", "--detach", timeout=HEALTHY_SECONDS)
    except ComposeError as error:
        raise ComposeError(f"{error}\n--- logs ---\n{stack.logs()}") from None
    stack.wait_healthy("api", timeout=HEALTHY_SECONDS)
    TIMINGS[label] = round(time.monotonic() - started, 1)


def migrate_succeeded(stack: ComposeStack) -> None:
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
        artifacts = REPO_ROOT / ".ci" / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        (artifacts / "compose-timings.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")
        print(f"\ncompose timings (s): {TIMINGS}")


def test_up_from_a_clean_state_becomes_healthy(stack: ComposeStack) -> None:
    assert stack.volumes() == [], "the project must start without data"
    started = time.monotonic()
    stack.compose("build", timeout=BUILD_SECONDS)
    TIMINGS["build"] = round(time.monotonic() - started, 1)

    up_until_healthy(stack, "up_to_api_healthy_first_start")

    migrate_succeeded(stack)
    db = stack.container_id("db")
    assert stack.engine_cmd("port", db).stdout.strip() == "", "db must not publish ports"
    assert stack.status(db)[1] == "healthy"


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
    stack.compose("up", "--detach", timeout=HEALTHY_SECONDS)
    assert stack.inspect(stack.container_id("migrate"), "{{.State.StartedAt}}") != first_run, (
        "a second `up` must run the migrations again"
    )
    migrate_succeeded(stack)
    stack.wait_healthy("api", timeout=HEALTHY_SECONDS)
    assert stack.container_id("api") == api_before, "an unchanged api must not be recreated"
    with api(stack, token) as client:
        assert {created["paid"], created["cancelled"]} <= set(orders_by_id(client))


def test_api_stops_gracefully(stack: ComposeStack) -> None:
    api_id = stack.container_id("api")
    started = time.monotonic()
    stack.compose("stop", "api", timeout=60)
    TIMINGS["api_stop"] = round(time.monotonic() - started, 1)
    state, _, code = stack.status(api_id)
    # 0: uvicorn handled SIGTERM and exited by itself; 137 would mean the engine had to SIGKILL it.
    assert (state, code) == ("exited", 0), stack.logs("api")


def test_orders_survive_down_and_up(stack: ComposeStack, token: str, created: dict[str, str]) -> None:
    stack.compose("down", timeout=120)
    assert stack.container_ids("db") == []
    assert any(name.endswith("_db-data") for name in stack.volumes()), "down must keep the volume"

    up_until_healthy(stack, "up_to_api_healthy_existing_volume")

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
        assert_prompt_503(client, "GET", "/health/ready")
        assert_prompt_503(client, "GET", "/orders")
        assert_prompt_503(client, "GET", f"/orders/{created['paid']}")
        assert_prompt_503(client, "POST", "/orders", json=ORDER)

        outage_ended = time.monotonic()
        stack.compose("start", "db", timeout=60)
        stack.wait_healthy("db", timeout=60)
        deadline = time.monotonic() + 30
        while (ready := client.get("/health/ready")).status_code != 200:
            assert time.monotonic() < deadline, f"api did not recover: {ready.status_code} {ready.text}"
            time.sleep(0.5)
        TIMINGS["db_start_to_api_ready"] = round(time.monotonic() - outage_ended, 1)

        assert created["paid"] in orders_by_id(client)
        assert client.post("/orders", json=ORDER).status_code == 201

    assert stack.container_id("api") == api_id
    assert stack.inspect(api_id, "{{.State.StartedAt}}") == started_at, "api was restarted"
    assert stack.inspect(api_id, "{{.RestartCount}}") == "0"


def test_two_replicas_share_one_database(stack: ComposeStack, token: str, created: dict[str, str]) -> None:
    first, last = free_port_range(2)
    stack.set_variables(ORDERS_API_PORT=f"{first}-{last}")
    stack.compose("up", "--detach", "--scale", "api=2", timeout=HEALTHY_SECONDS)
    replicas = stack.wait_healthy("api", timeout=HEALTHY_SECONDS)
    assert len(replicas) == 2
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
