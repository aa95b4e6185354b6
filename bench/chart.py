"""results.png: requests/s per scenario and backend, and each scenario's share of S0."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.config import SCENARIOS
from bench.meta import set_up_in_words
from bench.plotting import save_figure

SHORT_LABELS = {
    "S0": "S0\nbare /hello",
    "S1": "S1\nPOST order",
    "S1K": "S1K\nPOST + key",
    "S2": "S2\nGET order",
    "S3": "S3\nlist 50",
    "S4": "S4\nmix",
}


def draw_chart(report: dict[str, Any], path: Path) -> None:
    """Left: requests/s per scenario and backend. Right: each order scenario as a share of S0 from the
    same rounds, the figure that moves least with a noisy machine's load (no target: it is a reading)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = list(report["backends"])
    width = 0.8 / max(1, len(backends))
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(11, 4.2), dpi=110, gridspec_kw={"width_ratios": [5, 4]}
    )
    for index, backend in enumerate(backends):
        scenarios = report["backends"][backend]["scenarios"]
        offset = (index - (len(backends) - 1) / 2) * width
        names = [name for name in SCENARIOS if name in scenarios]
        bars = left.bar(
            [i + offset for i in range(len(names))],
            [scenarios[name]["rps"] for name in names],
            width,
            label=backend,
        )
        left.bar_label(bars, fmt="%.0f", fontsize=7)
        shared = [name for name in names if name != "S0" and scenarios[name].get("ratio") is not None]
        bars = right.bar(
            [i + offset for i in range(len(shared))],
            [100 * scenarios[name]["ratio"] for name in shared],
            width,
            label=backend,
        )
        right.bar_label(bars, fmt="%.0f%%", fontsize=7)
    names = list(SCENARIOS)
    left.set_xticks(range(len(names)), [SHORT_LABELS[name] for name in names], fontsize=8)
    left.set_ylabel("requests/s (median of runs)")
    left.legend(fontsize=8)
    shared = [name for name in names if name != "S0"]
    right.set_xticks(range(len(shared)), [SHORT_LABELS[name] for name in shared], fontsize=8)
    right.set_ylabel("share of S0 (%)")
    for axes in (left, right):
        axes.grid(axis="y", alpha=0.3)
    meta = report["meta"]
    title = f"orders-app vs a bare Litestar endpoint (S0): {set_up_in_words(meta)}, {meta['date']}"
    save_figure(figure, title, path)
