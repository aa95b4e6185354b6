"""Everything the procedure does to the machine goes through a Runner: LocalRunner does it,
PrintingRunner (--dry-run) prints each command as a shell line instead and answers as if it had
succeeded, so the procedure itself never asks which of the two it has."""

# Its job is running other programs (engine, git, aws, az, syft) with arguments built by the procedure.
# ruff: noqa: S603

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from tools.publish.commands import Cmd, PublishError, Result, install_hint


class Runner(Protocol):
    def run(self, cmd: Cmd, *, stream: bool = False, stdin_data: str | None = None) -> Result:
        """A step: its output captured, or with `stream` sent on to stderr (builds)."""

    def probe(self, cmd: Cmd) -> Result:
        """A question no printed step depends on (is the daemon up, is the image there)."""

    def look_up(self, cmd: Cmd) -> Result:
        """A read-only local query that also runs in a dry run (its program may be missing there)."""

    def which(self, program: str) -> str | None:
        """Where a program is, if installed."""

    def missing(self, program: str, error: str) -> str:
        """A needed program that is not installed: a real run stops with `error`."""

    def create_unless(
        self, check: Cmd, create: Cmd, *, create_when: Callable[[Result], bool], announce: str
    ) -> tuple[Result, Result | None]:
        """Runs `create` only when `check` fails in the way `create_when` accepts."""

    def read_secret(self, read: Callable[[], str]) -> str:
        """A secret for a command's stdin (a dry run reads none: it shows where it comes from)."""

    def scratch(self, prefix: str) -> AbstractContextManager[str]:
        """A directory for files commands write, removed afterwards."""

    def read_written(self, path: str | Path, placeholder: str) -> str:
        """A file a command wrote (a dry run wrote none: `placeholder` stands in)."""

    def note(self, text: str) -> None:
        """What is about to happen: a progress line, or a comment in a dry run."""

    def explain(self, text: str) -> None:
        """Why the next printed command is conditional (a real run decides silently)."""

    def log(self, text: str) -> None:
        """Progress of a real run (a dry run has none)."""

    def report(self, line: str) -> None:
        """The run's result on stdout (a dry run's stdout is its commands, so it has none)."""


class LocalRunner:
    """Runs commands for real. The script's stdout is reserved for the result, so streamed output
    of long commands (builds) goes to stderr."""

    def __init__(self, log: Callable[[str], None], which: Callable[[str], str | None] = shutil.which) -> None:
        self.log = log
        self.which = which

    def execute(self, cmd: Cmd, *, stream: bool, stdin_data: str | None) -> Result:
        """The one place a process starts."""
        env = {**os.environ, **cmd.env}
        # Without data of its own, a command gets no stdin: nothing may wait on a prompt, and
        # a password piped into this script is only ever read by the script itself.
        feed: dict[str, Any] = (
            {"input": stdin_data} if stdin_data is not None else {"stdin": subprocess.DEVNULL}
        )
        try:
            if stream:
                proc = subprocess.run(cmd.argv, env=env, text=True, stdout=sys.stderr, check=False, **feed)
                return Result(proc.returncode)
            proc = subprocess.run(cmd.argv, env=env, text=True, capture_output=True, check=False, **feed)
            return Result(proc.returncode, proc.stdout, proc.stderr)
        except FileNotFoundError as exc:
            raise PublishError(f"{cmd.argv[0]!r} not found: {install_hint(cmd.argv[0])}") from exc

    def run(self, cmd: Cmd, *, stream: bool = False, stdin_data: str | None = None) -> Result:
        if cmd.stdin_cmd is not None:
            first = self.run(cmd.stdin_cmd)
            if not first.ok:
                return dataclasses.replace(first, upstream=cmd.stdin_cmd.argv[0])
            cmd, stdin_data = dataclasses.replace(cmd, stdin_cmd=None), first.stdout.strip() + "\n"
        if cmd.writes is not None:
            cmd.writes.parent.mkdir(parents=True, exist_ok=True)
        return self.execute(cmd, stream=stream, stdin_data=stdin_data)

    def probe(self, cmd: Cmd) -> Result:
        return self.run(cmd)

    def look_up(self, cmd: Cmd) -> Result:
        return self.run(cmd)

    def missing(self, program: str, error: str) -> str:
        raise PublishError(error)

    def create_unless(
        self, check: Cmd, create: Cmd, *, create_when: Callable[[Result], bool], announce: str
    ) -> tuple[Result, Result | None]:
        found = self.run(check)
        if found.ok or not create_when(found):
            return found, None
        self.log(announce)
        return found, self.run(create)

    def read_secret(self, read: Callable[[], str]) -> str:
        return read()

    @contextlib.contextmanager
    def scratch(self, prefix: str) -> Iterator[str]:
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            yield tmp

    def read_written(self, path: str | Path, placeholder: str) -> str:
        return Path(path).read_text()

    def note(self, text: str) -> None:
        self.log(text)

    def explain(self, text: str) -> None:
        pass

    def report(self, line: str) -> None:
        print(line)


class PrintingRunner:
    """--dry-run: prints each command to stdout instead of running it, and answers as if it had
    succeeded (or with the command's own assumed answer)."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out

    def run(self, cmd: Cmd, *, stream: bool = False, stdin_data: str | None = None) -> Result:
        self.out(cmd.render())
        return cmd.assumed_answer()

    def probe(self, cmd: Cmd) -> Result:
        return Result(0)

    def look_up(self, cmd: Cmd) -> Result:
        try:
            return LocalRunner(log=self.log).run(cmd)
        except PublishError:
            return Result(127)

    def which(self, program: str) -> str | None:
        return program

    def missing(self, program: str, error: str) -> str:
        return program

    def create_unless(
        self, check: Cmd, create: Cmd, *, create_when: Callable[[Result], bool], announce: str
    ) -> tuple[Result, Result | None]:
        self.out(f"{check.render()} >/dev/null 2>&1 || {create.render()}")
        return Result(1), create.assumed_answer()

    def read_secret(self, read: Callable[[], str]) -> str:
        return ""

    @contextlib.contextmanager
    def scratch(self, prefix: str) -> Iterator[str]:
        yield "${TMPDIR}"

    def read_written(self, path: str | Path, placeholder: str) -> str:
        return placeholder

    def note(self, text: str) -> None:
        self.out(f"# {text}")

    def explain(self, text: str) -> None:
        self.note(text)

    def log(self, text: str) -> None:
        pass

    def report(self, line: str) -> None:
        pass
