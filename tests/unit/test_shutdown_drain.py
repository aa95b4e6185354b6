"""The drain stands in front of the server's signal handler: the first signal waits, a second one does not."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from orders_app.edge.drain import ShutdownDrain


class ServerHandler:
    """Stands in for uvicorn's Server.handle_exit: records the signals it is handed."""

    def __init__(self) -> None:
        self.received: list[int] = []

    def __call__(self, sig: int, _frame: FrameType | None) -> None:
        self.received.append(sig)


@pytest.fixture
def server_handler() -> Iterator[ServerHandler]:
    handler = ServerHandler()
    before = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield handler
    for sig, previous in before.items():
        signal.signal(sig, previous)


async def test_the_first_sigterm_reaches_the_server_after_the_drain(
    server_handler: ServerHandler,
) -> None:
    drain = ShutdownDrain(0.5)
    drain.take_over_signals()
    signal.raise_signal(signal.SIGTERM)
    assert drain.draining
    await asyncio.sleep(0.3)
    assert server_handler.received == []
    await asyncio.sleep(0.5)
    assert server_handler.received == [signal.SIGTERM]
    drain.release_signals()
    assert signal.getsignal(signal.SIGTERM) is server_handler


async def test_a_second_signal_skips_the_rest_of_the_drain(server_handler: ServerHandler) -> None:
    drain = ShutdownDrain(30)
    drain.take_over_signals()
    signal.raise_signal(signal.SIGTERM)
    await asyncio.sleep(0.05)
    assert server_handler.received == []
    signal.raise_signal(signal.SIGINT)
    assert server_handler.received == [signal.SIGINT]
    # The skipped drain's timer hands nothing over later.
    await asyncio.sleep(0.1)
    assert server_handler.received == [signal.SIGINT]
    drain.release_signals()


async def test_without_a_drain_the_server_handler_is_left_alone(server_handler: ServerHandler) -> None:
    drain = ShutdownDrain(0)
    drain.take_over_signals()
    assert signal.getsignal(signal.SIGTERM) is server_handler
    signal.raise_signal(signal.SIGTERM)
    assert server_handler.received == [signal.SIGTERM]
    assert not drain.draining
