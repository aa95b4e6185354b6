"""The multiprocess directory: made empty before workers start, cleaned, dead workers' gauges dropped."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from orders_app.observability.metrics import MULTIPROC_ENV, drop_dead_workers, multiprocess_directory


def test_one_worker_needs_no_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    with multiprocess_directory(1) as directory:
        assert directory is None
        assert MULTIPROC_ENV not in os.environ


def test_a_fresh_directory_is_made_for_the_workers_and_removed_after(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    # mkdtemp reads TMPDIR once and caches it in tempfile.tempdir.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with multiprocess_directory(2) as directory:
        assert directory is not None
        assert directory.parent == tmp_path
        assert os.environ[MULTIPROC_ENV] == str(directory)
        assert list(directory.iterdir()) == []
        (directory / "counter_123.db").write_bytes(b"x")
    assert not directory.exists()
    assert MULTIPROC_ENV not in os.environ


def test_an_operators_directory_is_emptied_of_a_previous_runs_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    configured = tmp_path / "metrics"
    configured.mkdir()
    (configured / "counter_99.db").write_bytes(b"old")
    (configured / "keep.txt").write_text("not ours")
    monkeypatch.setenv(MULTIPROC_ENV, str(configured))
    with multiprocess_directory(3) as directory:
        assert directory == configured
        assert sorted(path.name for path in configured.iterdir()) == ["keep.txt"]
    # The operator's directory stays, and so does the variable.
    assert configured.is_dir()
    assert os.environ[MULTIPROC_ENV] == str(configured)


def test_live_gauges_of_dead_workers_are_dropped_and_counters_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    for name in ("gauge_livesum_10.db", "gauge_livesum_20.db", "gauge_liveall_20.db", "counter_20.db"):
        (tmp_path / name).write_bytes(b"")
    dropped = drop_dead_workers(lambda pid: pid == 10)
    assert dropped == [20]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["counter_20.db", "gauge_livesum_10.db"]


def test_without_multiprocess_mode_nothing_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    assert drop_dead_workers(lambda _pid: False) == []
