"""Facts about the source tree: name, version and revision, and the labels and tags made from them."""

# Reads git with arguments built here.
# ruff: noqa: S603, S607

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import subprocess
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

from tools.publish.commands import PublishError, Result
from tools.publish.target import validate_tag

# Build arguments the Containerfile turns into OCI labels; set here, so refused as --build-arg.
LABEL_ARGS = ("VERSION", "REVISION", "SOURCE", "CREATED")


@dataclasses.dataclass(frozen=True)
class Source:
    name: str  # project name from pyproject.toml
    version: str  # project version from pyproject.toml
    revision: str  # full commit id, "-dirty" appended when the tree has changes
    short: str  # short commit id (the revision tag)
    dirty: bool
    url: str  # where the source lives, for org.opencontainers.image.source ("" if unknown)


def git(project: Path, *args: str) -> str:
    try:
        proc = subprocess.run(["git", "-C", str(project), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise PublishError("'git' not found: install git") from exc
    if proc.returncode != 0:
        raise PublishError(
            f"git {' '.join(args)} failed in {project}: "
            f"{Result(proc.returncode, proc.stdout, proc.stderr).detail}"
        )
    return proc.stdout.strip()


def public_url(url: str) -> str:
    """A browsable https URL for a git remote, without credentials; "" for local paths."""
    url = url.strip()
    if m := re.fullmatch(r"(?:ssh://)?git@([^:/]+)[:/](.+?)(?:\.git)?/?", url):
        return f"https://{m[1]}/{m[2]}"
    if m := re.fullmatch(r"https?://(?:[^@/]*@)?([^/]+)/(.+?)(?:\.git)?/?", url):
        return f"https://{m[1]}/{m[2]}"
    return ""


def read_source(project: Path, source_url: str | None) -> Source:
    try:
        meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
        name, version = meta["name"], meta["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise PublishError(
            f"cannot read [project] name and version from {project / 'pyproject.toml'}: {exc}"
        ) from exc
    full = git(project, "rev-parse", "--verify", "HEAD")
    short = git(project, "rev-parse", "--short", "HEAD")
    # Untracked files count: the build context would include them.
    dirty = bool(git(project, "status", "--porcelain"))
    if source_url is None:
        urls = {k.lower(): v for k, v in meta.get("urls", {}).items()}
        source_url = urls.get("source") or urls.get("repository") or ""
        if not source_url:
            remote = subprocess.run(
                ["git", "-C", str(project), "remote", "get-url", "origin"],
                capture_output=True,
                text=True,
                check=False,
            )
            source_url = public_url(remote.stdout) if remote.returncode == 0 else ""
    return Source(
        name=name,
        version=version,
        revision=full + ("-dirty" if dirty else ""),
        short=short,
        dirty=dirty,
        url=source_url,
    )


def created_timestamp(environ: Mapping[str, str]) -> str:
    # SOURCE_DATE_EPOCH is the reproducible-builds convention for pinning build timestamps.
    epoch = environ.get("SOURCE_DATE_EPOCH")
    when = (
        dt.datetime.fromtimestamp(int(epoch), dt.UTC)
        if epoch
        else dt.datetime.now(dt.UTC).replace(microsecond=0)
    )
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def compute_tags(source: Source, *, latest: bool) -> list[str]:
    """Version first: the tag checked for overwrites and the one the digest is reported for."""
    tags = [source.version, source.short + ("-dirty" if source.dirty else "")]
    if latest:
        tags.append("latest")
    validate_tag(source.version, "version")
    return list(dict.fromkeys(tags))


def label_build_args(source: Source, created: str) -> list[str]:
    args = [f"VERSION={source.version}", f"REVISION={source.revision}"]
    # Unknown source: leave the Containerfile's default rather than blank the label.
    if source.url:
        args.append(f"SOURCE={source.url}")
    return [*args, f"CREATED={created}"]


def check_passthrough(build_args: Sequence[str]) -> None:
    for arg in build_args:
        key = arg.partition("=")[0]
        if key in LABEL_ARGS:
            raise PublishError(
                f"--build-arg {key} is set by publish itself (from pyproject.toml "
                "and git); use --source for SOURCE"
            )
