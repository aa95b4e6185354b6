"""Figures for the container image: size, size over its base, largest packages, run->ready, rebuild time.

    uv run python bench/container_figures.py [--engine podman|docker] [--runs 9] [--base IMAGE]

Reported, not asserted (targets: at most 90 MB over the base, ready in 1.0 s or less median, rebuild after a
one-line code change in under 10 s). Run->ready is timed alternately for the app and for the floor: the same
image, options and probe, with a stdlib HTTP server in place of the app (what the engine and the interpreter
cost before any of the app runs). Everything it starts it removes: containers, volumes and its image tags.
The base defaults to $ORDERS_PYTHON_BASE_IMAGE, else the CI stand-in (.ci/lib/base-images.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.container.engines import STAND_IN_PYTHON_IMAGE, Engine, make_engine, unique_name  # noqa: E402

KEY_MOUNT = "/run/secrets/jwt_public_key.pem"

# Run inside the image: bytes per installed distribution (its top-level modules, bytecode included, and its
# .dist-info), largest first.
PACKAGE_SIZES = r"""
import json, os, sys, importlib.metadata as md
site = next(p for p in sys.path if p.endswith("site-packages"))
owners = md.packages_distributions()
def size(path):
    if os.path.islink(path) or not os.path.isdir(path):
        return os.lstat(path).st_size
    return sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(path) for f in fs)
totals = {}
for entry in os.listdir(site):
    path = os.path.join(site, entry)
    if entry.endswith(".dist-info"):
        name = md.Distribution.at(path).metadata["Name"]
    else:
        module = entry.split(".")[0]
        name = (owners.get(module) or [module])[0]
    totals[name] = totals.get(name, 0) + size(path)
print(json.dumps(sorted(totals.items(), key=lambda item: -item[1])))
"""


# The floor: the image's interpreter answering 200 to any GET on the app's port, with nothing else imported.
FLOOR_SERVER = """
import http.server
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
http.server.HTTPServer(("0.0.0.0", 8080), Ok).serve_forever()
"""
FLOOR_COMMAND = ("--entrypoint", "python"), ("-c", FLOOR_SERVER)


def mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def spread(seconds: list[float]) -> str:
    return f"median {statistics.median(seconds):.2f} s, min {min(seconds):.2f} s, max {max(seconds):.2f} s"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build(engine: Engine, context: Path, tag: str, base: str | None, log: Path) -> float:
    args = {"PYTHON_IMAGE": base} if base else {}
    return engine.build(context, tag, args, log)


def run_to_ready(
    engine: Engine, tag: str, public_key: Path, extra: tuple[str, ...] = (), command: tuple[str, ...] = ()
) -> float:
    """Seconds from `run` to the first 200 on /health/ready, polled every 10 ms; the container is removed."""
    name, port = unique_name("orders-bench"), free_port()
    options = [
        "-p", f"127.0.0.1:{port}:8080", "-v", f"{public_key}:{KEY_MOUNT}:ro",
        "--read-only", "--tmpfs", "/tmp",  # noqa: S108 (the container's /tmp, a tmpfs)
        "--cap-drop=ALL", "--security-opt=no-new-privileges", *extra,
    ]  # fmt: skip
    started = time.monotonic()
    try:
        engine.run_detached(tag, name, options, command)
        deadline = started + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"{name} not ready in 60 s:\n{engine.logs(name)[-2000:]}")
    finally:
        engine.remove_container(name)


def app_and_floor(engine: Engine, tag: str, public_key: Path, runs: int) -> tuple[list[float], list[float]]:
    """Run->ready of the app and of the floor, alternating (which goes first alternates too) so that both
    see the same machine: a busy host slows both, and the difference is what the app adds."""
    app: list[float] = []
    floor: list[float] = []
    for run in range(runs):
        for which in ("app", "floor") if run % 2 == 0 else ("floor", "app"):
            if which == "app":
                app.append(run_to_ready(engine, tag, public_key))
            else:
                floor.append(run_to_ready(engine, tag, public_key, *FLOOR_COMMAND))
    return app, floor


def rebuild_after_code_change(engine: Engine, tag: str, base: str | None, workdir: Path) -> float:
    """Copy the build context, change one line of code, rebuild: the dependency layer must come from cache."""
    context = workdir / "context"
    git = shutil.which("git") or "git"
    listing = [git, "-C", str(REPO_ROOT), "ls-files", "--cached", "--others", "--exclude-standard"]
    files = subprocess.run(listing, capture_output=True, text=True, check=True).stdout.split()  # noqa: S603
    for name in files:
        source = REPO_ROOT / name
        if source.is_file():
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, context / name)
    build(engine, context, tag, base, workdir / "warm.log")  # same content as the image: all cached
    init = context / "orders_app" / "__init__.py"
    init.write_text(init.read_text() + f"\n# rebuild probe {time.time()}\n")
    return build(engine, context, tag, base, workdir / "rebuild.log")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["podman", "docker"], default="podman")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--base", default=os.environ.get("ORDERS_PYTHON_BASE_IMAGE"))
    args = parser.parse_args()

    engine = make_engine(args.engine)
    if reason := engine.available():
        print(f"cannot measure: {reason}", file=sys.stderr)
        return 2
    base = args.base or (STAND_IN_PYTHON_IMAGE if engine.has_image(STAND_IN_PYTHON_IMAGE) else None)
    tag = f"localhost/orders-app:{unique_name('bench')}"
    probe_tag = f"{tag}-rebuild"
    with tempfile.TemporaryDirectory(prefix="container-figures-") as tmp:
        workdir = Path(tmp)
        try:
            build_seconds = build(engine, REPO_ROOT, tag, base, workdir / "build.log")
            size = engine.image_size(tag)
            base_ref = base or "docker.io/library/python:3.11-slim-bookworm"
            base_size = engine.image_size(base_ref)
            sizes = engine.run_once(tag, ["--entrypoint", "python"], ["-c", PACKAGE_SIZES])
            packages = json.loads(sizes.stdout)

            keys = workdir / "keys"
            script = Path(sys.executable).with_name("orders-app")
            command = [str(script), "keys", "init", str(keys)]
            subprocess.run(command, check=True, capture_output=True)  # noqa: S603 (our own CLI)
            (keys / "public_key.pem").chmod(0o644)
            ready, floor = app_and_floor(engine, tag, keys / "public_key.pem", args.runs)
            rebuild = rebuild_after_code_change(engine, probe_tag, base, workdir)
        finally:
            engine.remove_image(tag)
            engine.remove_image(probe_tag)

    print(f"engine:                {args.engine} ({engine.binary})")
    print(f"base image:            {base_ref}  {mb(base_size)}")
    print(f"image:                 {mb(size)}  (+{mb(size - base_size)} over the base; target <= 90 MB)")
    print(f"build (this run):      {build_seconds:.1f} s  (layer cache as found)")
    print("largest installed packages (venv, bytecode included):")
    for name, nbytes in packages[:10]:
        print(f"  {name:<24} {mb(nbytes):>9}")
    print(f"  {'all ' + str(len(packages)):<24} {mb(sum(n for _, n in packages)):>9}")
    print(f"run -> first 200 from /health/ready, {len(ready)} runs each, app and floor alternating:")
    print(f"  app                  {spread(ready)}  (target <= 1.0 s median)")
    print(f"  floor                {spread(floor)}  (same image and probe, a stdlib HTTP server)")
    added = statistics.median(a - f for a, f in zip(ready, floor, strict=True))
    print(f"  app over the floor   median {added:.2f} s  (of the pairs run back to back)")
    print(f"rebuild after a one-line code change: {rebuild:.1f} s  (target < 10 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
