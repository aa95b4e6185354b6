"""Fixtures for the Kubernetes suite (`uv run pytest -m kubernetes tests/kubernetes`).

No cluster is needed or used. kubectl (with kustomize 5) renders the overlays offline; without it the tests
skip with the reason, and with ORDERS_REQUIRE_ALL=1 (set by CI) that is a failure. KUBECTL names the binary
when it is not the `kubectl` on PATH (CI's fallback install, .ci/lib/kubernetes.sh).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import skip_or_fail
from tests.kubernetes.manifests import BASE_DIR, kubectl, overlays, render


@pytest.fixture(scope="session")
def kubectl_binary() -> str:
    binary = kubectl()
    if binary is None:
        skip_or_fail("kubectl is not installed (CI installs it: .ci/lib/kubernetes.sh)")
        raise AssertionError("unreachable")
    result = subprocess.run(
        [binary, "version", "--client", "-o", "json"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        skip_or_fail(f"`{binary} version --client` failed: {result.stderr.strip()[-300:]}")
    versions = json.loads(result.stdout)
    kustomize = str(versions.get("kustomizeVersion", ""))
    # `labels:` and regex patch targets need kustomize 5; kubectl bundles it since 1.27.
    if not kustomize.startswith("v5"):
        skip_or_fail(f"{binary} bundles kustomize {kustomize or '(none)'}, need v5 (kubectl 1.27 or newer)")
    return binary


@pytest.fixture(scope="session")
def rendered(kubectl_binary: str) -> dict[Path, list[dict[str, Any]]]:
    """Every overlay, and the base, rendered once: {directory: objects}."""
    return {directory: render(directory, kubectl_binary) for directory in [BASE_DIR, *overlays()]}
