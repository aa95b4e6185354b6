"""Fixtures for the compose suite: a compose tool, a private project and the keys its API trusts.

Selection (environment):
- ORDERS_COMPOSE: the compose command for the Docker leg, e.g. "docker-compose" or "docker compose".
  Default: "docker-compose" when installed (what CI has), else "docker compose".
- DOCKER: the docker client the compose tool should call for builds (default /usr/bin/docker; a
  newer client earlier on PATH may lack the buildx plugin that BuildKit builds need).
- POSTGRES_IMAGE: the PostgreSQL image to run (CI: the stand-in from .ci/lib/postgres-image.sh).
- ORDERS_PYTHON_BASE_IMAGE: base image build argument for the app image (CI: its stand-in).
- HAPROXY_IMAGE: the HAProxy image of compose.lb.yaml (CI: the stand-in from .ci/lib/haproxy-image.sh).
- ORDERS_PODMAN_COMPOSE: the podman-compose of the distribution (default: podman-compose on PATH;
  Debian 12 ships 1.0.3).
- ORDERS_PODMAN_COMPOSE_LATEST: the current podman-compose release from PyPI, installed in its own tool
  venv (CI: .ci/lib/compose.sh).
- ORDERS_REQUIRE_ALL=1: a leg that cannot run for want of a tool or image fails instead of skipping.

Every leg runs the same tests. podman 4.3 without systemd runs no healthchecks, and its compose tools
start services without waiting for conditions: the stack must converge anyway, because each process
waits for what it needs by itself.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compose.compose_stack import (
    COMPOSE_FILE,
    COMPOSE_LB_FILE,
    ComposeStack,
    docker_client,
    docker_compose_command,
    free_port,
    orders_app_cli,
    skip_or_fail,
)


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("compose-keys")
    subprocess.run([orders_app_cli(), "keys", "init", str(directory)], check=True, capture_output=True)
    # The api runs as a non-root user and reads the public key through a bind mount: it must be
    # world-readable.
    (directory / "public_key.pem").chmod(0o644)
    return directory


@pytest.fixture(scope="session")
def token(keys_dir: Path) -> str:
    done = subprocess.run(
        [orders_app_cli(), "token", "--sub", "alice", "--keys-dir", str(keys_dir)],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def stack_environment(keys_dir: Path, api_port: int | str) -> dict[str, str]:
    """Every variable compose.yaml reads, so that a developer's .env cannot leak into the test."""
    values = {
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "POSTGRES_USER": "orders",
        "POSTGRES_DB": "orders",
        "POSTGRES_IMAGE": os.environ.get("POSTGRES_IMAGE", "docker.io/library/postgres:15"),
        "POSTGRES_HOST_PORT": "5432",
        "ORDERS_IMAGE": os.environ.get("ORDERS_COMPOSE_TEST_IMAGE", "localhost/orders-app:compose-test"),
        "ORDERS_API_BIND": "127.0.0.1",
        "ORDERS_API_PORT": str(api_port),
        "ORDERS_JWT_PUBLIC_KEY": str(keys_dir / "public_key.pem"),
        "HAPROXY_IMAGE": os.environ.get("HAPROXY_IMAGE", "docker.io/library/haproxy:2.6"),
        "ORDERS_LB_PORT": str(free_port()),
    }
    if base := os.environ.get("ORDERS_PYTHON_BASE_IMAGE"):
        values["ORDERS_PYTHON_BASE_IMAGE"] = base
    return values


def _docker_leg() -> tuple[list[str], str]:
    command = docker_compose_command()
    if command is None:
        skip_or_fail("no docker compose tool (docker-compose or the docker compose plugin) is installed")
        raise AssertionError("unreachable")
    if subprocess.run([docker_client(), "info"], capture_output=True, check=False).returncode != 0:
        skip_or_fail(f"{docker_client()} cannot reach a Docker daemon")
    return command, docker_client()


def _podman_leg(variable: str, default: str | None) -> tuple[list[str], str]:
    tool = os.environ.get(variable) or default
    if shutil.which("podman") is None:
        skip_or_fail("podman is not installed")
    if not tool or shutil.which(tool) is None:
        skip_or_fail(f"no podman-compose at {tool!r} (set {variable})")
        raise AssertionError("unreachable")
    return [tool], "podman"


LEGS = {
    "docker-compose": _docker_leg,
    "podman-compose-debian": lambda: _podman_leg("ORDERS_PODMAN_COMPOSE", "podman-compose"),
    "podman-compose-latest": lambda: _podman_leg("ORDERS_PODMAN_COMPOSE_LATEST", None),
}


def open_stack(
    leg: str,
    tmp_path_factory: pytest.TempPathFactory,
    variables: dict[str, str],
    extra_files: tuple[Path, ...] = (),
) -> Iterator[ComposeStack]:
    """A private compose project on one engine; always removed with its volumes at the end."""
    workdir = tmp_path_factory.mktemp(f"compose-{leg}")
    command, engine = LEGS[leg]()
    project = ComposeStack.create(
        command=command,
        engine=engine,
        compose_file=COMPOSE_FILE,
        workdir=workdir,
        project=f"orders-compose-test-{secrets.token_hex(3)}",
        leg=leg,
        variables=variables,
        extra_files=extra_files,
    )
    try:
        yield project
    finally:
        project.teardown()


@pytest.fixture(scope="module", params=list(LEGS))
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, keys_dir: Path
) -> Iterator[ComposeStack]:
    """compose.yaml alone, one api published on its own port."""
    yield from open_stack(request.param, tmp_path_factory, stack_environment(keys_dir, free_port()))


# Replicas behind the load balancer in tests/compose/test_compose_lb.py.
LB_REPLICAS = 3


@pytest.fixture(scope="module", params=list(LEGS))
def lb_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, keys_dir: Path
) -> Iterator[ComposeStack]:
    """compose.yaml + compose.lb.yaml: LB_REPLICAS api replicas on free ports, HAProxy on ORDERS_LB_PORT."""
    variables = stack_environment(keys_dir, "")
    variables["ORDERS_API_REPLICAS"] = str(LB_REPLICAS)
    yield from open_stack(request.param, tmp_path_factory, variables, extra_files=(COMPOSE_LB_FILE,))
