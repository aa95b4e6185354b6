"""The command line: options and variables into Options, and every failure as one line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tools.publish.commands import PublishError
from tools.publish.procedure import Options, Publisher
from tools.publish.runner import LocalRunner, PrintingRunner, Runner

DESCRIPTION = "Build the service image and publish it to AWS ECR, Azure ACR or any OCI registry."


def parse_args(argv: Sequence[str], environ: Mapping[str, str], project: Path) -> Options:
    p = argparse.ArgumentParser(
        prog="publish",
        description=DESCRIPTION,
        epilog="Environment: CONTAINER_ENGINE, PUBLISH_REGISTRY, PUBLISH_USERNAME, "
        "PUBLISH_PASSWORD, PUBLISH_INSECURE, ECR_REGISTRY_HOST, ACR_REGISTRY_HOST, "
        "AWS_* (as the AWS CLI, "
        "including AWS_ENDPOINT_URL), SOURCE_DATE_EPOCH. See docs/publishing.md.",
    )
    p.add_argument(
        "--registry",
        default=environ.get("PUBLISH_REGISTRY"),
        help="ecr, acr:NAME, or HOST[:PORT][/NAMESPACE] (default: $PUBLISH_REGISTRY)",
    )
    p.add_argument(
        "--repository",
        metavar="NAME",
        help="repository name under the registry/namespace (default: the project name)",
    )
    p.add_argument(
        "--engine",
        help="docker or podman, or a path to one (default: $CONTAINER_ENGINE, "
        "else docker if its daemon answers, else podman)",
    )
    p.add_argument("--no-latest", dest="latest", action="store_false", help="do not move `latest`")
    p.add_argument(
        "--allow-dirty",
        action="store_true",
        help="publish from a tree with uncommitted changes (revision gets -dirty)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing version tag")
    p.add_argument("--force", action="store_true", help="both --allow-dirty and --overwrite")
    p.add_argument(
        "--no-build",
        dest="build",
        action="store_false",
        help="publish an existing local image (see --image) instead of building",
    )
    p.add_argument(
        "--image",
        default="orders-app:local",
        help="local image name to build or publish (default: %(default)s, as compose)",
    )
    p.add_argument("--file", type=Path, help="Containerfile (default: CONTEXT/Containerfile)")
    p.add_argument("--context", type=Path, help="build context (default: the project directory)")
    p.add_argument(
        "--build-arg",
        dest="build_args",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra build argument, e.g. a base image (repeatable)",
    )
    p.add_argument(
        "--source",
        dest="source_url",
        metavar="URL",
        help="source URL label (default: [project.urls] Source, else the origin remote)",
    )
    p.add_argument(
        "--aws-region",
        help="ECR region (default: AWS_REGION, AWS_DEFAULT_REGION, then `aws configure get region`)",
    )
    p.add_argument(
        "--aws-account",
        help="ECR account id (default: AWS_ACCOUNT_ID, then `aws sts get-caller-identity`)",
    )
    p.add_argument(
        "--ecr-host",
        help="ECR registry host (default: $ECR_REGISTRY_HOST, else ACCOUNT.dkr.ecr.REGION.amazonaws.com)",
    )
    p.add_argument("--acr-host", help="ACR registry host (default: $ACR_REGISTRY_HOST, else NAME.azurecr.io)")
    p.add_argument(
        "--test-endpoint",
        action="store_true",
        help="allow an --ecr-host/--acr-host outside the provider's domains (a test or private "
        "registry; implied for ECR by AWS_ENDPOINT_URL)",
    )
    p.add_argument(
        "--username",
        help="log in as this user before pushing (default: "
        "$PUBLISH_USERNAME); the password comes from $PUBLISH_PASSWORD "
        "or --password-stdin, never from an argument",
    )
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    tls = p.add_mutually_exclusive_group()
    tls.add_argument(
        "--insecure",
        action="store_const",
        const=True,
        dest="insecure",
        help="plain HTTP / no TLS verification (default only for loopback hosts; or PUBLISH_INSECURE=1)",
    )
    tls.add_argument(
        "--tls-verify",
        action="store_const",
        const=False,
        dest="insecure",
        help="require TLS even for a loopback host",
    )
    p.add_argument(
        "--print-compose",
        action="store_true",
        help="print `image: REPOSITORY@DIGEST` for a compose file instead of the reference",
    )
    p.add_argument(
        "--sbom",
        dest="sbom_path",
        type=Path,
        metavar="PATH",
        help="where Syft writes the image's SBOM, SPDX JSON (default: dist/sbom/NAME-VERSION.spdx.json)",
    )
    p.add_argument("--no-sbom", dest="sbom", action="store_false", help="publish without an SBOM")
    p.add_argument("--dry-run", action="store_true", help="print every command instead of running it")
    ns = p.parse_args(argv)
    if not ns.registry:
        p.error("--registry is required (or set PUBLISH_REGISTRY)")
    if ns.insecure is None and environ.get("PUBLISH_INSECURE", "") not in ("", "0", "false"):
        ns.insecure = True
    force = ns.__dict__.pop("force")
    opts = Options(**vars(ns), project=project)
    if force:
        opts.allow_dirty = opts.overwrite = True
    return opts


def main(project: Path, argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """The command line; `project` is the checkout to publish (the one the entry point lives in)."""
    environ = os.environ if environ is None else environ
    opts = parse_args(sys.argv[1:] if argv is None else argv, environ, project)

    def log(msg: str) -> None:
        print(f"publish: {msg}", file=sys.stderr, flush=True)

    runner: Runner = (
        PrintingRunner(lambda line: print(line, flush=True)) if opts.dry_run else LocalRunner(log)
    )
    try:
        result = Publisher(opts, runner, environ=environ).run()
    except PublishError as exc:
        print(f"publish: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("publish: error: interrupted", file=sys.stderr)
        return 130
    runner.report(result)
    return 0
