"""A compose project driven from tests: one private project name, one env file, always torn down."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "compose.yaml"
# The load-balancer addition, used as `-f compose.yaml -f compose.lb.yaml`.
COMPOSE_LB_FILE = REPO_ROOT / "compose.lb.yaml"
# A cold build of the image (no layer cached) on a busy CI host.
BUILD_SECONDS = 900


def skip_or_fail(reason: str) -> None:
    """Skip with a reason, or fail when CI demands that everything runs."""
    if os.environ.get("ORDERS_REQUIRE_ALL", "") not in {"", "0", "false"}:
        pytest.fail(f"ORDERS_REQUIRE_ALL=1 but this test cannot run: {reason}")
    pytest.skip(reason)


def merge_artifact(name: str, figures: dict[str, Any]) -> None:
    """Add FIGURES (by leg) to .ci/artifacts/NAME: one file for all legs, run in one session or one each."""
    artifacts = REPO_ROOT / ".ci" / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    path = artifacts / name
    merged = json.loads(path.read_text()) if path.exists() else {}
    merged.update(figures)
    path.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"\n{name}: {json.dumps(figures)}")


def docker_client() -> str:
    return os.environ.get("DOCKER", "/usr/bin/docker")


def docker_compose_command() -> list[str] | None:
    """The compose command for the Docker leg, or None when no tool answers."""
    if configured := os.environ.get("ORDERS_COMPOSE"):
        return shlex.split(configured)
    candidates = [["docker-compose"], [docker_client(), "compose"]]
    for command in candidates:
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return command
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_range(count: int) -> tuple[int, int]:
    """COUNT consecutive loopback ports that are free right now (first, last)."""
    for _ in range(50):
        first = free_port()
        if first + count - 1 > 65535:
            continue
        sockets = []
        try:
            for port in range(first, first + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return first, first + count - 1
    raise RuntimeError(f"no {count} consecutive free ports found")


def orders_app_cli() -> str:
    """The console script of the environment running the tests (the project's own venv)."""
    script = Path(sys.executable).with_name("orders-app")
    return str(script) if script.exists() else "orders-app"


class ComposeError(AssertionError):
    """A compose or engine command failed; the message carries its output."""


@dataclass
class ComposeStack:
    command: list[str]  # e.g. ["docker-compose"] or ["/usr/bin/docker", "compose"]
    engine: str  # the engine CLI for inspect/volume calls: /usr/bin/docker or podman
    compose_file: Path
    project: str
    env_file: Path
    env: dict[str, str] = field(repr=False)
    leg: str = "docker-compose"
    # Files layered on compose_file, in order (`-f compose.yaml -f compose.lb.yaml`).
    extra_files: tuple[Path, ...] = ()

    @classmethod
    def create(
        cls,
        *,
        command: list[str],
        engine: str,
        compose_file: Path,
        workdir: Path,
        project: str,
        variables: dict[str, str],
        leg: str = "docker-compose",
        extra_files: tuple[Path, ...] = (),
    ) -> ComposeStack:
        env_file = workdir / "stack.env"
        env_file.write_text("".join(f"{name}={value}\n" for name, value in variables.items()))
        # docker-compose 1.29 builds by calling `docker` from PATH: make that the engine's own
        # client.
        shim = workdir / "bin"
        shim.mkdir()
        if Path(engine).name == "docker":
            (shim / "docker").symlink_to(engine)
        env = {
            **os.environ,
            # Process variables win over --env-file during interpolation: set ours in both places.
            **variables,
            "PATH": f"{shim}{os.pathsep}{os.environ.get('PATH', '')}",
            # Build through the CLI with BuildKit (the Containerfile uses RUN --mount); 1.29's own
            # builder cannot.
            "COMPOSE_DOCKER_CLI_BUILD": "1",
            "DOCKER_BUILDKIT": "1",
        }
        return cls(command, engine, compose_file, project, env_file, env, leg, extra_files)

    @property
    def runs_healthchecks(self) -> bool:
        """Whether the engine runs healthchecks by itself (podman 4.3 needs systemd timers for that)."""
        return Path(self.engine).name == "docker"

    @property
    def is_podman_compose_1_0(self) -> bool:
        return self.leg == "podman-compose-debian"

    def set_variables(self, **updates: str) -> None:
        """Change variables for the following commands (as a user would edit .env)."""
        self.env.update(updates)
        lines = [
            line for line in self.env_file.read_text().splitlines() if line.split("=", 1)[0] not in updates
        ]
        lines += [f"{name}={value}" for name, value in updates.items()]
        self.env_file.write_text("".join(f"{line}\n" for line in lines))

    # --- running commands
    # ---------------------------------------------------------------------------------

    def compose(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = [*self.command, "-p", self.project, "-f", str(self.compose_file)]
        for extra in self.extra_files:
            argv += ["-f", str(extra)]
        # The variables are in the process environment either way; the env file also keeps a developer's
        # .env out, where the tool has the option (podman-compose 1.0 has not).
        if not self.is_podman_compose_1_0:
            argv += ["--env-file", str(self.env_file)]
        argv += args
        return self._run(argv, timeout=timeout, check=check)

    def build(self) -> subprocess.CompletedProcess[str]:
        """`build`: the api image from the Containerfile, before any `up`."""
        return self.compose("build", timeout=BUILD_SECONDS)

    def up(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """`up ARGS` as this leg's users are told to run it (README, Compose)."""
        # podman-compose >= 1.1 turns depends_on into podman's --requires; podman 4.3 then refuses to start a
        # container once one it requires was recreated ("not found in input list"). --no-deps leaves that
        # out; nothing here needs it, since every process waits for the database by itself.
        extra = ["--no-deps"] if self.leg == "podman-compose-latest" else []
        return self.compose("up", *args, *extra, timeout=timeout)

    def start_only(self, *services: str) -> None:
        """Start SERVICES and nothing else: not their dependencies, whatever state those are in."""
        if self.is_podman_compose_1_0:
            # podman-compose 1.0 ignores `up --no-deps`: create everything, then start the chosen ones.
            self.up("--no-start")
            self.engine_cmd("start", *(self.container_id(service) for service in services))
        else:
            # docker-compose 1.29's `up --no-start` would wait for the depends_on conditions: use --no-deps.
            self.compose("up", "--detach", "--no-deps", *services, timeout=180)

    def engine_cmd(
        self, *args: str, timeout: float = 30, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self._run([self.engine, *args], timeout=timeout, check=check)

    def _run(self, argv: list[str], *, timeout: float, check: bool) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            argv,
            env=self.env,
            cwd=self.compose_file.parent,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise ComposeError(
                f"{' '.join(argv)} exited {done.returncode}\n"
                f"--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}"
            )
        return done

    # --- state
    # --------------------------------------------------------------------------------------------

    def container_ids(self, service: str) -> list[str]:
        # `ps -q` lists running containers only with some tools and all with others; `-a` would not
        # exist in docker-compose 1.29's `ps` for stopped ones. Ask the engine by label instead: the
        # same everywhere.
        done = self.engine_cmd(
            "ps",
            "-a",
            "-q",
            "--no-trunc",
            "--filter",
            f"label=com.docker.compose.project={self.project}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        )
        return done.stdout.split()

    def container_id(self, service: str) -> str:
        ids = self.container_ids(service)
        if len(ids) != 1:
            raise ComposeError(f"expected one {service} container in {self.project}, found {ids}")
        return ids[0]

    def inspect(self, container: str, template: str) -> str:
        return self.engine_cmd("inspect", "--format", template, container).stdout.strip()

    def status(self, container: str) -> tuple[str, str, int]:
        """(state, health, exit code); health is '' without a healthcheck."""
        health = "{{if .State.Health}}{{.State.Health.Status}}{{end}}"
        out = self.inspect(container, f"{{{{.State.Status}}}}|{health}|{{{{.State.ExitCode}}}}")
        state, health, code = out.split("|")
        return state, health, int(code)

    def wait_healthy(self, service: str, timeout: float) -> list[str]:
        """Wait until every container of SERVICE is healthy; fail early when one exits."""
        deadline = time.monotonic() + timeout
        while True:
            ids = self.container_ids(service)
            states = [self.status(cid) for cid in ids]
            if ids and all(health == "healthy" for _, health, _ in states):
                return ids
            for state, _, code in states:
                if state in ("exited", "dead"):
                    raise ComposeError(f"{service} container exited ({code}):\n{self.logs(service)}")
            if time.monotonic() > deadline:
                raise ComposeError(f"{service} not healthy after {timeout:.0f}s: {states}\n{self.logs()}")
            time.sleep(0.5)

    def published_address(self, service: str, container_port: int, index: int = 1) -> str:
        """'HOST:PORT' of the INDEXth replica's published CONTAINER_PORT (IPv4 first)."""
        # Asked of the engine: not every compose tool has a `port` command (podman-compose 1.0 has none).
        number = '{{index .Config.Labels "com.docker.compose.container-number"}}'
        replicas = sorted(self.container_ids(service), key=lambda cid: int(self.inspect(cid, number)))
        if len(replicas) < index:
            raise ComposeError(f"{service} has {len(replicas)} replicas, no number {index}")
        done = self.engine_cmd("port", replicas[index - 1], f"{container_port}/tcp", check=False)
        addresses = sorted(done.stdout.split(), key=lambda address: address.startswith("["))
        if not addresses:
            raise ComposeError(f"{service}:{container_port} is not published: {done.stderr.strip()}")
        return addresses[0]

    def logs(self, *services: str) -> str:
        # podman-compose 1.0 has no --no-color (and prints none).
        color = [] if Path(self.engine).name == "podman" else ["--no-color"]
        done = self.compose("logs", *color, "--tail", "60", *services, check=False, timeout=30)
        return done.stdout[-6000:] + done.stderr[-2000:]

    def volumes(self) -> list[str]:
        done = self.engine_cmd(
            "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={self.project}"
        )
        return done.stdout.split()

    # --- clean-up
    # -----------------------------------------------------------------------------------------

    def teardown(self) -> None:
        """Remove containers, networks and every volume of the project, whatever state it is in."""
        self.compose("down", "--volumes", "--timeout", "5", check=False, timeout=120)
        # Belt and braces: anything still labelled with the project (a half-created stack, a failed
        # `down`).
        leftovers = self.engine_cmd(
            "ps",
            "-a",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={self.project}",
            check=False,
        ).stdout.split()
        if leftovers:
            self.engine_cmd("rm", "-f", "-v", *leftovers, check=False)
        volumes = self.volumes()
        if volumes:
            self.engine_cmd("volume", "rm", "-f", *volumes, check=False)
        # podman-compose 1.0 leaves the project's networks behind on `down`; each holds a CNI subnet.
        networks = self.engine_cmd(
            "network", "ls", "-q", "--filter", f"label=com.docker.compose.project={self.project}", check=False
        ).stdout.split()
        if networks:
            self.engine_cmd("network", "rm", "-f", *networks, check=False)
