"""Serving processes tune CPython's garbage collector at start-up, in every worker."""

from __future__ import annotations

import subprocess
import sys

from orders_app.app import create_app
from orders_app.auth.keys import KeyPair
from orders_app.process import YOUNG_GENERATION_THRESHOLD, tune_garbage_collector
from tests.conftest import Backend, app_settings

PROBE = """
import gc
from orders_app.process import tune_garbage_collector
before = gc.get_threshold()
tune_garbage_collector()
after = gc.get_threshold()
print(before[0], after[0], before[1:] == after[1:], gc.get_freeze_count() > 0)
"""


def test_the_startup_heap_is_frozen_and_young_objects_are_collected_less_often() -> None:
    # In a fresh interpreter: freezing is process-wide and would otherwise outlive this test.
    probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    default, tuned, older_generations_unchanged, frozen = probe.stdout.split()
    assert int(default) < int(tuned) == YOUNG_GENERATION_THRESHOLD
    assert older_generations_unchanged == "True"
    assert frozen == "True"


def test_the_app_tunes_the_collector_when_it_starts(backend: Backend, keys: KeyPair) -> None:
    app = create_app(app_settings(backend, keys))
    assert tune_garbage_collector in app.on_startup
