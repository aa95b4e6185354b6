"""The SBOM: what the pushed image contains, by Syft (docs/supply-chain.md)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from tools.publish.commands import Cmd, PublishError

# What a dry run takes Syft to have written (it wrote nothing).
PLACEHOLDER_SPDX = '{"packages": []}'


def find_syft(project: Path, which: Callable[[str], str | None] = shutil.which) -> str | None:
    """`syft` on PATH, else the one beside this interpreter (`uv run`), else the project's venv."""
    if which("syft"):
        return "syft"
    for candidate in (Path(sys.executable).parent / "syft", project / ".venv" / "bin" / "syft"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def default_sbom_path(project: Path, repository_path: str, version: str) -> Path:
    return project / "dist" / "sbom" / f"{repository_path.rsplit('/', 1)[-1]}-{version}.spdx.json"


def syft_scan(syft: str, archive: str, *, name: str, version: str, out: Path) -> Cmd:
    argv = (syft, "scan", f"docker-archive:{archive}", "--source-name", name, "--source-version", version)
    # Syft asks the internet for a newer release by default: off, so a run makes no call of its own.
    env = {"SYFT_CHECK_FOR_APP_UPDATE": "false"}
    return Cmd((*argv, "--quiet", "--output", f"spdx-json={out}"), env=env, writes=out)


def sbom_package_count(path: Path, read: Callable[[Path], str]) -> int:
    try:
        return len(json.loads(read(path))["packages"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PublishError(f"syft wrote no readable SPDX JSON to {path}: {exc}") from exc
