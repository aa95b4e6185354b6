"""GET /metrics: every request counted once by route template, read back with prometheus-client's parser."""

from __future__ import annotations

from collections import Counter
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from orders_app.app import create_app, serving_stack
from orders_app.auth.failures import MALFORMED, MISSING
from tests.conftest import Backend, TokenMinter, app_settings
from tests.factories import new_user, order_body

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def moved(before: Samples, after: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Which series of `name` changed, and by how much."""
    delta = {}
    for (sample, labels), value in after.items():
        if sample == name and value != before.get((sample, labels), 0.0):
            delta[labels] = value - before.get((sample, labels), 0.0)
    return delta


def requests_key(method: str, route: str, status: str) -> tuple[tuple[str, str], ...]:
    return (("method", method), ("route", route), ("status", status))


async def scrape(client: AsyncTestClient[Litestar]) -> Samples:
    # No Authorization header: /metrics is never behind the bearer token.
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def test_a_known_mix_moves_every_counter_by_exactly_what_was_sent(
    client: AsyncTestClient[Litestar], token_for: TokenMinter
) -> None:
    subject = new_user("metrics")
    auth = {"Authorization": f"Bearer {token_for(subject)}"}
    before = await scrape(client)

    created = [await client.post("/orders", json=order_body(), headers=auth) for _ in range(3)]
    assert [r.status_code for r in created] == [201, 201, 201]
    order_ids = [r.json()["id"] for r in created]
    assert (await client.get(f"/orders/{order_ids[0]}", headers=auth)).status_code == 200
    assert (await client.get("/orders", headers=auth)).status_code == 200
    assert (await client.post(f"/orders/{order_ids[0]}/pay", headers=auth)).status_code == 200
    assert (await client.post(f"/orders/{order_ids[1]}/cancel", headers=auth)).status_code == 200
    # 409: a cancelled order cannot be paid.
    assert (await client.post(f"/orders/{order_ids[1]}/pay", headers=auth)).status_code == 409
    # 401 twice without a token, once with a malformed one.
    assert (await client.get("/orders")).status_code == 401
    assert (await client.get(f"/orders/{order_ids[2]}")).status_code == 401
    assert (await client.get("/orders", headers={"Authorization": "Bearer x.y.z"})).status_code == 401
    # 404: an unknown path (twice, with different ids) and an unknown order.
    assert (await client.get("/no/such/path/1")).status_code == 404
    assert (await client.get("/no/such/path/2")).status_code == 404
    unknown = "00000000-0000-4000-8000-000000000000"
    assert (await client.get(f"/orders/{unknown}", headers=auth)).status_code == 404
    # 413: a body over MAX_BODY_BYTES; 422: an invalid one.
    too_big = b"{" + b" " * 262_144 + b"}"
    headers = {**auth, "Content-Type": "application/json"}
    assert (await client.post("/orders", content=too_big, headers=headers)).status_code == 413
    assert (await client.post("/orders", json={"order": []}, headers=auth)).status_code == 422

    after = await scrape(client)
    requests = moved(before, after, "orders_http_requests_total")
    assert requests == {
        requests_key("POST", "/orders", "2xx"): 3,
        requests_key("GET", "/orders/{order_id}", "2xx"): 1,
        requests_key("GET", "/orders", "2xx"): 1,
        requests_key("POST", "/orders/{order_id}/pay", "2xx"): 1,
        requests_key("POST", "/orders/{order_id}/cancel", "2xx"): 1,
        requests_key("POST", "/orders/{order_id}/pay", "4xx"): 1,
        requests_key("GET", "/orders", "4xx"): 2,
        requests_key("GET", "/orders/{order_id}", "4xx"): 2,
        requests_key("GET", "unmatched", "4xx"): 2,
        requests_key("POST", "/orders", "4xx"): 2,
        # The first scrape, counted once it had been answered.
        requests_key("GET", "/metrics", "2xx"): 1,
    }
    # The histogram saw exactly the same requests, route by route.
    latency = moved(before, after, "orders_http_request_duration_seconds_count")
    per_route: Counter[tuple[tuple[str, str], ...]] = Counter()
    for labels, count in requests.items():
        per_route[labels[:2]] += int(count)
    assert latency == dict(per_route)
    assert moved(before, after, "orders_http_requests_shed_total") == {(("limit", "body_size"),): 1}
    failures = moved(before, after, "orders_auth_failures_total")
    assert failures == {
        (("reason", MISSING),): 2,
        (("reason", MALFORMED),): 1,
    }, failures
    assert moved(before, after, "orders_placed_total") == {(): 3}
    assert moved(before, after, "orders_status_transitions_total") == {
        (("from_status", "created"), ("to_status", "paid")): 1,
        (("from_status", "created"), ("to_status", "cancelled")): 1,
    }
    # Nothing in flight but the scrape itself, no connection held, nobody waiting.
    assert after[("orders_http_requests_in_flight", ())] == 1
    assert after[("orders_db_connections_in_use", ())] == 0
    assert after[("orders_db_checkout_waiting", ())] == 0
    assert ("process_resident_memory_bytes", ()) in after
    assert ("process_open_fds", ()) in after


async def test_disabled_metrics_are_not_served(backend: Backend, keys: Any) -> None:
    app = create_app(app_settings(backend, keys, metrics_enabled=False))
    async with AsyncTestClient(serving_stack(app)) as client:
        assert (await client.get("/metrics")).status_code == 404
