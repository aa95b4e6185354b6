"""Figures set side by side: S2 with metrics on and off, ours against the peer or the baseline."""

from __future__ import annotations

from typing import Any


def metrics_cost(on: dict[str, Any], off: dict[str, Any]) -> dict[str, Any]:
    """What the metrics layer costs S2: throughput lost and CPU per request added (docs/metrics.md)."""
    return {
        "on": on,
        "off": off,
        "rps_cost": 1 - on["rps"] / off["rps"] if off["rps"] else None,
        "cpu_cost": on["cpu_ms_per_request"] / off["cpu_ms_per_request"] - 1
        if off["cpu_ms_per_request"]
        else None,
    }


def against(ours: dict[str, Any], theirs: dict[str, Any], other: str, target: float | None) -> dict[str, Any]:
    """Per scenario both ran: our req/s as a multiple of the other server's (`other`: "peer" or
    "baseline"), each as a share of S0, latencies, CPU per request and failures side by side."""
    table = {}
    for name, them in theirs.items():
        mine = ours[name]
        row = {
            "ours_rps": mine["rps"],
            f"{other}_rps": them["rps"],
            f"ours_over_{other}": mine["rps"] / them["rps"] if them["rps"] else None,
        }
        if target is not None:
            row[f"target_over_{other}"] = target
        table[name] = row | {
            "ours_share_of_S0": mine.get("ratio"),
            f"{other}_share_of_S0": them.get("ratio"),
            "ours_p50_ms": mine["p50_ms"],
            "ours_p99_ms": mine["p99_ms"],
            f"{other}_p50_ms": them["p50_ms"],
            f"{other}_p99_ms": them["p99_ms"],
            "ours_cpu_ms_per_request": mine["cpu_ms_per_request"],
            f"{other}_cpu_ms_per_request": them["cpu_ms_per_request"],
            "ours_errors": mine["errors"],
            "ours_non_2xx": mine["non_2xx"],
            f"{other}_errors": them["errors"],
            f"{other}_non_2xx": them["non_2xx"],
        }
    return table
