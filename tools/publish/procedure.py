"""The publishing procedure: check, log in, build, SBOM, push, in that order, through one Runner."""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from tools.publish import acr, ecr, oci
from tools.publish.commands import SYFT_HINT, Cmd, PublishError, Result
from tools.publish.engines import Engine, detect_engine
from tools.publish.failures import classify, not_logged_in
from tools.publish.runner import Runner
from tools.publish.sbom import PLACEHOLDER_SPDX, default_sbom_path, find_syft, sbom_package_count, syft_scan
from tools.publish.source import (
    Source,
    check_passthrough,
    compute_tags,
    created_timestamp,
    label_build_args,
    read_source,
)
from tools.publish.target import Target, is_loopback, validate_repository

LOGIN_HINTS = {"ecr": ecr.LOGIN_HINT, "acr": acr.LOGIN_HINT, "generic": oci.LOGIN_HINT}


def parse_registry(spec: str, *, acr_host: str | None = None) -> Target:
    """`ecr`, `acr:NAME` or `host[:port][/namespace]`. The ECR host is resolved later (via AWS)."""
    if spec == "ecr":
        return Target("ecr", host="", namespace="")
    if spec.startswith("acr:"):
        return acr.parse(spec, host=acr_host)
    return oci.parse(spec)


@dataclasses.dataclass
class Options:
    registry: str
    project: Path
    repository: str | None = None
    engine: str | None = None
    latest: bool = True
    allow_dirty: bool = False
    overwrite: bool = False
    build: bool = True
    image: str = "orders-app:local"
    file: Path | None = None
    context: Path | None = None
    build_args: list[str] = dataclasses.field(default_factory=list)
    source_url: str | None = None
    aws_region: str | None = None
    aws_account: str | None = None
    ecr_host: str | None = None
    acr_host: str | None = None
    test_endpoint: bool = False
    username: str | None = None
    password_stdin: bool = False
    insecure: bool | None = None
    print_compose: bool = False
    dry_run: bool = False
    sbom: bool = True
    sbom_path: Path | None = None


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a run will publish and with what, settled before the registry is touched."""

    source: Source
    target: Target  # with its host resolved
    repo_path: str  # the repository inside the registry
    repo: str  # HOST/PATH
    refs: list[str]  # REPO:TAG, the version's first
    engine: Engine
    syft: str | None  # None with --no-sbom
    insecure: bool


class Publisher:
    def __init__(
        self,
        opts: Options,
        runner: Runner,
        *,
        environ: Mapping[str, str],
        stdin: Callable[[], str] = lambda: sys.stdin.read(),
    ) -> None:
        self.o, self.runner, self.env, self.read_stdin = opts, runner, environ, stdin

    @functools.cached_property
    def aws_ecr(self) -> ecr.Ecr:
        o = self.o
        return ecr.Ecr(self.runner, self.env, o.aws_region, o.aws_account, o.ecr_host, o.test_endpoint)

    def must(self, cmd: Cmd, what: str) -> Result:
        result = self.runner.run(cmd)
        if failure := classify(result):
            raise PublishError(f"{what} failed: {failure.detail}")
        return result

    def run(self) -> str:
        """Publishes; returns the pushed image's reference (REPOSITORY@DIGEST, or compose's image line)."""
        plan = self.plan()
        self.login(plan)
        if plan.target.kind == "ecr":
            self.aws_ecr.ensure_repository(plan.repo_path)
        if not self.o.overwrite:
            self.refuse_existing(plan)
        self.build(plan)
        for ref in plan.refs:
            self.must(plan.engine.tag(self.o.image, ref), f"tagging {ref}")
        # Before the push: without an SBOM nothing is published (unless --no-sbom).
        sbom = self.write_sbom(plan, plan.syft) if plan.syft else None
        digests = [self.push(plan, ref) for ref in plan.refs]
        if len(set(digests)) != 1:
            raise PublishError(
                "the pushed tags ended up with different digests: "
                + ", ".join(f"{r}={d}" for r, d in zip(plan.refs, digests, strict=True))
            )
        pinned = f"{plan.repo}@{digests[0]}"
        if sbom is not None:
            path, count = sbom
            self.runner.log(f"SBOM of {pinned} (SPDX JSON, {count} packages): {path}")
        return f"image: {pinned}" if self.o.print_compose else pinned

    def plan(self) -> Plan:
        """Every check that needs no registry, in the order that fails fastest."""
        o = self.o
        check_passthrough(o.build_args)
        source = read_source(o.project, o.source_url)
        if source.dirty and not o.allow_dirty:
            raise PublishError(
                f"the working tree has uncommitted changes: refusing to publish "
                f"version {source.version} (commit first, or --allow-dirty)"
            )
        tags = compute_tags(source, latest=o.latest)
        target = parse_registry(o.registry)
        # Host overrides are checked before any command runs, whichever provider is chosen.
        if target.kind == "acr":
            acr_host = acr.host_override(o.acr_host, self.env, test_endpoint=o.test_endpoint)
            target = parse_registry(o.registry, acr_host=acr_host)
        elif target.kind == "ecr":
            self.aws_ecr.host_override()
        repo_path = target.path(o.repository or source.name)
        validate_repository(repo_path)
        if target.kind == "ecr":
            ecr.check_repository(repo_path)
        engine = detect_engine(o.engine or self.env.get("CONTAINER_ENGINE"), self.runner)
        syft = self.require_syft()
        if target.kind == "ecr":
            target = self.aws_ecr.resolve(target)
        repo = target.repository(o.repository or source.name)
        insecure = o.insecure if o.insecure is not None else is_loopback(target.host)
        if insecure and engine.kind == "docker" and not is_loopback(target.host):
            self.runner.note(
                f"docker's daemon decides about plain HTTP: {target.host} must be listed "
                "in its insecure-registries"
            )
        refs = [f"{repo}:{tag}" for tag in tags]
        return Plan(source, target, repo_path, repo, refs, engine, syft, insecure)

    def require_syft(self) -> str | None:
        """The Syft to run, checked before anything else happens; None with --no-sbom."""
        if not self.o.sbom:
            return None
        return find_syft(self.o.project) or self.runner.missing("syft", f"'syft' not found: {SYFT_HINT}")

    # -- Login

    def credentials(self) -> oci.Credentials | None:
        username = self.o.username or self.env.get("PUBLISH_USERNAME")
        if not username:
            return None
        label = None if self.o.password_stdin else "printf '%s\\n' \"$PUBLISH_PASSWORD\""
        return oci.Credentials(username, label, self.password)

    def password(self) -> str:
        if self.o.password_stdin:
            secret = self.read_stdin().rstrip("\r\n")
        else:
            secret = self.env.get("PUBLISH_PASSWORD", "")
        if not secret:
            raise PublishError(
                "a username is set but no password: set PUBLISH_PASSWORD or pipe it with --password-stdin"
            )
        return secret + "\n"

    def login(self, plan: Plan) -> None:
        engine, target, insecure = plan.engine, plan.target, plan.insecure
        credentials = self.credentials()
        stdin_data: str | None = None
        if target.kind == "ecr":
            cmd = self.aws_ecr.login(engine, target, insecure=insecure)
        elif credentials:
            cmd, stdin_data = oci.password_login(
                engine, target.host, credentials, insecure=insecure, runner=self.runner
            )
        elif target.kind == "acr":
            cmd = acr.token_login(engine, target, insecure=insecure)
        else:
            self.runner.note(f"using the existing {engine.kind} login for {target.host}, if any")
            return
        self.runner.log(f"logging in to {target.host}")
        failure = classify(self.runner.run(cmd, stdin_data=stdin_data))
        if failure is None:
            return
        if failure.upstream:
            # The token command failed, not the login: its own words.
            raise self.not_logged_in(target, f"{failure.upstream}: {failure.detail}")
        if failure.unauthorized or failure.login_rejected:
            raise self.not_logged_in(target, failure.detail)
        raise PublishError(f"login to {target.host} failed: {failure.detail}")

    def not_logged_in(self, target: Target, detail: str) -> PublishError:
        return not_logged_in(target.host, detail, LOGIN_HINTS[target.kind])

    # -- Registry checks, SBOM and push

    def refuse_existing(self, plan: Plan) -> None:
        repo, version = plan.repo, plan.source.version
        self.runner.explain(f"refuse to continue if {repo}:{version} already exists:")
        result = self.runner.run(plan.engine.remote_tag_query(repo, version, insecure=plan.insecure))
        if failure := classify(result):
            if failure.unauthorized:
                raise self.not_logged_in(plan.target, failure.detail)
            if not failure.missing:
                raise PublishError(f"cannot check {repo}:{version} in the registry: {failure.detail}")
        if plan.engine.tag_exists(result, version):
            raise PublishError(
                f"{repo}:{version} already exists in the registry: bump the version "
                "in pyproject.toml, or pass --overwrite"
            )

    def build(self, plan: Plan) -> None:
        """Builds the image with its labels, or with --no-build makes sure it exists."""
        o, source = self.o, plan.source
        if not o.build:
            if not self.runner.probe(plan.engine.image_exists(o.image)).ok:
                raise PublishError(
                    f"--no-build: there is no local image {o.image} (build it first, or name it with --image)"
                )
            return
        context = o.context or o.project
        file = o.file or context / "Containerfile"
        self.runner.note(f"build {o.image} with OCI labels for {source.version} ({source.revision})")
        build_args = [*label_build_args(source, created_timestamp(self.env)), *o.build_args]
        build = plan.engine.build(file=file, context=context, tag=o.image, build_args=build_args)
        result = self.runner.run(build, stream=True)
        if not result.ok:
            raise PublishError(
                f"image build failed (exit status {result.returncode}): see the build output above"
            )

    def write_sbom(self, plan: Plan, syft: str) -> tuple[Path, int]:
        """Where the SBOM went, and how many packages it lists."""
        image, version = self.o.image, plan.source.version
        path = self.o.sbom_path or default_sbom_path(self.o.project, plan.repo_path, version)
        self.runner.note(f"SBOM of {image} (SPDX JSON) to {path}:")
        with self.runner.scratch("publish-sbom-") as tmp:
            archive = f"{tmp}/image.tar"
            self.must(plan.engine.save(image, archive), f"saving {image} for its SBOM")
            self.must(syft_scan(syft, archive, name=plan.repo, version=version, out=path), "syft (the SBOM)")
        count = sbom_package_count(path, lambda written: self.runner.read_written(written, PLACEHOLDER_SPDX))
        return path, count

    def push(self, plan: Plan, ref: str) -> str:
        """Pushes one tag; returns the digest the registry stored it under."""
        engine, host = plan.engine, plan.target.host
        with self.runner.scratch("publish-") as tmp:
            digestfile = f"{tmp}/digest"
            self.runner.log(f"pushing {ref}")
            result = self.runner.run(engine.push(ref, insecure=plan.insecure, digestfile=digestfile))
            if failure := classify(result):
                if failure.unauthorized:
                    raise self.not_logged_in(plan.target, failure.detail)
                if failure.invalid_name:
                    raise PublishError(f"invalid repository name in {ref}: {failure.detail}")
                raise PublishError(f"registry {host} refused {ref}: {failure.detail}")
            digest = engine.pushed_digest(result, digestfile, self.runner)
            if digest is None:
                raise PublishError(f"pushed {ref}, but docker printed no digest")
        self.runner.log(f"pushed {ref} {digest}")
        return digest
