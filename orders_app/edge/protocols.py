"""The protocol factory handed to uvicorn as `http=`: a guarded protocol class with its limits bound."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

from orders_app.edge.guard import ProtocolGuard, ProtocolLimits
from orders_app.edge.h11_guard import GuardedH11Protocol
from orders_app.settings import SettingsError


def protocol_class(parser: str) -> type[ProtocolGuard]:
    """The guarded protocol for HTTP_PARSER; "auto" prefers httptools when it is installed.

    SettingsError when httptools is asked for and missing (the `speedups` extra).
    """
    if parser in ("auto", "httptools"):
        try:
            from orders_app.edge.httptools_guard import GuardedHttpToolsProtocol
        except ImportError:  # without the `speedups` extra: h11 only
            if parser == "httptools":
                raise SettingsError(
                    "HTTP_PARSER=httptools but httptools is not installed (the `speedups` extra)"
                ) from None
        else:
            return GuardedHttpToolsProtocol
    return GuardedH11Protocol


def server_protocol(parser: str, limits: ProtocolLimits) -> Callable[..., asyncio.Protocol]:
    """uvicorn's `http=`: uvicorn calls it with (config, server_state, app_state, _loop) per connection.

    A functools.partial of a module-level class and a frozen dataclass pickles by value, so workers
    spawned by `--workers N` receive the same limits with uvicorn's Config.
    """
    guarded: Callable[..., asyncio.Protocol] = protocol_class(parser)
    return functools.partial(guarded, limits=limits)
