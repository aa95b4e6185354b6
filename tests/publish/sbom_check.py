"""What an SBOM of the image says, checked against what the image must hold: its packages counted by
kind (Debian, Python, ...), and every Python distribution that uv.lock puts into the image, by name and
version, with nothing else beside them.

    uv run python -m tests.publish.sbom_check SBOM.spdx.json     (CI: .ci/lib/supply-chain.sh)

Shared by CI and tests/publish/test_publish_registry.py, so both read an SBOM the same way.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
# The extras the Containerfile installs (`uv sync --no-dev --extra speedups`).
IMAGE_EXTRAS = ("speedups",)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def spdx_packages(path: Path) -> list[dict[str, Any]]:
    document = json.loads(path.read_text())
    if not str(document.get("spdxVersion", "")).startswith("SPDX-2."):
        raise ValueError(f"{path} is not an SPDX 2.x JSON document")
    return list(document["packages"])


def purl(package: dict[str, Any]) -> str:
    refs = package.get("externalRefs", [])
    return next((r["referenceLocator"] for r in refs if r.get("referenceType") == "purl"), "")


def kinds(packages: list[dict[str, Any]]) -> Counter[str]:
    """Packages by purl type (deb, pypi, oci for the image itself); `none` for a package without one."""
    return Counter(purl(p).removeprefix("pkg:").split("/", 1)[0] or "none" for p in packages)


def python_packages(packages: list[dict[str, Any]]) -> dict[str, str]:
    return {
        canonical(p["name"]): str(p.get("versionInfo")) for p in packages if purl(p).startswith("pkg:pypi/")
    }


def locked_runtime(root: Path = ROOT) -> dict[str, str]:
    """The Python distributions of the image by uv.lock: runtime dependencies, the image's extras and
    the project itself, for this platform (markers evaluated here: Linux and CPython, like the image)."""
    extras = [arg for extra in IMAGE_EXTRAS for arg in ("--extra", extra)]
    exported = subprocess.run(
        ["uv", "export", "--locked", "--no-dev", *extras, "--no-emit-project", "--no-hashes",
         "--format", "requirements-txt", "--project", str(root)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    wanted: dict[str, str] = {}
    for line in exported.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            (pin,) = requirement.specifier
            wanted[canonical(requirement.name)] = pin.version
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    wanted[canonical(project["name"])] = project["version"]
    return wanted


def differences(found: dict[str, str], expected: dict[str, str]) -> list[str]:
    """Every way `found` (name -> version) differs from `expected`, one line each; empty when equal."""
    lines = [f"missing: {name}=={version}" for name, version in sorted(expected.items()) if name not in found]
    lines += [
        f"not expected: {name}=={version}" for name, version in sorted(found.items()) if name not in expected
    ]
    lines += [
        f"version: {name} is {found[name]}, expected {version}"
        for name, version in sorted(expected.items())
        if name in found and found[name] != version
    ]
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(argv[0])
    packages = spdx_packages(path)
    counts = ", ".join(f"{n} {kind}" for kind, n in kinds(packages).most_common())
    print(f"SBOM {path}: {len(packages)} packages ({counts})")
    problems = differences(python_packages(packages), locked_runtime())
    for line in problems:
        print(f"SBOM against uv.lock: {line}", file=sys.stderr)
    if problems:
        return 1
    print("SBOM against uv.lock: every locked runtime package, at its locked version, and nothing else")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
