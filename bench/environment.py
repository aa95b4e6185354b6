"""The environment a server under test runs in: the image's set of packages, never the bench tools.

`bench/run` itself runs with the bench group (matplotlib, advanced-alchemy for the peer). Serving our
app from there would measure packages the image never ships: Litestar imports advanced-alchemy when
it is installed, and with it NumPy and OpenBLAS threads (docs/bench.md, "Memory (peak RSS)"). So
ours, S0's bare app and the baseline each get `uv sync --no-dev --extra speedups`, with bytecode
compiled, as the Containerfile installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.config import BenchError

# Probes, in the built interpreter, for the event loop and HTTP parser uvicorn will pick there.
STACK_PROBE = (
    "import importlib.util as u; print('uvloop' if u.find_spec('uvloop') else 'asyncio', "
    "'httptools' if u.find_spec('httptools') else 'h11')"
)


@dataclass(frozen=True)
class ServingEnvironment:
    python: Path
    loop: str
    http: str


def build_serving_environment(root: Path, venv: Path, what: str) -> ServingEnvironment:
    """`root`'s locked runtime packages (no dev or bench groups) in `venv`, on our interpreter."""
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        raise BenchError(f"{what}: uv is needed to build the serving environment from {root / 'uv.lock'}")
    print(f"bench: building the serving environment of {what} from {root / 'uv.lock'} …", flush=True)
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
    env.pop("VIRTUAL_ENV", None)
    command = [uv, "sync", "--locked", "--no-dev", "--extra", "speedups", "--compile-bytecode"]
    synced = subprocess.run(  # noqa: S603 - uv with fixed arguments
        [*command, "--project", str(root), "--python", sys.executable, "--quiet"],
        env=env,
        capture_output=True,
        text=True,
    )
    if synced.returncode != 0:
        raise BenchError(f"{what}: `{' '.join(command)}` failed: {synced.stderr.strip()}")
    python = venv / "bin" / "python"
    probe = subprocess.run(  # noqa: S603 - the built interpreter, fixed arguments
        [str(python), "-c", STACK_PROBE], capture_output=True, text=True
    )
    if probe.returncode != 0:
        raise BenchError(f"{what}: the environment built from {root} does not run: {probe.stderr.strip()}")
    loop, http = probe.stdout.split()
    return ServingEnvironment(python, loop, http)
