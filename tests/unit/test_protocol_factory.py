"""The protocol factory `orders-app serve` hands to uvicorn: its limits travel with it, to every worker."""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
import sys
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from orders_app.cli import server_options
from orders_app.edge.guard import ProtocolLimits
from orders_app.edge.h11_guard import GuardedH11Protocol
from orders_app.edge.httptools_guard import GuardedHttpToolsProtocol
from orders_app.edge.protocols import protocol_class
from orders_app.observability.prometheus import PrometheusSink
from orders_app.observability.sink import NoMetrics
from orders_app.settings import Settings, SettingsError

LIMITS = {"header_read_timeout": 1.5, "body_read_timeout": 2.5, "max_header_bytes": 4096}


async def _app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("not called")


def _config(**settings: Any) -> Config:
    return Config(app=_app, **server_options(Settings(**LIMITS, **settings)))


def _served_limits(config: Config) -> tuple[str, ProtocolLimits]:
    """The class and limits of a protocol built from `config` as uvicorn builds one per connection."""
    config.load()
    loop = asyncio.new_event_loop()
    try:
        protocol = config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=ServerState(), app_state={}, _loop=loop
        )
    finally:
        loop.close()
    return type(protocol).__name__, protocol.limits  # type: ignore[attr-defined]


def _in_worker(config: Config, results: Any) -> None:
    results.put(_served_limits(config))


@pytest.mark.parametrize(
    ("parser", "guarded"), [("h11", GuardedH11Protocol), ("httptools", GuardedHttpToolsProtocol)]
)
def test_the_parser_names_the_guarded_protocol(parser: str, guarded: type) -> None:
    assert protocol_class(parser) is guarded


def test_a_missing_httptools_is_a_settings_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "orders_app.edge.httptools_guard")
    monkeypatch.setitem(sys.modules, "uvicorn.protocols.http.httptools_impl", None)
    with pytest.raises(SettingsError, match="HTTP_PARSER=httptools but httptools is not installed"):
        protocol_class("httptools")
    assert protocol_class("auto") is GuardedH11Protocol


@pytest.mark.parametrize(("enabled", "sink"), [(True, PrometheusSink), (False, NoMetrics)])
def test_the_limits_survive_pickling_with_uvicorns_config(enabled: bool, sink: type) -> None:
    name, limits = _served_limits(
        pickle.loads(pickle.dumps(_config(metrics_enabled=enabled, http_parser="h11")))
    )
    assert name == "GuardedH11Protocol"
    assert (limits.header_timeout, limits.body_timeout, limits.max_header_bytes) == (1.5, 2.5, 4096)
    assert type(limits.metrics) is sink


@pytest.mark.slow
def test_a_spawned_worker_enforces_the_configured_limits() -> None:
    # uvicorn starts `--workers N` processes with the spawn method and hands each the pickled Config.
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    worker = spawn.Process(target=_in_worker, args=(_config(http_parser="httptools"), results))
    worker.start()
    try:
        name, limits = results.get(timeout=120)
    finally:
        worker.join(30)
    assert worker.exitcode == 0
    assert name == "GuardedHttpToolsProtocol"
    assert (limits.header_timeout, limits.body_timeout, limits.max_header_bytes) == (1.5, 2.5, 4096)
    assert type(limits.metrics) is PrometheusSink


def test_workers_get_the_configured_health_check_allowance() -> None:
    assert _config().timeout_worker_healthcheck == 30
    assert _config(worker_healthcheck_timeout=90).timeout_worker_healthcheck == 90
