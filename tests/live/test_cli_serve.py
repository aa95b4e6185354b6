"""The `orders-app` command as an operator runs it: serve in a fresh directory, migrate, bad config."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live_server import CLI, LiveServer, base_env, free_port


def _request(
    url: str, *, method: str = "GET", token: str | None = None, body: object = None
) -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def fresh_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def served(fresh_dir: Path) -> Iterator[LiveServer]:
    """`orders-app serve` started in an empty directory, exactly as a newcomer would, once it is ready."""
    server = LiveServer(fresh_dir, base_env()).start(probe="/health/ready")
    try:
        yield server
    finally:
        server.stop()


def test_serve_in_a_fresh_directory_gives_a_working_api(fresh_dir: Path, served: LiveServer) -> None:
    base = served.url
    # No manual step: the SQLite database was migrated and development keys were created.
    assert (fresh_dir / "orders.db").is_file()
    assert (fresh_dir / ".keys" / "public_key.pem").is_file()

    token = subprocess.run(
        [*CLI, "token", "--sub", "alice"],
        cwd=fresh_dir,
        env=base_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    status, order = _request(
        f"{base}/orders", method="POST", token=token, body={"order": [{"product": "latte", "size": "small"}]}
    )
    assert status == 201
    assert isinstance(order, dict)
    assert _request(f"{base}/orders/{order['id']}", token=token) == (200, order)
    assert _request(f"{base}/orders")[0] == 401


def test_serve_tells_the_newcomer_how_to_get_a_token_and_stops_cleanly_on_sigterm(served: LiveServer) -> None:
    assert served.process is not None
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=15) == 0
    output = served.stdout() + served.stderr()
    assert "orders-app token --sub" in output


def test_migrate_is_idempotent(fresh_dir: Path) -> None:
    env = base_env(DB_URL=f"sqlite:///{fresh_dir / 'm.db'}")
    for _ in range(2):
        result = subprocess.run([*CLI, "migrate"], cwd=fresh_dir, env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    assert (fresh_dir / "m.db").is_file()


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"DB_URL": "mysql://u@h/d"}, "DB_URL scheme 'mysql' is not supported"),
        ({"DB_POOL_SIZE": "many"}, "DB_POOL_SIZE must be a positive number"),
        ({"AUTH_DISABLED": "perhaps"}, "AUTH_DISABLED must be true or false"),
    ],
)
def test_bad_configuration_stops_start_up_with_one_clear_line(
    fresh_dir: Path, variables: dict[str, str], expected: str
) -> None:
    result = subprocess.run(
        [*CLI, "serve", "--port", str(free_port())],
        cwd=fresh_dir,
        env=base_env(**variables),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "  orders-app: error: " in line]
    assert len(errors) == 1, result.stderr
    assert expected in errors[0]
    assert "Traceback" not in result.stderr
