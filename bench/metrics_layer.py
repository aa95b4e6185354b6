"""Per-request cost of the RequestMetrics layer, in-process: `python -m bench.metrics_layer [single|multi]`.

A trivial ASGI app is called with and without the layer; the difference of the best of five timings
of 50,000 calls is the layer's cost. `multi` sets PROMETHEUS_MULTIPROC_DIR first, as `serve` does for
several workers, so every value is written to memory-mapped files. Figures in docs/metrics.md.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from typing import Any


async def _app(scope: Any, _receive: Any, send: Any) -> None:
    scope["path_template"] = "/orders/{order_id}"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _receive() -> dict[str, Any]:
    return {"type": "http.request"}


async def _send(_message: Any) -> None:
    return None


async def _per_call_us(handler: Any, calls: int) -> float:
    scope = {"type": "http", "method": "GET", "path": "/orders/1", "headers": []}
    started = time.perf_counter()
    for _ in range(calls):
        await handler(dict(scope), _receive, _send)
    return (time.perf_counter() - started) / calls * 1e6


async def _measure() -> tuple[float, float]:
    from orders_app.edge.request_metrics import RequestMetrics
    from orders_app.observability.prometheus import PrometheusSink

    wrapped = RequestMetrics(_app, PrometheusSink())
    for _ in range(2):
        await _per_call_us(_app, 20_000)
        await _per_call_us(wrapped, 20_000)
    bare = min([await _per_call_us(_app, 50_000) for _ in range(5)])
    measured = min([await _per_call_us(wrapped, 50_000) for _ in range(5)])
    return bare, measured


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "single"
    directory = None
    if mode == "multi":
        # Before orders_app.observability (and so prometheus_client) is imported, as in `serve`.
        directory = tempfile.mkdtemp(prefix="orders-bench-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    try:
        bare, measured = asyncio.run(_measure())
    finally:
        if directory:
            shutil.rmtree(directory, ignore_errors=True)
    print(
        f"{mode}: bare {bare:.2f} us, with RequestMetrics {measured:.2f} us: {measured - bare:.2f} us/request"
    )


if __name__ == "__main__":
    main()
