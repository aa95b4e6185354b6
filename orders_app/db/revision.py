"""Where the database's schema stands against this build's migration scripts: what readiness checks.

Read with two plain statements, the same Alembic runs (does the version table exist, which rows does it
hold), on the caller's connection: Alembic's MigrationContext writes two INFO lines each time it is
set up, and a probe every few seconds must write none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
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


class SchemaScripts:
    """The migration scripts of this build, read once."""

    def __init__(self) -> None:
        scripts = ScriptDirectory(str(migrations_directory()))
        self.heads = tuple(sorted(scripts.get_heads()))
        # A set, not ScriptDirectory.get_revision: that raises for an id none of the scripts has.
        self._known = frozenset(script.revision for script in scripts.walk_revisions())

    def revision_of(self, connection: Connection) -> SchemaRevision:
        """Read the database's revision on a synchronous connection (inside `run_sync`)."""
        current: tuple[str, ...] = ()
        if connection.dialect.has_table(connection, VERSION_TABLE):
            current = tuple(sorted(connection.scalars(_CURRENT_HEADS)))
        ahead = any(revision not in self._known for revision in current)
        return SchemaRevision(current=current, expected=self.heads, ahead=ahead)
