"""What the parts of the benchmark share: paths, scenarios, the peer bar, the seed's shape and the options."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "scenario.lua"
SOAK_LUA = ROOT / "bench" / "soak.lua"
RESULTS = ROOT / "bench" / "results"

# The label of S2 against the METRICS_ENABLED=false twin (--metrics-cost).
METRICS_OFF = "S2 metrics off"

SCENARIOS: dict[str, tuple[str, str]] = {
    # name: (wrk scenario, description)
    "S0": ("hello", "bare Litestar JSON endpoint (ceiling)"),
    "S1": ("post", "POST /orders, one item"),
    "S1K": ("keyed_post", "POST /orders, a new Idempotency-Key each"),
    "S2": ("get", "GET /orders/{id}"),
    "S3": ("list", "GET /orders?limit=50"),
    "S4": ("mix", "70% S2, 20% S1, 10% pay or cancel"),
}
# Scenarios the peer (bench/peer) and the baseline (--baseline) serve beside ours.
COMPARED_SCENARIOS = ("S1", "S2", "S3")
# The bar: ours at least this multiple of the peer's req/s in the same run; reported, never enforced
# (docs/bench.md, "Against the peer").
PEER_TARGET = 3.0
SEED_ORDERS = 1000
TOKEN_POOL = 200
PRODUCTS = ("latte", "cappuccino", "espresso", "mocha", "flat white", "americano")
SIZES = ("small", "medium", "big")
READER = "bench-user"


class BenchError(Exception):
    """The benchmark cannot run or a server misbehaved; the message says what to do."""


@dataclass
class Options:
    backends: list[str]
    workers: int
    connections: int
    threads: int
    duration: float
    warmup: float
    runs: int
    scenarios: list[str]
    scaling: bool
    postgres_url: str
    out: Path
    smoke: bool
    peer: bool = True
    # S2 also against a second server with METRICS_ENABLED=false, in the same rounds (docs/metrics.md).
    metrics_cost: bool = False
    # An earlier checkout of this app, served beside ours on S1-S3 (bench/baseline.py).
    baseline: Path | None = None
    # --soak: S4 paced at half the measured peak for this many seconds instead of the scenarios
    # (bench/soak.py).
    soak_seconds: float | None = None
    # The interpreter of our servers' own environment (bench/environment.py), set once it is built.
    server_python: str = sys.executable
