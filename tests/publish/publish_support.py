"""Helpers and fixtures for the publishing tests: the package behind the script, a committed copy of
the project, throwaway local registries (Debian's docker-registry), moto for the AWS API, and the
engines.

Everything started here listens on 127.0.0.1 only and is stopped by PID at teardown. Registry logins
go to a per-test DOCKER_CONFIG / REGISTRY_AUTH_FILE, never to the machine's own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIRE_ALL = os.environ.get("ORDERS_REQUIRE_ALL") == "1"


def skip_or_fail(reason: str) -> None:
    """A check that cannot run here is a skip with its reason, or a failure when CI demands all."""
    if REQUIRE_ALL:
        pytest.fail(f"ORDERS_REQUIRE_ALL=1 but: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def publish() -> ModuleType:
    """The package behind scripts/publish (tools/publish), whose names the tests reach through it."""
    import tools.publish

    return tools.publish


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 20.0, ok: tuple[int, ...] = (200, 401)) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status in ok:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code in ok:
                return
            last = exc
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer in {timeout}s: {last}")


def stop_pid(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# ---------------------------------------------------------------------------------------------
# The project as it would be published: a clean, committed copy of the working tree, so that
# the dirty-tree refusal never depends on the state of the developer's checkout.


@dataclasses.dataclass(frozen=True)
class Project:
    path: Path
    revision: str
    short: str
    version: str
    name: str


def git(path: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    return subprocess.run(
        ["git", "-C", str(path), *args], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def make_project(dest: Path, files: list[str], source: Path = ROOT) -> Project:
    for rel in files:
        src = source / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "snapshot")
    import tomllib

    meta = tomllib.loads((dest / "pyproject.toml").read_text())["project"]
    return Project(
        dest,
        git(dest, "rev-parse", "HEAD"),
        git(dest, "rev-parse", "--short", "HEAD"),
        meta["version"],
        meta["name"],
    )


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """Tracked and untracked-but-not-ignored files of the working tree, committed in a new repo."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    files = [f for f in listed.split("\0") if f]
    return make_project(tmp_path_factory.mktemp("project"), files)


# ---------------------------------------------------------------------------------------------
# Engines.


@dataclasses.dataclass(frozen=True)
class EngineUnderTest:
    kind: str
    path: str
    env: dict[str, str]  # per-test auth locations (and the engine's own config)

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.path, *args],
            env={**os.environ, **self.env},
            check=check,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def engine_path(kind: str) -> str | None:
    # engines.sh exports DOCKER (Debian's client, which builds with BuildKit) and PODMAN.
    if kind == "docker":
        return os.environ.get("DOCKER") or (
            "/usr/bin/docker" if Path("/usr/bin/docker").exists() else shutil.which("docker")
        )
    return os.environ.get("PODMAN") or shutil.which("podman")


def _engine_problem(kind: str, path: str | None) -> str | None:
    if path is None:
        return f"{kind} is not installed (CI installs it with .ci/lib/engines.sh engines_up)"
    probe = subprocess.run([path, "info"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"{kind} does not answer ({path} info: {probe.stderr.strip().splitlines()[-1:]})"
    if kind == "podman" and not os.environ.get("CONTAINERS_CONF"):
        return (
            "podman needs CONTAINERS_CONF (runtime runc, ulimits within the host's hard limits; "
            "crun fails on these machines): source .ci/lib/engines.sh and run engines_configure"
        )
    return None


@pytest.fixture(params=["docker", "podman"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> EngineUnderTest:
    kind = request.param
    path = engine_path(kind)
    problem = _engine_problem(kind, path)
    if problem:
        skip_or_fail(problem)
    assert path is not None
    auth = tmp_path / "auth"
    auth.mkdir()
    # podman 4.3 refuses to push when REGISTRY_AUTH_FILE names a file that does not exist yet.
    (auth / "auth.json").write_text('{"auths": {}}')
    env = {
        "DOCKER_CONFIG": str(auth),
        "REGISTRY_AUTH_FILE": str(auth / "auth.json"),
        "CONTAINER_ENGINE": path,
    }
    return EngineUnderTest(kind, path, env)


def base_image_build_args() -> list[str]:
    """The stand-in Python base CI builds (.ci/lib/base-images.sh); nothing can be pulled here."""
    base = os.environ.get("ORDERS_PYTHON_BASE_IMAGE", "localhost/orders-ci/python:3.11-slim-bookworm")
    return ["--build-arg", f"PYTHON_IMAGE={base}"]


@pytest.fixture
def base_image(engine: EngineUnderTest) -> list[str]:
    args = base_image_build_args()
    image = args[1].partition("=")[2]
    if engine("image", "inspect", image, check=False).returncode != 0:
        skip_or_fail(
            f"base image {image} is missing in {engine.kind}: run build_python_base from "
            ".ci/lib/base-images.sh"
        )
    return args


# ---------------------------------------------------------------------------------------------
# Registries.


@dataclasses.dataclass
class Registry:
    host: str
    username: str | None = None
    password: str | None = None

    def _request(self, path: str, method: str = "GET") -> urllib.request.Request:
        req = urllib.request.Request(f"http://{self.host}{path}", method=method)
        req.add_header(
            "Accept",
            ", ".join(
                [
                    "application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json",
                    "application/vnd.oci.image.index.v1+json",
                ]
            ),
        )
        if self.username:
            import base64

            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        return req

    def digest(self, repository: str, tag: str) -> str | None:
        """The manifest digest the registry itself reports for repository:tag (None if absent)."""
        try:
            with urllib.request.urlopen(
                self._request(f"/v2/{repository}/manifests/{tag}", "HEAD"), timeout=10
            ) as resp:
                return resp.headers["Docker-Content-Digest"]
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def tags_or_none(self, repository: str) -> list[str] | None:
        try:
            return self.tags(repository)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def tags(self, repository: str) -> list[str]:
        with urllib.request.urlopen(self._request(f"/v2/{repository}/tags/list"), timeout=10) as resp:
            return sorted(json.load(resp)["tags"])


def bcrypt_htpasswd(user: str, password: str) -> str:
    """An htpasswd line the registry accepts (bcrypt only), without apache2-utils."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            # glibc's libxcrypt does bcrypt ($2b$); the module exists up to Python 3.12.
            import crypt
        except ImportError:
            crypt = None  # type: ignore[assignment]
    if crypt is not None:
        return f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))}"
    tool = shutil.which("htpasswd")
    if tool is None:
        skip_or_fail(
            "no bcrypt available for the registry's htpasswd file "
            "(Python >= 3.13 lacks crypt; install apache2-utils)"
        )
    return subprocess.run(
        [tool, "-nbB", user, password], check=True, capture_output=True, text=True
    ).stdout.strip()


@contextlib.contextmanager
def run_registry(
    workdir: Path, *, auth: tuple[str, str] | None = None, readonly: bool = False
) -> Iterator[Registry]:
    binary = shutil.which("docker-registry")
    if binary is None:
        skip_or_fail("Debian's docker-registry is not installed (apt-get install docker-registry)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(workdir / "storage")},
            "delete": {"enabled": True},
            **({"maintenance": {"readonly": {"enabled": True}}} if readonly else {}),
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": "test-only-upload-state-secret"},
    }
    if auth:
        (workdir / "htpasswd").write_text(bcrypt_htpasswd(*auth) + "\n")
        config["auth"] = {"htpasswd": {"realm": "test", "path": str(workdir / "htpasswd")}}
    # YAML is a superset of JSON: no YAML library needed to write the config.
    (workdir / "config.yml").write_text(json.dumps(config))
    log = open(workdir / "registry.log", "wb")  # noqa: SIM115 (closed below)
    # env -i: the registry reads every REGISTRY_* variable as configuration (podman's
    # REGISTRY_AUTH_FILE included), so it gets a clean environment.
    proc = subprocess.Popen(
        ["env", "-i", binary, "serve", str(workdir / "config.yml")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/v2/")
        yield Registry(f"127.0.0.1:{port}", *(auth or (None, None)))
    finally:
        stop_pid(proc)
        log.close()


@pytest.fixture
def open_registry(tmp_path: Path) -> Iterator[Registry]:
    with run_registry(tmp_path / "registry-open") as reg:
        yield reg


@pytest.fixture
def auth_registry(tmp_path: Path) -> Iterator[Registry]:
    with run_registry(tmp_path / "registry-auth", auth=("publisher", "correct horse battery")) as reg:
        yield reg


# ---------------------------------------------------------------------------------------------
# moto: the AWS API (ECR create/describe repositories, get-authorization-token) on 127.0.0.1.


@dataclasses.dataclass(frozen=True)
class Moto:
    endpoint: str
    env: dict[str, str]

    def ecr(self) -> Any:
        """An ECR client on moto, in-process: the test's own AWS calls need no CLI start-up."""
        import boto3

        return boto3.client(
            "ecr",
            endpoint_url=self.endpoint,
            region_name=self.env["AWS_DEFAULT_REGION"],
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
        )


@pytest.fixture
def moto(tmp_path: Path) -> Iterator[Moto]:
    server = Path(sys.executable).parent / "moto_server"
    if not server.exists():
        skip_or_fail("moto_server is missing: uv sync installs moto[server] from the dev group")
    port = free_port()
    log = open(tmp_path / "moto.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    endpoint = f"http://127.0.0.1:{port}"
    # Fake credentials and no config files: nothing can reach a real AWS account.
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    try:
        wait_http(f"{endpoint}/moto-api/", timeout=30, ok=(200,))
        yield Moto(endpoint, env)
    finally:
        stop_pid(proc)
        log.close()


# ---------------------------------------------------------------------------------------------
# Running the script.


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment minus anything that would steer the script from outside the test."""
    drop = ("PUBLISH_", "AWS_", "ECR_", "ACR_", "CONTAINER_ENGINE", "SOURCE_DATE_EPOCH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


def run_publish(
    project: Project,
    *args: str,
    env: dict[str, str],
    stdin: str | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    # Executed through its shebang, as users run it (no venv needed).
    return subprocess.run(
        [str(project.path / "scripts" / "publish"), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
