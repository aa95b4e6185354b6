"""Figures set side by side: S2 with metrics on and off, ours against the peer."""

from __future__ import annotations

from typing import Any

from bench.config import PEER_TARGET


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


def against_peer(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    """Per scenario both ran: the app's req/s as a multiple of the peer's, and each as a share of S0."""
    table = {}
    for name, theirs in peer.items():
        mine = ours[name]
        table[name] = {
            "ours_rps": mine["rps"],
            "peer_rps": theirs["rps"],
            "ours_over_peer": mine["rps"] / theirs["rps"] if theirs["rps"] else None,
            "target_over_peer": PEER_TARGET,
            "ours_share_of_S0": mine.get("ratio"),
            "peer_share_of_S0": theirs.get("ratio"),
            "ours_p50_ms": mine["p50_ms"],
            "ours_p99_ms": mine["p99_ms"],
            "peer_p50_ms": theirs["p50_ms"],
            "peer_p99_ms": theirs["p99_ms"],
            "ours_cpu_ms_per_request": mine["cpu_ms_per_request"],
            "peer_cpu_ms_per_request": theirs["cpu_ms_per_request"],
            "ours_errors": mine["errors"],
            "ours_non_2xx": mine["non_2xx"],
            "peer_errors": theirs["errors"],
            "peer_non_2xx": theirs["non_2xx"],
        }
    return table
