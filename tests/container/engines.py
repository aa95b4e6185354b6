"""Thin, typed wrappers around the podman and docker command lines, for the container suite.

Only what the tests need: build, run (ports published on 127.0.0.1 only), exec, stop, inspect, clean-up.
Every container and volume is created under a unique name and removed by name, never by a pattern.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Written by .ci/lib/engines.sh: runc and ulimits that work on these machines (crun does not).
CI_CONTAINERS_CONF = Path("/etc/orders-ci/containers.conf")
# The stand-in base image that .ci/lib/base-images.sh builds when no registry is reachable.
STAND_IN_PYTHON_IMAGE = "localhost/orders-ci/python:3.11-slim-bookworm"


class EngineError(RuntimeError):
    pass


def _docker_binary() -> str | None:
    # Debian's client talks to Debian's engine and builds with BuildKit; a newer `docker` earlier on PATH may
    # lack the buildx plugin that BuildKit builds need.
    if Path("/usr/bin/docker").is_file():
        return "/usr/bin/docker"
    return shutil.which("docker")


@dataclass
class Engine:
    name: str
    binary: str
    env: dict[str, str] = field(default_factory=dict)

    # -- plumbing ----------------------------------------------------------------------------------------
    def cli(
        self, *args: str, check: bool = True, timeout: float = 120, input_: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **self.env},
            input=input_,
            check=False,
        )
        if check and result.returncode != 0:
            raise EngineError(
                f"{self.name} {' '.join(args[:3])}… exited {result.returncode}:\n{result.stderr[-3000:]}"
            )
        return result

    def available(self) -> str | None:
        """None when the engine can run containers here, else the reason why not."""
        if not self.binary:
            return f"{self.name} is not installed"
        try:
            result = self.cli("info", check=False, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"`{self.name} info` failed: {error}"
        if result.returncode != 0:
            return f"`{self.name} info` failed (daemon not running?): {result.stderr.strip()[-300:]}"
        return None

    def has_image(self, reference: str) -> bool:
        return self.cli("image", "inspect", reference, check=False).returncode == 0

    # -- images ------------------------------------------------------------------------------------------
    def build(
        self, context: Path, tag: str, build_args: Mapping[str, str], log: Path, timeout: float = 900
    ) -> float:
        """Build Containerfile in `context` as `tag`; returns the seconds it took. Output goes to `log`."""
        args = ["build", "-f", str(context / "Containerfile"), "-t", tag]
        if self.name == "podman":
            # Podman's default OCI format drops HEALTHCHECK; the docker format keeps it.
            args += ["--format", "docker"]
        for key, value in build_args.items():
            args += ["--build-arg", f"{key}={value}"]
        env = {**os.environ, **self.env}
        if self.name == "docker":
            env["DOCKER_BUILDKIT"] = "1"  # RUN --mount needs BuildKit; the legacy builder rejects it
        started = time.monotonic()
        with log.open("w") as out:
            result = subprocess.run(
                [self.binary, *args, str(context)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                timeout=timeout,
                check=False,
            )
        elapsed = time.monotonic() - started
        if result.returncode != 0:
            tail = log.read_text(errors="replace")[-4000:]
            raise EngineError(f"{self.name} build failed ({result.returncode}), log {log}:\n{tail}")
        return elapsed

    def image_inspect(self, reference: str) -> dict[str, Any]:
        data = json.loads(self.cli("image", "inspect", reference).stdout)
        return dict(data[0] if isinstance(data, list) else data)

    def image_size(self, reference: str) -> int:
        return int(self.cli("image", "inspect", "--format", "{{.Size}}", reference).stdout.strip())

    def remove_image(self, reference: str) -> None:
        self.cli("rmi", reference, check=False)

    # -- containers --------------------------------------------------------------------------------------
    def run_detached(
        self, image: str, name: str, options: Sequence[str] = (), command: Sequence[str] = ()
    ) -> None:
        self.cli("run", "-d", "--name", name, *options, image, *command)

    def run_once(
        self, image: str, options: Sequence[str] = (), command: Sequence[str] = (), timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run to completion and remove the container (and its anonymous volumes)."""
        return self.cli("run", "--rm", *options, image, *command, check=False, timeout=timeout)

    def exec(self, name: str, *command: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        options = ["--user", user] if user else []
        return self.cli("exec", *options, name, *command, check=False)

    def published_port(self, name: str, container_port: int = 8080) -> int:
        out = self.cli("port", name, f"{container_port}/tcp").stdout.strip().splitlines()
        for line in out:
            host, _, port = line.rpartition(":")
            if host in {"127.0.0.1", "0.0.0.0"} or host.startswith("127."):
                return int(port)
        raise EngineError(f"no published port for {name}:{container_port} in {out!r}")

    def stop(self, name: str, timeout: int) -> None:
        self.cli("stop", "-t", str(timeout), name, timeout=timeout + 30)

    def start(self, name: str) -> None:
        self.cli("start", name)

    def inspect(self, name: str) -> dict[str, Any]:
        data = json.loads(self.cli("inspect", name).stdout)
        return dict(data[0] if isinstance(data, list) else data)

    def state(self, name: str) -> dict[str, Any]:
        return dict(self.inspect(name)["State"])

    def logs(self, name: str) -> str:
        result = self.cli("logs", name, check=False)
        return result.stdout + result.stderr

    def remove_container(self, name: str) -> None:
        # -v: also the anonymous volume that the image's VOLUME creates.
        self.cli("rm", "-f", "-v", name, check=False, timeout=60)

    def create_volume(self, name: str) -> None:
        self.cli("volume", "create", name)

    def remove_volume(self, name: str) -> None:
        self.cli("volume", "rm", "-f", name, check=False)


def make_engine(name: str) -> Engine:
    if name == "podman":
        env = {}
        if "CONTAINERS_CONF" not in os.environ and CI_CONTAINERS_CONF.is_file():
            env["CONTAINERS_CONF"] = str(CI_CONTAINERS_CONF)
        return Engine("podman", shutil.which("podman") or "", env)
    if name == "docker":
        return Engine("docker", _docker_binary() or "")
    raise ValueError(name)


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
