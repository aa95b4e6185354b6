"""Serving processes tune the garbage collector at start-up, in every worker; `serve` pauses it until then."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orders_app.app import create_app
from orders_app.auth.keys import KeyPair
from orders_app.process import YOUNG_GENERATION_THRESHOLD, tune_garbage_collector
from tests.conftest import Backend, app_settings

PROBE = """
import gc
from orders_app.process import pause_garbage_collector, tune_garbage_collector
before = gc.get_threshold()
pause_garbage_collector()
tune_garbage_collector()
after = gc.get_threshold()
print(before[0], after[0], before[1:] == after[1:], gc.get_freeze_count() > 0, gc.isenabled())
"""

# `orders-app serve` up to the moment it hands the app to uvicorn: is the collector running then?
SERVE_PROBE = """
import gc, sys
import uvicorn
from orders_app.cli import main
uvicorn.run = lambda *args, **kwargs: print("collecting" if gc.isenabled() else "paused")
main(["serve", "--workers", sys.argv[1]])
"""


def test_the_startup_heap_is_frozen_and_young_objects_are_collected_less_often() -> None:
    # In a fresh interpreter: freezing is process-wide and would otherwise outlive this test.
    probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    default, tuned, older_generations_unchanged, frozen, collecting = probe.stdout.split()
    assert int(default) < int(tuned) == YOUNG_GENERATION_THRESHOLD
    assert older_generations_unchanged == "True"
    assert frozen == "True"
    assert collecting == "True"


@pytest.mark.parametrize(
    ("workers", "collector"),
    [
        # The one process imports and builds the app with the collector paused; the app's start-up resumes it.
        ("1", "paused"),
        # The supervisor runs no app start-up hook, so it resumes its own collector before it spawns workers.
        ("2", "collecting"),
    ],
)
def test_serve_starts_without_collections_until_the_app_takes_over(
    workers: str, collector: str, keys: KeyPair, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DB_URL": f"sqlite:///{tmp_path}/orders.db",
        "JWT_PUBLIC_KEY_FILE": str(keys.public_key),
        "MIGRATE_ON_START": "false",
    }
    probe = subprocess.run(
        [sys.executable, "-c", SERVE_PROBE, workers], capture_output=True, text=True, env=env, check=True
    )
    assert probe.stdout.split() == [collector], probe.stderr


def test_the_app_tunes_the_collector_when_it_starts(backend: Backend, keys: KeyPair) -> None:
    app = create_app(app_settings(backend, keys))
    assert tune_garbage_collector in app.on_startup
