"""The servers run on S1-S3 in the same rounds as ours, each right after ours: the baseline (an
earlier checkout of this app, --baseline) and the peer (bench/peer)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.baseline import Baseline
from bench.config import PEER_TARGET, Options
from bench.prepare import PeerSetup, Prepared, seed_peer, throwaway_database
from bench.servers import Server


@dataclass
class Contender:
    """A server run on S1-S3 in the same rounds as ours, right after ours: the baseline or the peer."""

    key: str  # the label prefix and the report's key: "baseline" or "peer"
    server: Server
    ready_path: str
    data: Path
    # Runs once the server is ready; the order ids the answer check reads.
    seed: Callable[[], list[str]]
    target: float | None = None


def baseline_contender(
    options: Options, prepared: Prepared, databases: contextlib.ExitStack, baseline: Baseline
) -> Contender:
    """The baseline on a copy of our database as seeded: the same orders and ids, so the same wrk data."""
    backend = prepared.backend
    copy_url = databases.enter_context(
        throwaway_database(
            backend, prepared.workdir, options.postgres_url, "baseline", copy_of=prepared.env["DB_URL"]
        )
    )
    env = baseline.env(prepared.env, copy_url)
    baseline.migrate(env)
    server = baseline.server(backend, options.workers, env, prepared.log_dir)
    return Contender("baseline", server, "/health/ready", prepared.data, lambda: prepared.ids)


def peer_contender(options: Options, prepared: Prepared, databases: contextlib.ExitStack) -> Contender:
    """The peer gets a database of its own, on which it creates its tables at start-up."""
    backend = prepared.backend
    peer_db_url = databases.enter_context(
        throwaway_database(backend, prepared.workdir, options.postgres_url, "peer")
    )
    peer = PeerSetup({**prepared.env, "DB_URL": peer_db_url}, prepared.workdir / "peer-data.lua")
    server = Server(
        f"bench.peer ({backend})",
        [sys.executable, "-m", "bench.peer", "--workers", str(options.workers)],
        peer.env,
        prepared.log_dir / f"{backend}-peer.log",
    )
    return Contender(
        "peer", server, "/health", peer.data, lambda: seed_peer(backend, peer, prepared.tokens), PEER_TARGET
    )
