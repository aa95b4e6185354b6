"""The revision graph read from the scripts' declarations is the one Alembic builds from the same scripts."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from orders_app.db.revision import SchemaScripts, migrations_directory

SCRIPT = '''"""{message}"""

revision: str = {revision!r}
down_revision = {down_revision!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass
'''


def _alembic_view(directory: Path) -> tuple[tuple[str, ...], frozenset[str]]:
    scripts = ScriptDirectory(str(directory))
    return tuple(sorted(scripts.get_heads())), frozenset(s.revision for s in scripts.walk_revisions())


def test_this_builds_scripts_read_as_alembic_reads_them() -> None:
    scripts = SchemaScripts()
    assert (scripts.heads, scripts.known) == _alembic_view(migrations_directory())


@pytest.mark.parametrize(
    ("graph", "heads"),
    [
        pytest.param({"a": None}, ("a",), id="one script"),
        pytest.param({"a": None, "b": "a", "c": "b"}, ("c",), id="a line"),
        pytest.param({"a": None, "b": "a", "c": "a"}, ("b", "c"), id="two branches"),
        pytest.param({"a": None, "b": "a", "c": "a", "d": ("b", "c")}, ("d",), id="a merge"),
    ],
)
def test_heads_and_revisions_match_alembic(
    graph: dict[str, object], heads: tuple[str, ...], tmp_path: Path
) -> None:
    (tmp_path / "versions").mkdir()
    for revision, down_revision in graph.items():
        text = SCRIPT.format(message=f"step {revision}", revision=revision, down_revision=down_revision)
        (tmp_path / "versions" / f"{revision}_step.py").write_text(text)
    scripts = SchemaScripts(tmp_path)
    assert (scripts.heads, scripts.known) == (heads, frozenset(graph))
    assert (scripts.heads, scripts.known) == _alembic_view(tmp_path)
