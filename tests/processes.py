"""What the helpers that run a server process for a test share: the `with` block and reading its output."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Self


class StartedProcess(ABC):
    """`with` starts the process (start() returns once it is usable) and stops it however the block ends."""

    @abstractmethod
    def start(self) -> Self: ...

    @abstractmethod
    def stop(self) -> None: ...

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def output_so_far(path: Path) -> str:
    """What the process has written to `path` until now; empty before it has written anything."""
    return path.read_text(errors="replace") if path.exists() else ""
