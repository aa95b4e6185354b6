"""Where the database's schema stands against this build's migration scripts: what readiness checks.

Read with two plain statements, the same Alembic runs (does the version table exist, which rows does it
hold), on the caller's connection: Alembic's MigrationContext writes two INFO lines each time it is
set up, and a probe every few seconds must write none. The scripts' revision graph is read from their
`revision` and `down_revision` declarations, without importing Alembic (80-110 ms of start-up).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, String, column, select, table

_PACKAGE_DIR = Path(__file__).resolve().parent.parent

# Alembic's default version table, which env.py keeps: one row per head the schema is at.
VERSION_TABLE = "alembic_version"
_CURRENT_HEADS = select(table(VERSION_TABLE, column("version_num", String)).c.version_num)


def migrations_directory() -> Path:
    """The wheel carries the scripts as orders_app/migrations; a checkout has the top-level alembic/."""
    packaged = _PACKAGE_DIR / "migrations"
    if (packaged / "env.py").is_file():
        return packaged
    return _PACKAGE_DIR.parent / "alembic"


@dataclass(frozen=True, slots=True)
class SchemaRevision:
    """Where a database's schema stands against the migration scripts this build carries."""

    current: tuple[str, ...]
    expected: tuple[str, ...]
    # A revision this build does not know: a newer release has migrated already (expand-then-contract).
    ahead: bool

    @property
    def behind(self) -> bool:
        return not self.ahead and set(self.current) != set(self.expected)

    def describe(self) -> str:
        current = ", ".join(self.current) or "none (no tables yet)"
        return f"schema at revision {current}, expected {', '.join(self.expected)}"


def declared_revisions(versions: Path) -> dict[str, tuple[str, ...]]:
    """Each script's revision and the revisions it follows, as its module-level assignments state them."""
    graph: dict[str, tuple[str, ...]] = {}
    for script in sorted(versions.glob("*.py")):
        declared: dict[str, object] = {}
        for statement in ast.parse(script.read_text(encoding="utf-8")).body:
            target: ast.expr
            if isinstance(statement, ast.AnnAssign) and statement.value is not None:
                target, value = statement.target, statement.value
            elif isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                target, value = statement.targets[0], statement.value
            else:
                continue
            if isinstance(target, ast.Name) and target.id in {"revision", "down_revision"}:
                declared[target.id] = ast.literal_eval(value)
        revision, follows = declared.get("revision"), declared.get("down_revision")
        if isinstance(revision, str):
            graph[revision] = _revisions(follows)
    return graph


def _revisions(declared: object) -> tuple[str, ...]:
    """`down_revision` is None (the first script), one revision, or several (a merge)."""
    if isinstance(declared, str):
        return (declared,)
    if isinstance(declared, (tuple, list)):
        return tuple(str(revision) for revision in declared)
    return ()


class SchemaScripts:
    """The migration scripts of this build, read once."""

    def __init__(self, directory: Path | None = None) -> None:
        graph = declared_revisions((directory or migrations_directory()) / "versions")
        self.known = frozenset(graph)
        followed = {revision for follows in graph.values() for revision in follows}
        self.heads = tuple(sorted(self.known - followed))

    def revision_of(self, connection: Connection) -> SchemaRevision:
        """Read the database's revision on a synchronous connection (inside `run_sync`)."""
        current: tuple[str, ...] = ()
        if connection.dialect.has_table(connection, VERSION_TABLE):
            current = tuple(sorted(connection.scalars(_CURRENT_HEADS)))
        ahead = any(revision not in self.known for revision in current)
        return SchemaRevision(current=current, expected=self.heads, ahead=ahead)
