"""Process-wide settings for a serving process (the orders app and the benchmark's bare app alike)."""

from __future__ import annotations

import gc

# Collect the youngest generation after this many net new container objects (CPython's default: 700).
YOUNG_GENERATION_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Run at application start-up, in every worker process, once everything long-lived exists.

    A request allocates thousands of short-lived objects that reference counting frees anyway; with
    CPython's default thresholds they still trigger a collection every few requests, and every tenth
    of those walks the older generations too, which hold everything imported and built at start-up.
    Freezing moves that start-up heap out of the collector's sight for good, and a larger young
    generation lets most requests finish between collections. On the benchmark's list page this cut
    CPU per request by 4-20% in six alternating pairs of runs (docs/bench.md). No
    collection before freezing: it would add tens of milliseconds to start-up to reclaim the little
    garbage that importing leaves.
    """
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
