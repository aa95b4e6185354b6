"""Base images are pinned by digest as well as tag (the tag for readers, the digest for the engine): the
Containerfile's ARG default behind every FROM, the defaults of compose.yaml and compose.lb.yaml, and
.env.example, whose values a copy to .env would put in their place. Static: no engine, no registry
(docs/supply-chain.md says how to bump them).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
# registry/repository:tag@sha256:<64 hex>, the tag and the digest both required.
PINNED = re.compile(
    r"(?:[a-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._/-][a-z0-9]+)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
    r"@sha256:[0-9a-f]{64}"
)
# ${NAME:-default} in compose.yaml: the default is what runs when the variable is unset.
DEFAULTED = re.compile(r"\$\{(?P<name>[A-Z_]+):-(?P<default>[^}]+)\}")


def is_pinned(reference: str) -> bool:
    return PINNED.fullmatch(reference) is not None


@pytest.mark.parametrize(
    ("reference", "pinned"),
    [
        ("docker.io/library/python:3.11-slim-bookworm@sha256:" + "a" * 64, True),
        ("postgres:15@sha256:" + "0" * 64, True),
        ("docker.io/library/python:3.11-slim-bookworm", False),
        ("docker.io/library/python@sha256:" + "a" * 64, False),  # no tag left for readers
        ("postgres:15@sha256:" + "a" * 63, False),
        ("postgres:latest@sha512:" + "a" * 64, False),
    ],
)
def test_what_counts_as_pinned(reference: str, pinned: bool) -> None:
    assert is_pinned(reference) is pinned


def containerfile_bases() -> dict[str, str]:
    """Each FROM's image, with a build argument replaced by its default ("FROM line" -> reference)."""
    defaults: dict[str, str] = {}
    stages: set[str] = set()
    bases: dict[str, str] = {}
    for line in (REPO_ROOT / "Containerfile").read_text().splitlines():
        words = line.split()
        if words[:1] == ["ARG"] and "=" in words[1]:
            name, _, value = words[1].partition("=")
            defaults.setdefault(name, value)
        elif words[:1] == ["FROM"]:
            image = words[1]
            if image not in stages:  # an earlier stage is no image
                argument = re.fullmatch(r"\$\{([A-Z_]+)\}", image)
                bases[line] = defaults.get(argument[1], "") if argument else image
            if len(words) >= 4 and words[2].upper() == "AS":
                stages.add(words[3])
    return bases


def test_every_containerfile_base_is_pinned() -> None:
    bases = containerfile_bases()
    assert bases, "no FROM naming an image"
    for line, reference in bases.items():
        assert is_pinned(reference), f"{line!r} builds on {reference!r}, not pinned by tag and digest"


# compose.yaml and the files layered on it (compose.lb.yaml: HAProxy in front of the api replicas).
COMPOSE_FILES = ("compose.yaml", "compose.lb.yaml")


def compose_defaults() -> dict[str, str]:
    """Every image the compose files pull, or build on, as `where -> default reference`."""
    services = {}
    for compose_file in COMPOSE_FILES:
        services.update(yaml.safe_load((REPO_ROOT / compose_file).read_text())["services"])
    found = {}
    for name, service in services.items():
        build = service.get("build")
        if build is None:  # a pulled image
            found[f"services.{name}.image"] = service["image"]
        else:  # a built one: what it is built on
            for argument, value in (build.get("args") or {}).items():
                if argument.endswith("_IMAGE"):
                    found[f"services.{name}.build.args.{argument}"] = value
    resolved = {}
    for where, value in found.items():
        match = DEFAULTED.fullmatch(value)
        resolved[where] = match["default"] if match else value
    return resolved


def test_every_compose_image_is_pinned_and_the_python_base_matches_the_containerfile() -> None:
    defaults = compose_defaults()
    assert {"services.db.image", "services.lb.image"} <= set(defaults)
    for where, reference in defaults.items():
        assert is_pinned(reference), f"{where} defaults to {reference!r}, not pinned by tag and digest"
    python_bases = {ref for where, ref in defaults.items() if where.endswith("PYTHON_IMAGE")}
    assert python_bases == set(containerfile_bases().values())


def test_env_example_carries_the_same_pins() -> None:
    # `cp .env.example .env` must not swap a pinned default for a moving tag.
    values = dict(
        line.split("=", 1)
        for line in (REPO_ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#") and "=" in line
    )
    compose = "".join((REPO_ROOT / compose_file).read_text() for compose_file in COMPOSE_FILES)
    for name in ("POSTGRES_IMAGE", "ORDERS_PYTHON_BASE_IMAGE", "HAPROXY_IMAGE"):
        assert is_pinned(values[name]), f".env.example {name}={values[name]}"
        assert f"${{{name}:-{values[name]}}}" in compose, f"the compose files' default for {name} differs"
