"""The `orders-app` command as an operator runs it: serve in a fresh directory, migrate, bad config."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live_server import CLI, free_port


def _clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DB_", "JWT_", "AUTH_"))}
    env.update(extra)
    return env


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
def served(fresh_dir: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`orders-app serve` started in an empty directory, exactly as a newcomer would."""
    port = free_port()
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        cwd=fresh_dir,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"serve exited early:\n{server.stdout.read() if server.stdout else ''}")
            try:
                if _request(f"{base}/health/ready")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("serve did not become ready within 30 s")
        yield base, server
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_serve_in_a_fresh_directory_gives_a_working_api(
    fresh_dir: Path, served: tuple[str, subprocess.Popen[str]]
) -> None:
    base, _server = served
    # No manual step: the SQLite database was migrated and development keys were created.
    assert (fresh_dir / "orders.db").is_file()
    assert (fresh_dir / ".keys" / "public_key.pem").is_file()

    token = subprocess.run(
        [*CLI, "token", "--sub", "alice"],
        cwd=fresh_dir,
        env=_clean_env(),
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


def test_serve_tells_the_newcomer_how_to_get_a_token_and_stops_cleanly_on_sigterm(
    served: tuple[str, subprocess.Popen[str]],
) -> None:
    _base, server = served
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=15) == 0
    output = server.stdout.read() if server.stdout else ""
    assert "orders-app token --sub" in output


def test_migrate_is_idempotent(fresh_dir: Path) -> None:
    env = _clean_env(DB_URL=f"sqlite:///{fresh_dir / 'm.db'}")
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
        env=_clean_env(**variables),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("orders-app: error:")]
    assert len(errors) == 1, result.stderr
    assert expected in errors[0]
    assert "Traceback" not in result.stderr
