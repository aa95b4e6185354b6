"""scripts/publish against real local registries (Debian's docker-registry on 127.0.0.1), with
docker and podman: publish the project's image, drop it locally, pull it back by tag and by digest,
run it, and ask it for /health/live. The ECR path runs against moto for the AWS API, the push
going to a local registry that only accepts the token moto hands out."""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.publish.publish_support import (
    EngineUnderTest,
    Moto,
    Project,
    Registry,
    clean_env,
    free_port,
    run_publish,
    run_registry,
)
from tests.publish.sbom_check import canonical, differences, kinds, python_packages, spdx_packages

pytestmark = [pytest.mark.publish, pytest.mark.timeout(900)]

SOURCE_URL = "https://example.org/coffeemesh/orders-app"
EPOCH = "1767225600"  # 2026-01-01T00:00:00Z
# The app's HTTP port inside the image, and where the image expects the JWT public key.
APP_PORT = 8080
KEY_MOUNT = "/run/secrets/jwt_public_key.pem"


@pytest.fixture
def local_image(engine: EngineUnderTest) -> Iterator[str]:
    """A private local name for the build, so tests never touch orders-app:local."""
    name = f"localhost/orders-app-publish-test:{secrets.token_hex(4)}"
    yield name
    engine("rmi", "-f", name, check=False)


@pytest.fixture
def tiny_image(engine: EngineUnderTest, tmp_path: Path) -> Iterator[str]:
    """A few-byte image for tests about the registry side (ECR, refusals), where pushing the
    app's 265 MB again would only cost time."""
    context = tmp_path / "tiny"
    context.mkdir()
    (context / "hello.txt").write_text("hello\n")
    (context / "Containerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
    name = f"localhost/orders-publish-tiny:{secrets.token_hex(4)}"
    engine("build", "-q", "-f", str(context / "Containerfile"), "-t", name, str(context))
    yield name
    engine("rmi", "-f", name, check=False)


def remove_images(engine: EngineUnderTest, *refs: str) -> None:
    for ref in refs:
        engine("rmi", "-f", ref, check=False)


def pull(engine: EngineUnderTest, ref: str) -> None:
    tls = ["--tls-verify=false"] if engine.kind == "podman" else []
    result = engine("pull", "-q", *tls, ref, check=False)
    assert result.returncode == 0, f"pull {ref}: {result.stderr}"


def one_error_line(result: object) -> str:
    stderr = result.stderr  # type: ignore[attr-defined]
    errors = [line for line in stderr.splitlines() if line.startswith("publish: error: ")]
    assert result.returncode == 1, stderr  # type: ignore[attr-defined]
    assert len(errors) == 1, stderr
    return errors[0]


def public_key_file(directory: Path) -> Path:
    """A PEM public key for the image's JWT_PUBLIC_KEY_FILE: without one the app refuses to start."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = directory / "jwt_public_key.pem"
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    path.chmod(0o644)  # read by the image's non-root user
    return path


def probe_live(engine: EngineUnderTest, image: str, keys_dir: Path) -> None:
    """Run the pulled image on a 127.0.0.1 port and expect 200 from /health/live."""
    name = f"orders-publish-test-{secrets.token_hex(4)}"
    port = free_port()
    key = public_key_file(keys_dir)
    result = engine(
        "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:{APP_PORT}",
        "-v", f"{key}:{KEY_MOUNT}:ro", image,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    try:
        deadline = time.monotonic() + 90
        last: object = None
        while time.monotonic() < deadline:
            try:
                url = f"http://127.0.0.1:{port}/health/live"
                with urllib.request.urlopen(url, timeout=3) as resp:
                    assert resp.status == 200
                    assert json.load(resp) == {"status": "ok"}
                    return
            except (OSError, urllib.error.URLError) as exc:
                last = exc
                time.sleep(0.5)
        logs = engine("logs", name, check=False)
        pytest.fail(f"/health/live never answered 200 ({last}); logs:\n{logs.stdout}{logs.stderr}")
    finally:
        # -v: also the anonymous volume the image declares for its data directory.
        engine("rm", "-f", "-v", name, check=False)


def image_distributions(engine: EngineUnderTest, image: str) -> dict[str, str]:
    """The Python distributions the image itself holds, as its own interpreter lists them."""
    code = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    result = engine("run", "--rm", "--entrypoint", "python", image, "-c", code, check=False)
    assert result.returncode == 0, result.stderr
    return {canonical(name): version for name, version in json.loads(result.stdout).items()}


def check_sbom(stderr: str, project: Project, repo: str, pinned: str) -> Path:
    """The SBOM publish wrote for this image: where it said, SPDX JSON, named after the repository."""
    path = project.path / "dist" / "sbom" / f"{project.name}-{project.version}.spdx.json"
    packages = spdx_packages(path)
    assert f"SBOM of {pinned} (SPDX JSON, {len(packages)} packages): {path}" in stderr
    assert json.loads(path.read_text())["name"] == repo
    # The base image's Debian packages are there too, not only the venv.
    assert kinds(packages)["deb"] > 50, kinds(packages)
    return path


@pytest.mark.parametrize("protected", [False, True], ids=["open", "htpasswd"])
def test_publish_pull_by_tag_and_digest_and_run(
    request: pytest.FixtureRequest,
    engine: EngineUnderTest,
    base_image: list[str],
    project: Project,
    local_image: str,
    protected: bool,
    tmp_path: Path,
) -> None:
    registry: Registry = request.getfixturevalue("auth_registry" if protected else "open_registry")
    path = f"coffeemesh/{project.name}"
    repo = f"{registry.host}/{path}"
    tags = [project.version, project.short, "latest"]
    args = [
        "--registry",
        f"{registry.host}/coffeemesh",
        "--image",
        local_image,
        "--source",
        SOURCE_URL,
        *base_image,
    ]
    env = clean_env(**engine.env, SOURCE_DATE_EPOCH=EPOCH)
    pinned = ""
    try:
        if protected:
            # The engine has no login for this registry yet: the first registry call says so.
            denied = run_publish(project, *args, env=env)
            assert f"not logged in to {registry.host}" in one_error_line(denied)
            assert registry.tags_or_none(path) is None
            env |= {
                "PUBLISH_USERNAME": str(registry.username),
                "PUBLISH_PASSWORD": str(registry.password),
            }

        result = run_publish(project, *args, env=env)
        assert result.returncode == 0, result.stderr
        pinned = result.stdout.strip()
        assert pinned.startswith(f"{repo}@sha256:"), result.stdout
        digest = pinned.partition("@")[2]
        sbom = check_sbom(result.stderr, project, repo, pinned)

        # The registry's own view: exactly the three tags, all on the pushed manifest.
        assert registry.tags(path) == sorted(tags)
        assert {registry.digest(path, tag) for tag in tags} == {digest}

        # Nothing left locally; both pulls must come from the registry.
        remove_images(engine, local_image, *(f"{repo}:{tag}" for tag in tags))
        assert engine("image", "inspect", f"{repo}:{project.version}", check=False).returncode != 0
        # By digest first: that pull downloads every layer. By tag next: the registry resolves the tag
        # to a manifest, whose layers are then already here, so it must name the same image.
        pull(engine, pinned)
        pull(engine, f"{repo}:{project.version}")
        image_ids = {
            engine("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()
            for ref in (pinned, f"{repo}:{project.version}")
        }
        assert len(image_ids) == 1, image_ids

        labels = json.loads(engine("image", "inspect", "--format", "{{json .Config.Labels}}", pinned).stdout)
        assert labels["org.opencontainers.image.version"] == project.version
        assert labels["org.opencontainers.image.revision"] == project.revision
        assert labels["org.opencontainers.image.source"] == SOURCE_URL
        assert labels["org.opencontainers.image.created"] == "2026-01-01T00:00:00Z"

        probe_live(engine, pinned, tmp_path)
        # The SBOM names exactly the Python distributions of the image that was pulled back, by version.
        assert differences(python_packages(spdx_packages(sbom)), image_distributions(engine, pinned)) == []

        # Same version again: refused before anything is built or pushed.
        again = run_publish(project, *args, env=env)
        line = one_error_line(again)
        assert f"{repo}:{project.version} already exists" in line
        assert "--overwrite" in line
        assert {registry.digest(path, tag) for tag in tags} == {digest}
    finally:
        remove_images(engine, *([pinned] if pinned else []), *(f"{repo}:{t}" for t in tags))


def test_a_read_only_registry_refuses_the_push(
    engine: EngineUnderTest, project: Project, tiny_image: str, tmp_path: Path
) -> None:
    with run_registry(tmp_path / "readonly", readonly=True) as registry:
        repo = f"{registry.host}/coffeemesh/{project.name}"
        args = ["--registry", f"{registry.host}/coffeemesh", "--image", tiny_image, "--no-build"]
        result = run_publish(project, *args, env=clean_env(**engine.env))
        line = one_error_line(result)
        assert line.startswith(
            f"publish: error: registry {registry.host} refused {repo}:{project.version}: "
        ), line
        remove_images(engine, *(f"{repo}:{t}" for t in (project.version, project.short, "latest")))


# --------------------------------------------------------------------------------------------------
# ECR: moto serves the AWS API; the push goes to a local registry that only accepts moto's token.


def ecr_password(moto: Moto) -> str:
    data = moto.ecr().get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    assert user == "AWS"
    return password


def describe(moto: Moto, name: str) -> dict | None:  # type: ignore[type-arg]
    repos = moto.ecr().describe_repositories()["repositories"]
    return next((r for r in repos if r["repositoryName"] == name), None)


def test_ecr_creates_the_repository_logs_in_with_the_token_and_pushes(
    engine: EngineUnderTest, project: Project, tiny_image: str, moto: Moto, tmp_path: Path
) -> None:
    with run_registry(tmp_path / "ecr", auth=("AWS", ecr_password(moto))) as registry:
        env = clean_env(**engine.env, **moto.env, ECR_REGISTRY_HOST=registry.host)
        assert describe(moto, "coffeemesh/orders-new") is None

        result = run_publish(
            project,
            "--registry",
            "ecr",
            "--repository",
            "coffeemesh/orders-new",
            "--image",
            tiny_image,
            "--no-build",
            "--no-latest",
            env=env,
        )
        assert result.returncode == 0, result.stderr
        assert "creating ECR repository coffeemesh/orders-new" in result.stderr
        created = describe(moto, "coffeemesh/orders-new")
        assert created is not None
        assert created["imageScanningConfiguration"] == {"scanOnPush": True}
        digest = result.stdout.strip().partition("@")[2]
        assert registry.digest("coffeemesh/orders-new", project.version) == digest
        assert registry.tags("coffeemesh/orders-new") == sorted([project.version, project.short])
        # The engine's login went to the overridden host, in this test's own auth file.
        auth_file = Path(engine.env["REGISTRY_AUTH_FILE" if engine.kind == "podman" else "DOCKER_CONFIG"])
        auths = json.loads((auth_file if engine.kind == "podman" else auth_file / "config.json").read_text())
        assert registry.host in auths["auths"]

        # An existing repository (set up by someone else, differently) is left exactly as it is.
        moto.ecr().create_repository(repositoryName="coffeemesh/orders-kept", imageTagMutability="IMMUTABLE")
        before = describe(moto, "coffeemesh/orders-kept")
        result = run_publish(
            project,
            "--registry",
            "ecr",
            "--repository",
            "coffeemesh/orders-kept",
            "--image",
            tiny_image,
            "--no-build",
            env=env,
        )
        assert result.returncode == 0, result.stderr
        assert "ECR repository coffeemesh/orders-kept exists" in result.stderr
        assert "creating" not in result.stderr
        assert describe(moto, "coffeemesh/orders-kept") == before
        remove_images(
            engine,
            *(
                f"{registry.host}/{name}:{tag}"
                for name in ("coffeemesh/orders-new", "coffeemesh/orders-kept")
                for tag in (project.version, project.short, "latest")
            ),
        )


def test_ecr_login_fails_cleanly_when_the_registry_rejects_the_token(
    engine: EngineUnderTest, project: Project, moto: Moto, tmp_path: Path
) -> None:
    # A registry that wants another password: proves the script's login really carries the token.
    with run_registry(tmp_path / "ecr", auth=("AWS", "not-the-token")) as registry:
        env = clean_env(**engine.env, **moto.env, ECR_REGISTRY_HOST=registry.host)
        result = run_publish(project, "--registry", "ecr", "--no-build", env=env)
        assert f"publish: error: not logged in to {registry.host} (" in one_error_line(result)
        assert describe(moto, project.name) is None  # failed before touching the repository
