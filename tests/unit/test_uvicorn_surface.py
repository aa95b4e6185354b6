"""The uvicorn, h11 and httptools names the guarded protocols rely on exist in the installed versions."""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import pytest

from orders_app.edge.guard import ProtocolGuard
from orders_app.edge.h11_guard import GuardedH11Protocol
from orders_app.edge.httptools_guard import GuardedHttpToolsProtocol
from orders_app.edge.uvicorn_surface import (
    H11_CYCLE,
    H11_PROTOCOL,
    HTTPTOOLS_PROTOCOL,
    UVICORN_SURFACE,
    Reliance,
)


def resolve(path: str) -> Any:
    """The object a dotted path names: the longest importable module, then attributes."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(path)


def assigned_on_self(cls: type) -> set[str]:
    """Names a class or its bases assign as `self.<name>` in any method (instance attributes)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        for node in ast.walk(ast.parse(source)):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets = [node.target]
            for target in targets:
                value = getattr(target, "value", None)
                if isinstance(target, ast.Attribute) and isinstance(value, ast.Name) and value.id == "self":
                    names.add(target.attr)
    return names


def has(owner: Any, reliance: Reliance) -> bool:
    if reliance.kind == "method":
        return callable(getattr(owner, reliance.name, None))
    if reliance.kind == "parameter":
        return reliance.name in inspect.signature(owner).parameters
    if hasattr(owner, reliance.name):
        return True
    return isinstance(owner, type) and reliance.name in assigned_on_self(owner)


def missing(surface: tuple[Reliance, ...], resolver: Callable[[str], Any] = resolve) -> list[str]:
    return [f"{r.owner}.{r.name} ({r.kind}; {r.use})" for r in surface if not has(resolver(r.owner), r)]


INSTALLED = f"uvicorn {version('uvicorn')}, h11 {version('h11')}, httptools {version('httptools')}"


@pytest.mark.parametrize("reliance", UVICORN_SURFACE, ids=lambda r: f"{r.owner.rsplit('.', 1)[-1]}.{r.name}")
def test_each_name_exists_in_the_installed_packages(reliance: Reliance) -> None:
    assert not missing((reliance,)), f"gone from {INSTALLED}: {missing((reliance,))[0]}"


class StandInCycle:
    """uvicorn's request cycle as an upgrade might reshape it: no `response_complete`."""

    def __init__(self) -> None:
        self.scope: dict[str, object] = {}
        self.response_started = False
        self.disconnected = False
        self.message_event = object()


class StandInProtocol:
    """uvicorn's h11 protocol without `send_400_response`, and with a renamed loop parameter."""

    def __init__(self, config: object, server_state: object, app_state: object, loop: object = None) -> None:
        self.conn = self.transport = self.logger = self.cycle = self.scope = self.loop = None
        self.limit_concurrency = None

    def connection_made(self, transport: object) -> None: ...

    def connection_lost(self, exc: object) -> None: ...

    def data_received(self, data: bytes) -> None: ...

    def handle_events(self) -> None: ...

    def on_response_complete(self) -> None: ...


def test_a_missing_name_is_reported_by_owner_and_name() -> None:
    stand_ins = {H11_CYCLE: StandInCycle, H11_PROTOCOL: StandInProtocol}

    def resolver(path: str) -> Any:
        return stand_ins.get(path) or resolve(path)

    assert missing(UVICORN_SURFACE, resolver) == [
        f"{H11_PROTOCOL}._loop (parameter; passed through by the guarded __init__)",
        f"{H11_PROTOCOL}.send_400_response (method; replaced: JSON 400/431, connection closed)",
        f"{H11_CYCLE}.response_complete (attribute; read: whether the next request's clock may start)",
    ]


@pytest.mark.parametrize(
    ("guarded", "base"),
    [(GuardedH11Protocol, H11_PROTOCOL), (GuardedHttpToolsProtocol, HTTPTOOLS_PROTOCOL)],
)
def test_every_uvicorn_member_the_guard_overrides_is_listed(guarded: type, base: str) -> None:
    uvicorn_class = resolve(base)
    overridden = {
        name
        for klass in (guarded, ProtocolGuard)
        for name in vars(klass)
        if not name.startswith("__")
        and (hasattr(uvicorn_class, name) or name in assigned_on_self(uvicorn_class))
    }
    listed = {r.name for r in UVICORN_SURFACE if r.owner == base}
    assert overridden - listed == set()
