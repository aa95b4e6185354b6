"""A process whose database is already at this build's head serves without importing Alembic.

Alembic (with the dialects it loads) is 80-110 ms of start-up; it is needed only to change the schema.
Each probe runs in a fresh interpreter, as `orders-app serve` and `orders-app migrate` do.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

# What `serve` does before uvicorn takes over (migrate unless told not to; build the app; answer
# readiness); prints whether Alembic got imported and what readiness said.
PROBE = """
import asyncio, sys
from orders_app.db.migrations import upgrade_to_head
from orders_app.app import create_app
from orders_app.settings import Settings

upgrade_to_head(sys.argv[1])
app = create_app(Settings(db_url=sys.argv[1], auth_disabled=True, migrate_on_start=False))

async def ready():
    answer = await app.state.readiness.answer()
    await app.state.database.dispose()
    return answer.ready

print(asyncio.run(ready()), "alembic" in sys.modules)
"""


def _start(db_url: str) -> list[str]:
    probe = subprocess.run([sys.executable, "-c", PROBE, db_url], capture_output=True, text=True, check=False)
    assert probe.returncode == 0, probe.stderr
    return probe.stdout.split()


@pytest.mark.parametrize(
    "factory", ["make_sqlite_database", pytest.param("make_postgres_database", marks=pytest.mark.postgres)]
)
def test_alembic_is_imported_to_migrate_and_not_once_the_schema_is_current(
    factory: str, request: pytest.FixtureRequest
) -> None:
    make_database: Any = request.getfixturevalue(factory)
    db_url = make_database()
    assert _start(db_url) == ["True", "True"], "a fresh database is migrated with Alembic"
    assert _start(db_url) == ["True", "False"], "at head: no migration, no Alembic"
