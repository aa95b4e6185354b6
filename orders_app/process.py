"""Process-wide settings for a serving process (the orders app and the benchmark's bare app alike)."""

from __future__ import annotations

import gc

# Collect the youngest generation after this many net new container objects (CPython's default: 700).
YOUNG_GENERATION_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Run at application start-up, in every worker process, once everything long-lived exists.

    Requests allocate thousands of short-lived objects that reference counting frees anyway; freezing
    hides the start-up heap from the collector and a larger young generation lets most requests finish
    between collections (measured in docs/bench.md, "Garbage collector").
    """
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
