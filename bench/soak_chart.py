"""soak.png: per minute of the soak, each backend's RSS, open descriptors, latency and rate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.meta import set_up_in_words
from bench.plotting import save_figure


def draw_soak_chart(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(11, 6.5), dpi=110, sharex=True)
    (rss, fds), (latency, rate) = axes
    for index, (backend, result) in enumerate(report["backends"].items()):
        color = f"C{index}"
        minutes = result["minutes"]
        x = [m["minute"] for m in minutes]
        rss.plot(x, [m["rss_mb"] for m in minutes], color=color, marker=".", label=backend)
        fds.plot(x, [m["fds_max"] for m in minutes], color=color, marker=".", label=f"{backend} descriptors")
        pools = [m["pool_in_use_max"] for m in minutes]
        if any(pool is not None for pool in pools):
            fds.plot(x, pools, color=color, linestyle=":", label=f"{backend} pool in use (max)")
        latency.plot(x, [m["p99_ms"] for m in minutes], color=color, marker=".", label=f"{backend} p99")
        latency.plot(x, [m["p50_ms"] for m in minutes], color=color, linestyle="--", label=f"{backend} p50")
        rate.plot(x, [m["rps"] for m in minutes], color=color, marker=".", label=f"{backend} achieved")
        rate.axhline(result["target_rps"], color=color, linestyle=":", label=f"{backend} target")
    for subplot, label in (
        (rss, "RSS at the minute's end (MB; growth is the figure)"),
        (fds, "open descriptors (max) / pool"),
        (latency, "latency of the minute (ms)"),
        (rate, "requests/s"),
    ):
        subplot.set_ylabel(label, fontsize=8)
        subplot.grid(alpha=0.3)
        subplot.legend(fontsize=7)
    fds.set_ylim(bottom=0)
    latency.set_ylim(bottom=0)
    rate.set_ylim(bottom=0)
    for subplot in (latency, rate):
        subplot.set_xlabel("minute")
    meta = report["meta"]
    title = f"orders-app soak: S4 paced at half its measured peak, {set_up_in_words(meta)}, {meta['date']}"
    save_figure(figure, title, path)
