"""Run Alembic migrations programmatically, from a source checkout or an installed wheel."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def migrations_directory() -> Path:
    """The wheel carries the scripts as orders_app/migrations; a checkout has the top-level alembic/."""
    packaged = _PACKAGE_DIR / "migrations"
    if (packaged / "env.py").is_file():
        return packaged
    return _PACKAGE_DIR.parent / "alembic"


def alembic_config(db_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_directory()))
    # env.py reads the URL from here first, so the CLI and tests never depend on the process environment.
    config.attributes["db_url"] = db_url
    return config


def upgrade_to_head(db_url: str) -> None:
    """Bring the schema to the newest revision. Idempotent; concurrent runs on PostgreSQL serialise."""
    command.upgrade(alembic_config(db_url), "head")
