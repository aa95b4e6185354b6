"""Process-wide settings for a serving process (the orders app and the benchmark's bare app alike)."""

from __future__ import annotations

import gc

# Collect the youngest generation after this many net new container objects (CPython's default: 700).
YOUNG_GENERATION_THRESHOLD = 50_000


def pause_garbage_collector() -> None:
    """Run first by `orders-app serve`: start-up (imports, migration, the app's construction) builds about
    155,000 long-lived objects and leaves about 700 unreachable, so the ~220 collections it would trigger find
    nearly nothing and cost ~10% of the imports' time. tune_garbage_collector resumes collecting.
    """
    gc.disable()


def tune_garbage_collector() -> None:
    """Run at application start-up, in every worker process, once everything long-lived exists.

    Requests allocate thousands of short-lived objects that reference counting frees anyway; freezing
    hides the start-up heap from the collector and a larger young generation lets most requests finish
    between collections (measured in docs/bench.md, "Garbage collector").
    """
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
    gc.enable()
