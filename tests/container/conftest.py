"""Fixtures for the container suite: the image built by each engine, keys, tokens and running containers.

Run with `uv run pytest -m container`. Each engine that is missing (or whose daemon is down) makes its half of
the suite skip with the reason; with ORDERS_REQUIRE_ALL=1 (set by CI) that is a failure instead.
The image is built as tests/container/images.py says (base image choice, build arguments).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.container.engines import Engine, make_engine, unique_name
from tests.container.images import Image, build_test_image

DATA_DIR = "/var/lib/orders-app"
KEY_MOUNT = "/run/secrets/jwt_public_key.pem"
RUNTIME_UID = 1000
# What every container in this suite runs with, unless a test says otherwise: the image must work this way.
HARDENED = ("--read-only", "--tmpfs", "/tmp", "--cap-drop=ALL", "--security-opt=no-new-privileges")
READY_TIMEOUT = 30.0


def _require_all() -> bool:
    return os.environ.get("ORDERS_REQUIRE_ALL", "") not in {"", "0", "false"}


@pytest.fixture(scope="session", params=["podman", "docker"])
def engine(request: pytest.FixtureRequest) -> Engine:
    candidate = make_engine(request.param)
    reason = candidate.available()
    if reason is not None:
        if _require_all():
            pytest.fail(f"ORDERS_REQUIRE_ALL=1 but {reason}")
        pytest.skip(reason)
    return candidate


@pytest.fixture(scope="session")
def image(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    built = build_test_image(engine, tmp_path_factory.mktemp(f"build-{engine.name}"))
    yield built
    engine.remove_image(built.tag)


@dataclass(frozen=True)
class Keys:
    directory: Path
    public_key: Path
    orders_app: tuple[str, ...]

    def token(self, subject: str) -> str:
        result = subprocess.run(
            [*self.orders_app, "token", "--sub", subject, "--keys-dir", str(self.directory)],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()


def _orders_app_command() -> tuple[str, ...]:
    # The `orders-app` script of the venv pytest runs in (what `uv run orders-app` runs).
    script = Path(sys.executable).with_name("orders-app")
    return (str(script),) if script.is_file() else (sys.executable, "-m", "orders_app")


@pytest.fixture(scope="session")
def cli_keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    directory = tmp_path_factory.mktemp("keys") / "pair"
    command = _orders_app_command()
    subprocess.run([*command, "keys", "init", str(directory)], capture_output=True, text=True, check=True)
    public_key = directory / "public_key.pem"
    # The container's user is not the file's owner: the public half must be world-readable (it is public).
    public_key.chmod(0o644)
    return Keys(directory, public_key, command)


@dataclass
class Running:
    engine: Engine
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, token: str | None = None, timeout: float = 10.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def refresh_port(self) -> None:
        self.port = self.engine.published_port(self.name)


def wait_ready(running: Running, timeout: float = READY_TIMEOUT) -> float:
    """Poll /health/ready until 200; returns the seconds waited. Fails with the logs if the container dies."""
    started = time.monotonic()
    deadline = started + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{running.url}/health/ready", timeout=1.0)
            if response.status_code == 200:
                return time.monotonic() - started
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as error:
            last = repr(error)
            if not running.engine.state(running.name).get("Running", False):
                pytest.fail(f"container {running.name} exited:\n{running.engine.logs(running.name)[-3000:]}")
        time.sleep(0.05)
    pytest.fail(
        f"{running.name} not ready after {timeout}s ({last}):\n{running.engine.logs(running.name)[-3000:]}"
    )


@dataclass
class Launcher:
    """Starts containers from the image under test; removes every one of them, and the volumes, at the end."""

    image: Image
    keys: Keys
    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    @property
    def engine(self) -> Engine:
        return self.image.engine

    def volume(self) -> str:
        name = unique_name("orders-test-data")
        self.engine.create_volume(name)
        self.volumes.append(name)
        return name

    def options(
        self,
        volume: str | None = None,
        env: dict[str, str] | None = None,
        hardened: bool = True,
        mount_key: bool = True,
    ) -> list[str]:
        options = list(HARDENED) if hardened else []
        if mount_key:
            options += ["-v", f"{self.keys.public_key}:{KEY_MOUNT}:ro"]
        if volume:
            options += ["-v", f"{volume}:{DATA_DIR}"]
        for key, value in (env or {}).items():
            options += ["-e", f"{key}={value}"]
        return options

    def start(
        self,
        *,
        volume: str | None = None,
        env: dict[str, str] | None = None,
        extra: Sequence[str] = (),
        hardened: bool = True,
        wait: bool = True,
    ) -> Running:
        name = unique_name(f"orders-test-{self.engine.name}")
        self.containers.append(name)
        # Published on loopback only, on a port the engine picks (free by construction).
        options = ["-p", "127.0.0.1::8080", *self.options(volume, env, hardened), *extra]
        self.engine.run_detached(self.image.tag, name, options)
        running = Running(self.engine, name, self.engine.published_port(name))
        if wait:
            wait_ready(running)
        return running

    def close(self) -> None:
        for name in reversed(self.containers):
            self.engine.remove_container(name)
        for name in self.volumes:
            self.engine.remove_volume(name)


@pytest.fixture
def launcher(image: Image, cli_keys: Keys) -> Iterator[Launcher]:
    launcher = Launcher(image, cli_keys)
    yield launcher
    launcher.close()


@pytest.fixture(scope="session")
def token(cli_keys: Keys) -> Callable[[str], str]:
    """Tokens minted by `orders-app token` with the pair whose public half the containers get."""
    return cli_keys.token
