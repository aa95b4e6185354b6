"""--baseline DIR: an earlier checkout of this app, served from its own environment beside ours.

The baseline is a git worktree of an older commit. It gets a throw-away environment built from its
own lock (bench/environment.py), a copy of our freshly seeded database, our keys and tokens, and
runs S1-S3 in the same rounds as ours (docs/bench.md, "Before and after in one run").
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.config import BenchError
from bench.environment import build_serving_environment
from bench.meta import git_commit
from bench.servers import Server


@dataclass
class Baseline:
    root: Path
    python: Path
    commit: str
    loop: str
    http: str

    def describe(self) -> dict[str, str]:
        return {"dir": str(self.root), "commit": self.commit, "loop": self.loop, "http": self.http}

    def env(self, env: dict[str, str], db_url: str) -> dict[str, str]:
        """Our servers' environment with the baseline's database and its code first on the path."""
        baseline_env = {**env, "DB_URL": db_url, "PYTHONPATH": str(self.root)}
        baseline_env.pop("VIRTUAL_ENV", None)
        return baseline_env

    def migrate(self, env: dict[str, str]) -> None:
        """Its own migrations on the copy of our database: nothing to do when it knows our schema."""
        migrate = subprocess.run(  # noqa: S603 - the baseline's interpreter, fixed arguments
            [str(self.python), "-m", "orders_app", "migrate"], cwd=self.root, env=env, capture_output=True
        )
        if migrate.returncode != 0:
            raise BenchError(
                f"the baseline at {self.root} cannot migrate a copy of our database (its schema must be "
                f"ours or older): {migrate.stderr.decode().strip()}"
            )

    def server(self, backend: str, workers: int, env: dict[str, str], log_dir: Path) -> Server:
        return Server(
            f"baseline {self.commit} ({backend})",
            [str(self.python), "-m", "orders_app", "serve", "--workers", str(workers)],
            env,
            log_dir / f"{backend}-baseline.log",
            cwd=self.root,
        )


def prepare_baseline(root: Path, venv: Path) -> Baseline:
    """Check that `root` is a checkout of this app and build its serving environment in `venv`."""
    root = root.resolve()
    if not (root / "orders_app").is_dir() or not (root / "uv.lock").is_file():
        raise BenchError(f"--baseline {root}: not a checkout of orders-app (no orders_app/ or uv.lock)")
    built = build_serving_environment(root, venv, f"--baseline {root}")
    return Baseline(root, built.python, git_commit(root), built.loop, built.http)
