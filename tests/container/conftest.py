"""Fixtures for the container suite: the image built by each engine, keys, tokens and running containers.

Run with `uv run pytest -m container`. Each engine that is missing (or whose daemon is down) makes its half of
the suite skip with the reason; with ORDERS_REQUIRE_ALL=1 (set by CI) that is a failure instead.
The base image is $ORDERS_PYTHON_BASE_IMAGE, else the CI stand-in if the engine has it, else the
Containerfile's default (which needs a registry).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.container.engines import STAND_IN_PYTHON_IMAGE, Engine, EngineError, make_engine, unique_name

REPO_ROOT = Path(__file__).resolve().parents[2]
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


@dataclass(frozen=True)
class Image:
    engine: Engine
    tag: str
    base: str  # the PYTHON_IMAGE it was built on
    build_args: dict[str, str]
    build_seconds: float


def _containerfile_default(argument: str) -> str:
    for line in (REPO_ROOT / "Containerfile").read_text().splitlines():
        if line.startswith(f"ARG {argument}="):
            return line.split("=", 1)[1].strip()
    raise LookupError(f"no ARG {argument}= in Containerfile")


def _project_version() -> str:
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        return str(tomllib.load(handle)["project"]["version"])


def _git_revision() -> str:
    result = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else "unknown"


@pytest.fixture(scope="session")
def image(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    base = os.environ.get("ORDERS_PYTHON_BASE_IMAGE") or (
        STAND_IN_PYTHON_IMAGE if engine.has_image(STAND_IN_PYTHON_IMAGE) else None
    )
    build_args = {
        "VERSION": _project_version(),
        "REVISION": _git_revision(),
        "CREATED": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if base:
        build_args["PYTHON_IMAGE"] = base
    else:
        base = _containerfile_default("PYTHON_IMAGE")
    tag = f"localhost/orders-app:test-{unique_name(engine.name)}"
    log = tmp_path_factory.mktemp(f"build-{engine.name}") / "build.log"
    try:
        seconds = engine.build(REPO_ROOT, tag, build_args, log)
    except EngineError as error:
        hint = (
            ""
            if "PYTHON_IMAGE" in build_args
            else " (no local base image: run build_python_base from .ci/lib/base-images.sh)"
        )
        pytest.fail(f"{error}{hint}")
    yield Image(engine, tag, base, build_args, seconds)
    engine.remove_image(tag)


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
