"""A readiness probe writes its access line and nothing else: orchestrators probe every few seconds.

A real `orders-app serve` process, because what matters is what reaches its stdout and stderr, with
the logging the command sets up. Start-up ends when the service has said it is ready once (the one
"readiness: ok" line); every probe after that checks the database again (the answer's cache is
shorter than the pause between probes) and must add exactly one access line to stdout and nothing to
stderr.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.conftest import Backend
from tests.live_server import LiveServer

pytestmark = pytest.mark.slow

PROBES = 5
# Readiness answers are reused for this long; the probes are spaced wider, so each one queries.
CACHE_SECONDS = 0.05
PAUSE_SECONDS = 0.2


@pytest.fixture(scope="module")
def server_db_url(backend: Backend) -> str:
    return backend.url


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    return {"READINESS_CACHE_SECONDS": str(CACHE_SECONDS)}


def test_five_readiness_probes_write_five_access_lines_and_nothing_else(server: LiveServer) -> None:
    deadline = time.monotonic() + 30
    while httpx.get(f"{server.url}/health/ready", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the service did not become ready"
        time.sleep(0.1)
    time.sleep(PAUSE_SECONDS)
    stdout_before, stderr_before = server.stdout(), server.stderr()

    for _ in range(PROBES):
        assert httpx.get(f"{server.url}/health/ready", timeout=5).status_code == 200
        time.sleep(PAUSE_SECONDS)

    stdout_gained = server.stdout()[len(stdout_before) :]
    stderr_gained = server.stderr()[len(stderr_before) :]
    assert stderr_gained == "", f"the probes wrote to stderr:\n{stderr_gained}"
    lines = [json.loads(line) for line in stdout_gained.splitlines()]
    assert [(line["path"], line["status"]) for line in lines] == [("/health/ready", 200)] * PROBES
