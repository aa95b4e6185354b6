"""GET /metrics of a served process: two workers' counts add up, METRICS_PORT, refusals the server writes."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.api.test_metrics import moved, parse, requests_key
from tests.conftest import run_migrations
from tests.factories import order_body
from tests.live_server import LiveServer, base_env, free_port


def _served(tmp_path: Path, **env: str) -> dict[str, str]:
    db_url = f"sqlite:///{tmp_path / 'metrics.db'}"
    run_migrations(db_url)
    return base_env(DB_URL=db_url, AUTH_DISABLED="true", MIGRATE_ON_START="false", **env)


def _count(base_url: str, name: str, labels: dict[str, str]) -> float:
    samples = parse(httpx.get(f"{base_url}/metrics", timeout=10).text)
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _wait_for_workers(server: LiveServer, workers: int, timeout: float = 60.0) -> None:
    """Until every worker has started: the first one to answer says nothing of the others."""
    deadline = time.monotonic() + timeout
    while server.stderr().count("Application startup complete.") < workers:
        assert time.monotonic() < deadline, f"{workers} workers did not start:\n{server.stderr()}"
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("separate_port", [False, True], ids=["main-port", "metrics-port"])
def test_with_two_workers_the_counts_of_both_add_up(tmp_path: Path, separate_port: bool) -> None:
    requests = 40
    labels = {"method": "GET", "route": "/orders", "status": "2xx"}
    metrics_port = free_port()
    env = _served(tmp_path, **({"METRICS_PORT": str(metrics_port)} if separate_port else {}))
    with LiveServer(tmp_path, env, args=["--workers", "2"]) as server:
        _wait_for_workers(server, 2)
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
