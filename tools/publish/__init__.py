"""Builds the service image and publishes it to AWS ECR, Azure ACR or any OCI registry (scripts/publish).

Standard library only, so that scripts/publish runs on any Python >= 3.11 without the project's venv.
Modules: cli (options), procedure (the steps, in order), runner (running or, for --dry-run, printing
them), commands, failures (reading what a failed command said), engines (docker, podman), target
(naming rules), ecr, acr and oci (one per registry kind), source (git and pyproject.toml), sbom (Syft).
"""

from tools.publish.commands import Cmd, PublishError, Result
from tools.publish.ecr import ecr_host
from tools.publish.engines import Engine, detect_engine, tag_in_listing
from tools.publish.failures import is_auth_failure, is_missing
from tools.publish.procedure import Options, Publisher, parse_registry
from tools.publish.runner import LocalRunner, PrintingRunner, Runner
from tools.publish.sbom import find_syft
from tools.publish.source import (
    Source,
    check_passthrough,
    compute_tags,
    created_timestamp,
    label_build_args,
    public_url,
)
from tools.publish.target import is_loopback, validate_repository

__all__ = [
    "Cmd",
    "Engine",
    "LocalRunner",
    "Options",
    "PrintingRunner",
    "PublishError",
    "Publisher",
    "Result",
    "Runner",
    "Source",
    "check_passthrough",
    "compute_tags",
    "created_timestamp",
    "detect_engine",
    "ecr_host",
    "find_syft",
    "is_auth_failure",
    "is_loopback",
    "is_missing",
    "label_build_args",
    "parse_registry",
    "public_url",
    "tag_in_listing",
    "validate_repository",
]
