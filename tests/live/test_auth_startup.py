"""Start-up of the real `orders-app serve` process: refuses broken auth configuration in one line,
and on a fresh checkout creates development keys and says how to get a token.

Every test here starts real processes on a free 127.0.0.1 port and stops them by PID.
"""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from orders_app.app import create_app
from orders_app.auth.keys import KeyPair
from tests.conftest import Backend, app_settings
from tests.live_server import free_port

ORDERS_APP = Path(sys.executable).with_name("orders-app")
# The console script `uv run orders-app` resolves to, and the module form; both must behave the same.
COMMANDS = {"console-script": [str(ORDERS_APP)], "python-m": [sys.executable, "-m", "orders_app"]}
OWN_VARIABLES = ("JWT_", "AUTH_DISABLED", "DEV_KEYS_DIR", "DB_URL", "MIGRATE_ON_START", "HTTP_PARSER", "LOG_")


def clean_env(workdir: Path, **variables: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(OWN_VARIABLES)}
    env["DB_URL"] = f"sqlite:///{workdir / 'orders.db'}"
    env.update(variables)
    return env


def orders_app(
    workdir: Path, env: dict[str, str], *arguments: str, command: str = "console-script"
) -> subprocess.CompletedProcess[str]:
    """Run an `orders-app` command in `workdir` to its end; one that is still running is killed on timeout."""
    return subprocess.run(
        [*COMMANDS[command], *arguments],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def serve_and_exit(
    workdir: Path, env: dict[str, str], command: str = "console-script"
) -> subprocess.CompletedProcess[str]:
    """Run `serve` expecting it to exit by itself."""
    return orders_app(workdir, env, "serve", "--port", str(free_port()), command=command)


# --- misconfiguration: exit 2 with one line, before a port is bound -----------------------------


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


MISCONFIGURATIONS: dict[str, tuple[Any, str]] = {
    "key-file-missing": (lambda tmp, keys: {"JWT_PUBLIC_KEY_FILE": str(tmp / "absent.pem")}, "no such file"),
    "key-file-is-a-directory": (lambda tmp, keys: {"JWT_PUBLIC_KEY_FILE": str(tmp)}, "cannot be read"),
    "key-file-not-a-key": (
        lambda tmp, keys: {"JWT_PUBLIC_KEY_FILE": str(write(tmp / "notes.pem", b"hello\n"))},
        "is neither a PEM public key nor a PEM X.509 certificate",
    ),
    "private-key-given": (
        lambda tmp, keys: {"JWT_PUBLIC_KEY_FILE": str(keys.private_key)},
        "holds a private key; give the public key or certificate instead",
    ),
    "key-file-and-jwks": (
        lambda tmp, keys: {
            "JWT_PUBLIC_KEY_FILE": str(keys.public_key),
            "JWT_JWKS_URL": "http://127.0.0.1:9/k",
        },
        "JWT_PUBLIC_KEY_FILE and JWT_JWKS_URL are both set",
    ),
    "jwks-not-http": (
        lambda tmp, keys: {"JWT_JWKS_URL": "file:///etc/passwd"},
        "must be an http:// or https:// URL",
    ),
    "key-file-set-but-empty": (
        lambda tmp, keys: {"JWT_PUBLIC_KEY_FILE": ""},
        "JWT_PUBLIC_KEY_FILE is set but empty; give a file path or unset it",
    ),
    "jwks-url-set-but-empty": (
        lambda tmp, keys: {"JWT_JWKS_URL": " "},
        "JWT_JWKS_URL is set but empty; give a URL or unset it",
    ),
    "jwks-plain-http-off-loopback": (
        lambda tmp, keys: {"JWT_JWKS_URL": "http://idp.example.com/.well-known/jwks.json"},
        "must use https:// (http:// only on loopback)",
    ),
    "http-parser-unknown": (
        lambda tmp, keys: {"JWT_PUBLIC_KEY_FILE": str(keys.public_key), "HTTP_PARSER": "fast"},
        "HTTP_PARSER must be one of auto, h11, httptools",
    ),
    "leeway-too-large": (
        lambda tmp, keys: {"JWT_PUBLIC_KEY_FILE": str(keys.public_key), "JWT_LEEWAY": "86400"},
        "JWT_LEEWAY=86400 is above 300 seconds",
    ),
    "audience-empty": (
        lambda tmp, keys: {"JWT_PUBLIC_KEY_FILE": str(keys.public_key), "JWT_AUDIENCE": ""},
        "JWT_AUDIENCE must not be empty",
    ),
    "auth-disabled-not-a-boolean": (
        lambda tmp, keys: {"AUTH_DISABLED": "perhaps"},
        "AUTH_DISABLED must be true or false",
    ),
    "dev-keys-dir-not-creatable": (
        lambda tmp, keys: {"DEV_KEYS_DIR": str(write(tmp / "a-file", b"") / "keys")},
        "cannot create development keys",
    ),
}


@pytest.mark.parametrize("name", list(MISCONFIGURATIONS))
def test_misconfigured_auth_exits_2_with_one_clear_line(name: str, tmp_path: Path, keys: KeyPair) -> None:
    make_env, message = MISCONFIGURATIONS[name]
    result = serve_and_exit(tmp_path, clean_env(tmp_path, **make_env(tmp_path, keys)))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "ERROR    orders_app  orders-app: error: " in lines[0]
    assert message in lines[0]
    assert "Uvicorn running" not in result.stdout + result.stderr
    # Refused before the migrations too: nothing was created in the working directory's database.
    assert not (tmp_path / "orders.db").exists()
    # Nor did it fall back to development mode and write a key pair.
    assert not (tmp_path / ".keys").exists()


def test_the_module_form_fails_the_same_way(tmp_path: Path) -> None:
    env = clean_env(tmp_path, JWT_PUBLIC_KEY_FILE=str(tmp_path / "absent.pem"))
    result = serve_and_exit(tmp_path, env, command="python-m")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.endswith(f"  orders-app: error: JWT_PUBLIC_KEY_FILE={tmp_path / 'absent.pem'}: no such file")


# --- a fresh checkout: one command gives a working, authenticated service -----------------------


@contextmanager
def running_server(workdir: Path, env: dict[str, str]) -> Iterator[tuple[str, Path]]:
    """Start `orders-app serve`, wait until it answers, and always stop it by its PID."""
    port = free_port()
    output = workdir / "serve.log"
    with output.open("wb") as log:
        process = subprocess.Popen(
            [str(ORDERS_APP), "serve", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"orders-app serve exited with {process.returncode}:\n{output.read_text()}")
            try:
                if httpx.get(f"{base}/health/live", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"orders-app serve did not answer within 60 s:\n{output.read_text()}")
            time.sleep(0.2)
        yield base, output
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def test_fresh_checkout_serves_with_dev_keys_and_names_the_token_command(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    with running_server(tmp_path, env) as (base, output):
        startup = output.read_text()
        assert "orders-app token --sub" in startup
        assert "development key pair" in startup

        pair = KeyPair(tmp_path / ".keys")
        assert stat.S_IMODE(pair.directory.stat().st_mode) == 0o700
        assert stat.S_IMODE(pair.private_key.stat().st_mode) == 0o600
        assert pair.public_key.is_file()
        assert pair.certificate.is_file()

        # The command the start-up output names, run where the newcomer runs it.
        minted = orders_app(tmp_path, env, "token", "--sub", "alice")
        assert minted.returncode == 0, minted.stderr
        token = minted.stdout.strip()
        with_token = httpx.get(
            f"{base}/orders", headers={"Authorization": f"Bearer {token}"}, trust_env=False
        )
        without = httpx.get(f"{base}/orders", trust_env=False)
    assert with_token.status_code == 200, with_token.text
    assert without.status_code == 401
    assert without.headers["www-authenticate"].startswith("Bearer")
    first_private_key = pair.private_key.read_bytes()

    # A second start reuses the pair, so tokens minted earlier stay valid.
    with running_server(tmp_path, env) as (base, output):
        assert "using the development key pair" in output.read_text()
        again = httpx.get(f"{base}/orders", headers={"Authorization": f"Bearer {token}"}, trust_env=False)
    assert again.status_code == 200
    assert pair.private_key.read_bytes() == first_private_key


def test_auth_disabled_serves_anonymously_and_says_so(tmp_path: Path) -> None:
    with running_server(tmp_path, clean_env(tmp_path, AUTH_DISABLED="true")) as (base, output):
        response = httpx.get(f"{base}/orders", trust_env=False)
        startup = output.read_text()
    assert response.status_code == 200
    # The factory's own warning (the CLI adds one of its own before it).
    assert "AUTH_DISABLED is set: every request is served without authentication" in startup
    # No development keys are made when nobody will check a token.
    assert not (tmp_path / ".keys").exists()


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def warnings_of(logger_name: str) -> Iterator[list[str]]:
    # Attached to the logger itself: building a Litestar app reconfigures the root logger's handlers,
    # which would drop pytest's caplog handler after the first start.
    recorder = Recorder()
    logger = logging.getLogger(logger_name)
    logger.addHandler(recorder)
    try:
        yield recorder.messages
    finally:
        logger.removeHandler(recorder)


def test_auth_disabled_warning_is_logged_by_the_app_factory_on_every_start(
    backend: Backend, keys: KeyPair
) -> None:
    # The factory, not the CLI, warns: uvicorn workers and other ASGI servers call only the factory.
    settings = app_settings(backend, keys, auth_disabled=True)
    with warnings_of("orders_app") as messages:
        for _start in range(3):
            create_app(settings)
    assert len([m for m in messages if "AUTH_DISABLED is set" in m]) == 3, messages


def test_no_warning_when_auth_is_enabled(backend: Backend, keys: KeyPair) -> None:
    with warnings_of("orders_app") as messages:
        create_app(app_settings(backend, keys))
    assert not [m for m in messages if "AUTH_DISABLED" in m]
