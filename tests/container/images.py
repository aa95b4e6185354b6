"""The image under test, built from the repository's Containerfile (container and kubernetes suites).

The base image is $ORDERS_PYTHON_BASE_IMAGE, else the CI stand-in if the engine has it, else the
Containerfile's default (which needs a registry).
"""

from __future__ import annotations

import os
import subprocess
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.container.engines import STAND_IN_PYTHON_IMAGE, Engine, EngineError, unique_name

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Image:
    engine: Engine
    tag: str
    base: str  # the PYTHON_IMAGE it was built on
    build_args: dict[str, str]
    build_seconds: float


def containerfile_default(argument: str) -> str:
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


def build_test_image(engine: Engine, log_dir: Path) -> Image:
    """Build with `engine` under a unique tag (the caller removes it); a failed build fails the test."""
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
        base = containerfile_default("PYTHON_IMAGE")
    tag = f"localhost/orders-app:test-{unique_name(engine.name)}"
    try:
        seconds = engine.build(REPO_ROOT, tag, build_args, log_dir / "build.log")
    except EngineError as error:
        hint = (
            ""
            if "PYTHON_IMAGE" in build_args
            else " (no local base image: run build_python_base from .ci/lib/base-images.sh)"
        )
        pytest.fail(f"{error}{hint}")
    return Image(engine, tag, base, build_args, seconds)
