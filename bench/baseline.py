"""--baseline DIR: an earlier checkout of this app, served from its own environment beside ours.

The baseline is a git worktree of an older commit. It gets a throw-away environment built from its
own lock (bench/environment.py), a copy of our freshly seeded database, our keys and tokens, and
runs S1-S3 in the same rounds as ours (docs/bench.md, "Before and after in one run"). When our schema is
newer than the baseline knows, the copy is first taken down to the baseline's newest revision with our
own downgrades: schema changes are expand-then-contract, so the orders stay as seeded.
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
    # The newest schema revision the baseline's own migrations know.
    head: str | None

    def describe(self) -> dict[str, str]:
        return {"dir": str(self.root), "commit": self.commit, "loop": self.loop, "http": self.http}

    def env(self, env: dict[str, str], db_url: str) -> dict[str, str]:
        """Our servers' environment with the baseline's database and its code first on the path."""
        baseline_env = {**env, "DB_URL": db_url, "PYTHONPATH": str(self.root)}
        baseline_env.pop("VIRTUAL_ENV", None)
        return baseline_env

    def migrate(self, env: dict[str, str]) -> None:
        """Its own migrations on the copy of our database, after ours took the copy down to its head."""
        _downgrade_to(env["DB_URL"], self.head)
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
    return Baseline(root, built.python, git_commit(root), built.loop, built.http, _head_of(root / "alembic"))


def _head_of(scripts: Path) -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(scripts))
    return ScriptDirectory.from_config(config).get_current_head()


def _downgrade_to(db_url: str, head: str | None) -> None:
    """Our downgrades down to `head` when it is an older revision of ours; otherwise nothing."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from orders_app.db.migrations import alembic_config

    config = alembic_config(db_url)
    ours = ScriptDirectory.from_config(config)
    older = {script.revision for script in ours.walk_revisions()} - {ours.get_current_head()}
    if head in older:
        # The baseline's own migrate then finds its head and does nothing; otherwise it says what is wrong.
        command.downgrade(config, head)
