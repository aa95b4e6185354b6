"""compose.yaml as written: accepted by the compose tool's `config`, shaped as promised."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.compose.compose_stack import COMPOSE_FILE, REPO_ROOT, docker_compose_command, skip_or_fail

pytestmark = pytest.mark.compose

VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    # safe_load resolves the `<<:` merge keys, so services appear as every compose tool sees them.
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def run_config(tmp_path: Path, variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = docker_compose_command()
    if command is None:
        skip_or_fail("no docker compose tool (docker-compose or the docker compose plugin) is installed")
        raise AssertionError("unreachable")
    env_file = tmp_path / "config.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in variables.items()))
    # Only PATH from the caller: a POSTGRES_PASSWORD exported in the shell must not mask the
    # missing-value case.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run(
        [*command, "--file", str(COMPOSE_FILE), "--env-file", str(env_file), "config"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_compose_tool_accepts_the_file(tmp_path: Path) -> None:
    done = run_config(tmp_path, {"POSTGRES_PASSWORD": "example"})
    assert done.returncode == 0, done.stderr
    rendered = yaml.safe_load(done.stdout)
    assert set(rendered["services"]) == {"db", "migrate", "api"}


def test_a_missing_password_is_a_clear_error(tmp_path: Path) -> None:
    done = run_config(tmp_path, {})
    assert done.returncode != 0
    assert "POSTGRES_PASSWORD is not set" in done.stderr


def test_compose_specification_without_version_key(spec: dict[str, Any]) -> None:
    assert "version" not in spec


def test_database_is_private_and_persistent(spec: dict[str, Any]) -> None:
    db = spec["services"]["db"]
    assert "ports" not in db, "the database must not be published to the host by default"
    assert "db-data:/var/lib/postgresql/data" in db["volumes"]
    assert "db-data" in spec["volumes"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert db["image"].startswith("${POSTGRES_IMAGE:-")


def test_start_up_order_is_health_gated_where_the_engine_honours_it(spec: dict[str, Any]) -> None:
    services = spec["services"]
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["migrate"]["command"] == ["migrate"]
    assert services["api"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["api"]["environment"]["MIGRATE_ON_START"] == "false"


def test_correctness_does_not_rely_on_start_order(spec: dict[str, Any]) -> None:
    # Where conditions are ignored (podman), migrate starts beside a PostgreSQL that is still initialising.
    for name in ("migrate", "api"):
        assert float(spec["services"][name]["environment"]["DB_WAIT_TIMEOUT"]) >= 60
    # podman 4.3: a published port of a container on an internal network never answers (see compose.yaml).
    assert not any((network or {}).get("internal") for network in spec["networks"].values())
    # podman 4.3 refuses tmpfs uid=/gid= options.
    for name in ("migrate", "api"):
        assert not any("uid=" in mount for mount in spec["services"][name]["tmpfs"])


def test_api_hardening(spec: dict[str, Any]) -> None:
    api = spec["services"]["api"]
    assert api["read_only"] is True
    assert api["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in api["security_opt"]
    assert "/tmp" in api["tmpfs"]
    assert api["restart"] == "unless-stopped"
    assert "healthcheck" in api
    assert api["environment"]["DB_URL"].startswith("postgresql+asyncpg://")
    assert "@db:5432/" in api["environment"]["DB_URL"]
    assert api["environment"]["JWT_PUBLIC_KEY_FILE"] == "/run/secrets/jwt_public_key"
    assert api["secrets"] == ["jwt_public_key"]
    # Published on loopback unless the user opts out.
    assert api["ports"] == ["${ORDERS_API_BIND:-127.0.0.1}:${ORDERS_API_PORT-8080}:8080"]
    assert api["deploy"]["replicas"] == "${ORDERS_API_REPLICAS:-1}"


def test_stop_grace_period_outlasts_the_drain_and_uvicorn_shutdown(spec: dict[str, Any]) -> None:
    api = spec["services"]["api"]
    grace = api["stop_grace_period"]
    assert grace.endswith("s")
    drain = float(api["environment"]["SHUTDOWN_DRAIN_SECONDS"])
    assert drain > 0
    assert int(grace[:-1]) > drain + float(api["environment"]["SHUTDOWN_TIMEOUT"])


def test_env_example_documents_every_variable() -> None:
    used = set(VARIABLE.findall(COMPOSE_FILE.read_text()))
    example = (REPO_ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    assert used <= documented, f"undocumented in .env.example: {sorted(used - documented)}"
    assert documented <= used, f"documented but unused: {sorted(documented - used)}"


def test_dot_env_is_ignored_by_git() -> None:
    done = subprocess.run(
        ["git", "check-ignore", "--quiet", ".env"], cwd=REPO_ROOT, capture_output=True, check=False
    )
    if done.returncode == 128:
        skip_or_fail(f"not a git checkout: {done.stderr.decode().strip()}")
    assert done.returncode == 0, ".env must be listed in .gitignore"


def test_metrics_listen_apart_and_are_not_published(spec: dict[str, Any]) -> None:
    api = spec["services"]["api"]
    metrics_port = str(api["environment"]["METRICS_PORT"])
    published = [str(entry) for entry in api.get("ports", [])]
    assert published
    assert all(not entry.endswith(f":{metrics_port}") for entry in published), published
    assert all(entry.endswith(":8080") for entry in published), published
