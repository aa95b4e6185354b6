"""The previous release, checked out from git history, and this checkout, each run as an operator runs it.

The previous release is the mainline as it stood before this checkout's newest migration script arrived
(the first parent of the oldest first-parent commit that adds it, found with `git log --first-parent
--diff-filter=A`), extracted with `git archive` into a directory of its own. It runs with the project's
venv (the same dependencies), with PYTHONPATH putting its `orders_app` ahead of the editable install of
this checkout; `imported_from` checks which one a process really imports. No
imitation: its migration scripts, its readiness check and its queries are the ones that release shipped.

CI clones the repository with its full history; a shallow clone or an export without `.git` cannot
provide the previous release, and that is a failure saying so, never a skip.

`Rollout` runs either release on one database: replicas (`orders-app serve`, in the Service's rotation once
ready) and one-off commands (`orders-app migrate`, `alembic downgrade`).
"""

from __future__ import annotations

import asyncio
import compileall
import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from alembic.script import ScriptDirectory

from orders_app.auth.keys import KeyPair
from tests.live.rolling_load import Service
from tests.live_server import LiveServer, base_env

REPO_ROOT = Path(__file__).resolve().parents[2]
# The console scripts of the project's venv: `orders-app` (both releases) and Alembic's own CLI.
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Release:
    """One release of the code: where its source tree is, and what a process of it needs in its env."""

    name: str
    tree: Path
    head: str  # the newest migration revision it carries, the one its readiness expects
    commit: str = ""

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """`base` plus what makes a process import this release's code."""
        if self.tree == REPO_ROOT:
            return {key: value for key, value in base.items() if key != "PYTHONPATH"}
        return {**base, "PYTHONPATH": str(self.tree)}

    def imported_from(self, env: dict[str, str], cwd: Path) -> Path:
        """Where a process started with `env` in `cwd` imports `orders_app` from."""
        probe = "import orders_app, sys; sys.stdout.write(orders_app.__file__)"
        result = subprocess.run(
            [sys.executable, "-c", probe],
            env=self.env(env),
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        )
        return Path(result.stdout).resolve().parent.parent


@dataclass(frozen=True)
class Script:
    revision: str
    path: Path
    down_revision: str | tuple[str, ...] | None


def current_release() -> Release:
    return Release("this checkout", REPO_ROOT, _head_of(REPO_ROOT).revision)


def _git(*args: str, binary: bool = False) -> str | bytes:
    git = shutil.which("git")
    if git is None:
        pytest.fail("the previous release is checked out from git history, and git is not installed")
    result = subprocess.run([git, *args], cwd=REPO_ROOT, capture_output=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"git {' '.join(args)} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout if binary else result.stdout.decode().strip()


def _head_of(tree: Path) -> Script:
    scripts = ScriptDirectory(str(tree / "alembic"))
    head = scripts.get_current_head()
    assert head is not None, f"{tree}/alembic has no single head revision"
    script = scripts.get_revision(head)
    assert script is not None
    return Script(script.revision, Path(script.path), script.down_revision)


def previous_release(destination: Path) -> Release:
    """The release before this checkout's newest migration, extracted into `destination`."""
    if not (REPO_ROOT / ".git").exists():
        pytest.fail(f"{REPO_ROOT} is not a git checkout: the previous release comes from its history")
    if _git("rev-parse", "--is-shallow-repository") == "true":
        pytest.fail(
            "this clone is shallow: the previous release comes from git history (git fetch --unshallow)"
        )
    newest = _head_of(REPO_ROOT)
    if not isinstance(newest.down_revision, str):
        pytest.fail(f"revision {newest.revision} has no single predecessor, so there is no previous release")
    script = newest.path.relative_to(REPO_ROOT).as_posix()
    # Along the first parents (the mainline; a merge counts as the commit that adds what it brings), the
    # oldest first: a branch carrying the same script merged later adds it again.
    log = ("log", "--first-parent", "--reverse", "--diff-filter=A", "--format=%H", "HEAD", "--", script)
    added = str(_git(*log)).split()
    if not added:
        pytest.fail(f"{script} is not in this checkout's git history (commit it first)")
    commit = str(_git("rev-parse", f"{added[0]}^"))
    # What the wheel ships (pyproject's force-include): the package, its migrations and the contract.
    archive = _git("archive", "--format=tar", commit, "orders_app", "alembic", "oas.yaml", binary=True)
    assert isinstance(archive, bytes)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(destination, filter="data")
    scripts = sorted(path.name for path in (destination / "alembic" / "versions").glob("*.py"))
    assert newest.path.name not in scripts, f"{commit} already has {newest.path.name}: {scripts}"
    previous = _head_of(destination)
    assert previous.revision == newest.down_revision, (
        f"{commit} is at revision {previous.revision}; {newest.revision} revises {newest.down_revision}"
    )
    # Bytecode once, as `uv sync --compile-bytecode` does for this checkout: every server imports it.
    compileall.compile_dir(destination / "orders_app", quiet=2, workers=os.cpu_count() or 1)
    return Release("previous release", destination, previous.revision, commit[:12])


class Rollout:
    """The replicas and one-off commands of each release, on one database, as an operator runs them."""

    def __init__(self, workdir: Path, db_url: str, keys: KeyPair) -> None:
        self.workdir = workdir
        self.db_url = db_url
        self.settings = {
            "DB_URL": db_url,
            "MIGRATE_ON_START": "false",
            "JWT_PUBLIC_KEY_FILE": str(keys.public_key),
        }
        self.service = Service()
        self.servers: list[LiveServer] = []

    def env(self, release: Release) -> dict[str, str]:
        return release.env(base_env(**self.settings))

    async def start(self, release: Release) -> LiveServer:
        """A replica of `release` in the rotation once its readiness probe answers 200."""
        server = LiveServer(self.workdir, self.env(release))
        self.servers.append(server)
        await asyncio.to_thread(server.start, 120, "/health/ready")
        self.service.add(server.url, release.name)
        return server

    async def replace(self, old: LiveServer, release: Release) -> LiveServer:
        """maxSurge 1, maxUnavailable 0: the new replica is ready before the old one leaves and stops."""
        new = await self.start(release)
        await self.service.remove(old.url)
        await asyncio.to_thread(old.stop)
        return new

    async def run(self, release: Release, *argv: str) -> float:
        """A one-off command of `release` (a console script of the venv); its duration, or a failure."""
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            str(BIN / argv[0]),
            *argv[1:],
            cwd=self.workdir,
            env=self.env(release),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        assert process.returncode == 0, f"{release.name}: {' '.join(argv)}: {output.decode()}"
        return time.monotonic() - started

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


def documented(release: Release) -> tuple[bool, bool]:
    """Whether the release's contract documents conditional GETs (a 304) and an Idempotency-Key on pay."""
    document = yaml.safe_load((release.tree / "oas.yaml").read_text(encoding="utf-8"))

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    get_one = document["paths"]["/orders/{order_id}"]["get"]["responses"]
    pay = document["paths"]["/orders/{order_id}/pay"]
    parameters = [*pay.get("parameters", []), *pay["post"].get("parameters", [])]
    return "304" in get_one, any(resolve(p).get("name", "").lower() == "idempotency-key" for p in parameters)
