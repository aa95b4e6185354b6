"""docker and podman: the same verbs, a few different flags, and how to find one that works."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path

from tools.publish.commands import Cmd, PublishError, Result
from tools.publish.runner import Runner

DIGEST_RE = re.compile(r"digest: (sha256:[0-9a-f]{64})")
# What a dry run takes a push to have answered: a digest it never prints.
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64


@dataclasses.dataclass(frozen=True)
class Engine:
    path: str  # what to execute: a name on PATH or an absolute path
    kind: str  # "docker" or "podman"

    def build(self, *, file: Path, context: Path, tag: str, build_args: Sequence[str]) -> Cmd:
        argv = [self.path, "build", "--file", str(file), "--tag", tag]
        if self.kind == "podman":
            argv += ["--format", "docker"]  # OCI format would drop HEALTHCHECK from the image
        for arg in build_args:
            argv += ["--build-arg", arg]
        argv.append(str(context))
        # The Containerfile uses RUN --mount, which needs BuildKit on docker 20.10-24.
        env = {"DOCKER_BUILDKIT": "1"} if self.kind == "docker" else {}
        return Cmd(tuple(argv), env=env)

    def tag(self, source: str, target: str) -> Cmd:
        return Cmd((self.path, "tag", source, target))

    def image_exists(self, image: str) -> Cmd:
        return Cmd((self.path, "image", "inspect", "--format", "{{.Id}}", image))

    def save(self, image: str, archive: str) -> Cmd:
        # An archive rather than the engine's API: the same input for docker and podman (whose API
        # socket is usually not running), and nothing but the image itself is read.
        fmt = ("--format", "docker-archive") if self.kind == "podman" else ()
        return Cmd((self.path, "save", *fmt, "--output", archive, image))

    def login(
        self,
        host: str,
        username: str,
        *,
        insecure: bool,
        stdin_cmd: Cmd | None = None,
        stdin_label: str | None = None,
    ) -> Cmd:
        argv = [self.path, "login", "--username", username, "--password-stdin"]
        argv += self._tls(insecure)
        return Cmd((*argv, host), stdin_cmd=stdin_cmd, stdin_label=stdin_label)

    def push(self, ref: str, *, insecure: bool, digestfile: str) -> Cmd:
        if self.kind == "podman":
            return Cmd((self.path, "push", *self._tls(insecure), "--digestfile", digestfile, ref))
        return Cmd((self.path, "push", ref), assumed=Result(0, stdout=f"digest: {PLACEHOLDER_DIGEST}"))

    def pushed_digest(self, result: Result, digestfile: str, runner: Runner) -> str | None:
        if self.kind == "podman":
            return runner.read_written(digestfile, PLACEHOLDER_DIGEST).strip()
        found = DIGEST_RE.findall(result.stdout)
        return found[-1] if found else None

    def remote_tag_query(self, repo: str, tag: str, *, insecure: bool) -> Cmd:
        """A read-only query answering whether repo:tag exists in the registry (a dry run assumes not)."""
        if self.kind == "podman":
            # podman 4 has no remote manifest lookup with TLS control; its tag listing does.
            return Cmd((self.path, "search", "--list-tags", "--limit", "100000", *self._tls(insecure), repo))
        # Without --insecure, docker's CLI (unlike its daemon) answers "no such manifest" for an
        # existing tag on a plain-HTTP registry, which would wrongly pass the overwrite check.
        insecure_flag = ["--insecure"] if insecure else []
        return Cmd(
            (self.path, "manifest", "inspect", *insecure_flag, f"{repo}:{tag}"),
            assumed=Result(1, stderr=f"no such manifest: {repo}:{tag}"),
        )

    def tag_exists(self, result: Result, tag: str) -> bool:
        if self.kind == "podman":
            return result.ok and tag_in_listing(result.stdout, tag)
        return result.ok

    def _tls(self, insecure: bool) -> list[str]:
        # docker has no per-command switch: its daemon decides (loopback and insecure-registries).
        return ["--tls-verify=false"] if (insecure and self.kind == "podman") else []


def tag_in_listing(listing: str, tag: str) -> bool:
    # podman search --list-tags prints a NAME TAG table.
    return any(line.split()[-1:] == [tag] for line in listing.splitlines()[1:])


def engine_kind(path: str) -> str:
    name = Path(path).name
    for kind in ("podman", "docker"):
        if name.startswith(kind):
            return kind
    raise PublishError(f"unknown container engine {path!r}: expected docker or podman")


def detect_engine(requested: str | None, runner: Runner) -> Engine:
    if requested:
        kind = engine_kind(requested)
        if runner.which(requested) is None:
            raise PublishError(
                f"container engine {requested!r} not found: install {kind} "
                "or point CONTAINER_ENGINE / --engine at it"
            )
        return Engine(requested, kind)
    for name in ("docker", "podman"):
        if runner.which(name) is None:
            continue
        # A docker client without a reachable daemon is common (podman hosts, CI images).
        if name == "docker" and not runner.probe(Cmd((name, "info", "--format", "{{.ServerVersion}}"))).ok:
            continue
        return Engine(name, name)
    raise PublishError(
        "no usable container engine: install docker (with its daemon running) or "
        "podman, or set CONTAINER_ENGINE"
    )
