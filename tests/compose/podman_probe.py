"""Can podman run this project's compose stack? Asked by running a two-service health-gated stack.

compose.yaml needs two things from an engine and its compose tool: healthchecks that run by
themselves, and a dependant that starts only once its dependency is healthy. Version numbers say
little about either (podman runs healthchecks through systemd timers, so the same podman works on
one machine and not on another), hence an experiment rather than a version check.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

PROBE_SECONDS = 25


@dataclass(frozen=True)
class PodmanCompose:
    command: list[str] | None  # the compose command, when usable
    missing: str | None = None  # a tool or image is missing: CI should have installed it
    unsupported: str | None = None  # the platform cannot do it: a fact to report, not a set-up error


def compose_provider() -> list[str] | None:
    if shutil.which("podman") is None:
        return None
    # podman >= 4.7 has a `compose` subcommand that delegates to a provider; older ones only the
    # separate tool.
    if subprocess.run(["podman", "compose", "version"], capture_output=True, check=False).returncode == 0:
        return ["podman", "compose"]
    if shutil.which("podman-compose"):
        return ["podman-compose"]
    return None


def probe_image() -> str | None:
    candidates = [
        os.environ.get("ORDERS_PYTHON_BASE_IMAGE", ""),
        os.environ.get("POSTGRES_IMAGE", ""),
        "localhost/orders-ci/python:3.11-slim-bookworm",
    ]
    for image in filter(None, candidates):
        if subprocess.run(["podman", "image", "exists", image], check=False).returncode == 0:
            return image
    return None


def _state(project: str, service: str) -> tuple[str, str, str]:
    """(status, health, exit code) of PROJECT's SERVICE container, found by its compose labels."""
    ids = subprocess.run(
        [
            "podman",
            "ps",
            "-a",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={project}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if not ids:
        return ("absent", "", "")
    done = subprocess.run(
        [
            "podman",
            "inspect",
            "--format",
            "{{.State.Status}}|{{.State.Health.Status}}|{{.State.ExitCode}}",
            ids[0],
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    status, health, code = done.stdout.strip().split("|", 2)
    return status, health, code


def check(workdir: Path) -> PodmanCompose:
    if shutil.which("podman") is None:
        return PodmanCompose(None, missing="podman is not installed")
    command = compose_provider()
    if command is None:
        return PodmanCompose(None, missing="no podman compose provider (`podman compose` or podman-compose)")
    image = probe_image()
    if image is None:
        return PodmanCompose(None, missing="no local image in podman's storage to probe with")

    version = subprocess.run(
        ["podman", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    tool = subprocess.run([*command, "version"], capture_output=True, text=True, check=False)
    tool_version = next(
        (
            line
            for line in (tool.stdout + tool.stderr).splitlines()
            if "compose" in line and "version" in line
        ),
        f"{' '.join(command)} (version unknown)",
    )
    who = f"{version} with {' '.join(tool_version.split())}"

    project = f"orders-podman-probe-{secrets.token_hex(3)}"
    probe_file = workdir / "probe-compose.yaml"
    # `gate`'s healthcheck leaves a mark in a shared volume each time it runs; `after` exits 0 only if it
    # finds one, i.e. only if the tool started it after a healthcheck of `gate` had passed. No timing
    # assumptions: a slow tool cannot make an ignored condition look honoured.
    probe_file.write_text(
        yaml.safe_dump(
            {
                "services": {
                    "gate": {
                        "image": image,
                        "command": ["sleep", "300"],
                        "volumes": ["shared:/shared"],
                        "healthcheck": {
                            "test": ["CMD", "touch", "/shared/ready"],
                            "interval": "1s",
                            "timeout": "2s",
                            "retries": 3,
                        },
                    },
                    "after": {
                        "image": image,
                        "command": ["test", "-f", "/shared/ready"],
                        "volumes": ["shared:/shared"],
                        "depends_on": {"gate": {"condition": "service_healthy"}},
                    },
                },
                "volumes": {"shared": {}},
            }
        )
    )
    base = [*command, "-p", project, "-f", str(probe_file)]
    try:
        up = subprocess.run([*base, "up", "-d"], capture_output=True, text=True, timeout=120, check=False)
        deadline = time.monotonic() + PROBE_SECONDS
        gate = after = ("absent", "", "")
        while time.monotonic() < deadline:
            gate, after = _state(project, "gate"), _state(project, "after")
            if after[0] == "exited" and (gate[1] == "healthy" or after[2] != "0"):
                break
            time.sleep(1)
        if gate[0] == "absent":
            output = (up.stdout + up.stderr).strip()[-800:]
            return PodmanCompose(None, unsupported=f"{who}: the probe stack did not start: {output}")
        problems = []
        if after[0] == "exited" and after[2] != "0":
            problems.append(
                "a dependant started before its dependency was healthy "
                "(depends_on condition service_healthy ignored)"
            )
        elif after[0] != "exited":
            problems.append("a health-gated dependant was never started")
        if gate[1] != "healthy":
            problems.append(
                f"healthchecks do not run on their own (status still {gate[1]!r}; "
                "podman schedules them with systemd timers, absent here)"
            )
        if problems:
            return PodmanCompose(None, unsupported=f"{who}: " + "; ".join(problems))
        return PodmanCompose(command)
    finally:
        subprocess.run([*base, "down", "-t", "1"], capture_output=True, timeout=120, check=False)
        leftovers = subprocess.run(
            ["podman", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={project}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if leftovers:
            subprocess.run(["podman", "rm", "-f", *leftovers], capture_output=True, check=False)
        subprocess.run(
            ["podman", "volume", "rm", "-f", f"{project}_shared"], capture_output=True, check=False
        )
