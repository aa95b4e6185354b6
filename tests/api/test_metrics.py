"""GET /metrics: every request counted once by route template, read back with prometheus-client's parser."""

from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from orders_app.app import create_app, serving_stack
from orders_app.auth.failures import MALFORMED, MISSING
from tests.conftest import Backend, TokenMinter, app_settings, run_migrations
from tests.factories import new_user, order_body
from tests.live_server import LiveServer, base_env, free_port

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


def _served(tmp_path: Path, **env: str) -> dict[str, str]:
    db_url = f"sqlite:///{tmp_path / 'metrics.db'}"
    run_migrations(db_url)
    return base_env(DB_URL=db_url, AUTH_DISABLED="true", MIGRATE_ON_START="false", **env)


def _count(base_url: str, name: str, labels: dict[str, str]) -> float:
    samples = parse(httpx.get(f"{base_url}/metrics", timeout=10).text)
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.slow
@pytest.mark.parametrize("separate_port", [False, True], ids=["main-port", "metrics-port"])
def test_with_two_workers_the_counts_of_both_add_up(tmp_path: Path, separate_port: bool) -> None:
    requests = 40
    labels = {"method": "GET", "route": "/orders", "status": "2xx"}
    metrics_port = free_port()
    env = _served(tmp_path, **({"METRICS_PORT": str(metrics_port)} if separate_port else {}))
    with LiveServer(tmp_path, env, args=["--workers", "2"]) as server:
        # The main port's /metrics is answered by a worker; METRICS_PORT by the parent process.
        scrape_url = f"http://127.0.0.1:{metrics_port}" if separate_port else server.url
        before = _count(scrape_url, "orders_http_requests_total", labels)
        for _ in range(requests):
            # A fresh connection each time, so the kernel spreads them over both workers' accept().
            assert httpx.get(f"{server.url}/orders", timeout=10).status_code == 200
        placed = [httpx.post(f"{server.url}/orders", json=order_body(), timeout=10) for _ in range(6)]
        assert [r.status_code for r in placed] == [201] * 6
        assert _count(scrape_url, "orders_http_requests_total", labels) - before == requests
        assert _count(scrape_url, "orders_placed_total", {}) == 6
        # Process metrics of each worker, by pid (not just of the one that answered).
        samples = parse(httpx.get(f"{scrape_url}/metrics", timeout=10).text)
        pids = {dict(labels)["pid"] for name, labels in samples if name == "process_resident_memory_bytes"}
        assert len(pids) == 2, pids
        assert all(samples[("process_open_fds", (("pid", pid),))] > 0 for pid in pids)
    assert "Traceback" not in server.stderr()


@pytest.mark.slow
def test_metrics_port_moves_metrics_off_the_main_listener(tmp_path: Path) -> None:
    port = free_port()
    with LiveServer(tmp_path, _served(tmp_path, METRICS_PORT=str(port))) as server:
        assert httpx.get(f"{server.url}/orders", timeout=10).status_code == 200
        assert httpx.get(f"{server.url}/metrics", timeout=10).status_code == 404
        separate = f"http://127.0.0.1:{port}"
        assert (
            _count(
                separate, "orders_http_requests_total", {"method": "GET", "route": "/orders", "status": "2xx"}
            )
            == 1
        )


@pytest.mark.slow
def test_refusals_written_by_the_server_are_counted_by_limit(tmp_path: Path) -> None:
    env = _served(tmp_path, MAX_HEADER_BYTES="4096", HEADER_READ_TIMEOUT="1")
    with LiveServer(tmp_path, env) as server:
        before = parse(httpx.get(f"{server.url}/metrics", timeout=10).text)
        # 431: a header block over MAX_HEADER_BYTES.
        big = httpx.get(f"{server.url}/orders", headers={"X-Filler": "a" * 8192}, timeout=10)
        assert big.status_code == 431
        # 408: a header block that never completes.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as slow:
            slow.sendall(b"GET /orders HTTP/1.1\r\nHost: x\r\n")
            answer = slow.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408")
        after = parse(httpx.get(f"{server.url}/metrics", timeout=10).text)
    assert moved(before, after, "orders_http_requests_shed_total") == {
        (("limit", "header_size"),): 1,
        (("limit", "timeout"),): 1,
    }
    # Refused before the application saw them: no request series moved but the first scrape's.
    assert moved(before, after, "orders_http_requests_total") == {requests_key("GET", "/metrics", "2xx"): 1}
