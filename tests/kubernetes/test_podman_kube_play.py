"""The rendered overlay's pods run under `podman kube play` with the image built from this repository.

First the migration Job's pod template (as a Pod: podman has no Jobs) migrates a fresh database, twice;
then the Deployment's pod serves, and /health/ready answers 200 through a port published on 127.0.0.1.
The pod specs are the overlay's, changed only where a local run must differ:
- the image (the one built here), replicas 1, and unique names for the pods, the ConfigMap, the Secret
  and the volumes (podman keeps them in one namespace per machine);
- a hostPort on 127.0.0.1 for the API's container port (a Service's job in a cluster);
- DB_URL in the Secret names 10.0.2.2, which slirp4netns (`allow_host_loopback`) maps to this machine's
  loopback, where the test's PostgreSQL listens: the pods reach it without any container address.
Security context, probes, resources, env, mounts and args are exactly as rendered, and the test checks
that podman applied the security context (user, read-only root, capabilities, no_new_privs, seccomp).
"""

from __future__ import annotations

import base64
import copy
import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy.engine import make_url

from orders_app.auth.keys import KeyPair
from tests.compose.compose_stack import free_port
from tests.conftest import TokenMinter, skip_or_fail
from tests.container.engines import Engine, make_engine
from tests.container.images import Image, build_test_image
from tests.kubernetes.manifests import env_value, image_uid_gid, one, overlays

pytestmark = [pytest.mark.kubernetes, pytest.mark.postgres, pytest.mark.timeout(900)]

# slirp4netns's address for the host's loopback (with allow_host_loopback=true).
HOST_LOOPBACK_FROM_POD = "10.0.2.2"
NETWORK = "slirp4netns:allow_host_loopback=true"
READY_TIMEOUT = 90.0


@pytest.fixture(scope="session")
def podman() -> Engine:
    engine = make_engine("podman")
    reason = engine.available()
    if reason is not None:
        skip_or_fail(reason)
    # The pod's infra container runs catatonit; Debian ships it apart from podman.
    if not (shutil.which("catatonit") or Path("/usr/libexec/podman/catatonit").exists()):
        skip_or_fail(
            "catatonit is not installed: podman cannot make a pod (.ci/lib/kubernetes.sh installs it)"
        )
    return engine


@pytest.fixture(scope="session")
def podman_image(podman: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    built = build_test_image(podman, tmp_path_factory.mktemp("kube-build"))
    yield built
    podman.remove_image(built.tag)


@dataclass
class KubePlay:
    """Plays pod specs with podman and takes down (and deletes) everything it made, by name."""

    engine: Engine
    workdir: Path
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    played: list[Path] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    def name(self, base: str) -> str:
        return f"{base}-{self.suffix}"

    def secret(self, name: str, values: dict[str, str]) -> None:
        # podman's secretKeyRef reads a JSON object of base64 values from a podman secret of that name.
        path = self.workdir / f"{name}.json"
        path.write_text(json.dumps({k: base64.b64encode(v.encode()).decode() for k, v in values.items()}))
        self.engine.cli("secret", "create", name, str(path))
        self.secrets.append(name)

    def config_map(self, name: str, data: dict[str, str]) -> Path:
        path = self.workdir / f"{name}.yaml"
        path.write_text(
            yaml.safe_dump(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
            )
        )
        # podman makes a volume named after a mounted ConfigMap and leaves it behind on `kube down`.
        self.volumes.append(name)
        return path

    def play(self, document: dict[str, Any], config_map: Path | None = None) -> None:
        path = self.workdir / f"{document['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(document))
        self.played.append(path)
        options = ["--configmap", str(config_map)] if config_map else []
        self.engine.cli("kube", "play", "--network", NETWORK, *options, str(path), timeout=300)

    def down(self, document: dict[str, Any]) -> None:
        path = self.workdir / f"{document['metadata']['name']}.yaml"
        self.engine.cli("kube", "down", str(path), check=False, timeout=120)
        if path in self.played:
            self.played.remove(path)

    def close(self) -> None:
        for path in reversed(self.played):
            self.engine.cli("kube", "down", str(path), check=False, timeout=120)
        for name in self.secrets:
            self.engine.cli("secret", "rm", name, check=False)
        for name in self.volumes:
            self.engine.cli("volume", "rm", "-f", name, check=False)


@pytest.fixture
def kube_play(podman: Engine, tmp_path: Path) -> Iterator[KubePlay]:
    player = KubePlay(podman, tmp_path)
    yield player
    player.close()


def _local_pod_spec(
    spec: dict[str, Any], player: KubePlay, image: str, renames: dict[str, str]
) -> dict[str, Any]:
    """The rendered pod spec with the local image and unique names for its ConfigMap, Secret and volumes."""
    spec = copy.deepcopy(spec)
    volume_names = {volume["name"]: player.name(volume["name"]) for volume in spec.get("volumes") or []}
    for volume in spec.get("volumes") or []:
        volume["name"] = volume_names[volume["name"]]
        if "configMap" in volume:
            volume["configMap"]["name"] = renames[volume["configMap"]["name"]]
    for container in [*(spec.get("initContainers") or []), *spec["containers"]]:
        container["image"] = image
        for mount in container.get("volumeMounts") or []:
            mount["name"] = volume_names[mount["name"]]
        for entry in container.get("env") or []:
            ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                ref["name"] = renames[ref["name"]]
    return spec


def _container_name(pod: dict[str, Any], container: str) -> str:
    return f"{pod['metadata']['name']}-{container}"


def _wait_exit(engine: Engine, name: str, timeout: float = 240) -> tuple[int, str]:
    code = int(engine.cli("wait", name, timeout=timeout).stdout.strip().splitlines()[-1])
    return code, engine.logs(name)


def _wait_ready(engine: Engine, url: str, container: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{url}/health/ready", timeout=2.0)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as error:
            last = repr(error)
        if not engine.state(container).get("Running", False):
            pytest.fail(f"{container} exited:\n{engine.logs(container)[-3000:]}")
        time.sleep(0.25)
    pytest.fail(f"{container} not ready after {READY_TIMEOUT}s ({last}):\n{engine.logs(container)[-3000:]}")


def test_the_deployment_serves_under_podman_kube_play_after_the_migration_job(
    podman: Engine,
    podman_image: Image,
    kube_play: KubePlay,
    rendered: dict[Path, list[dict[str, Any]]],
    make_postgres_database: Callable[[], str],
    keys: KeyPair,
    token_for: TokenMinter,
) -> None:
    documents = rendered[overlays()[0]]
    deployment = one(documents, "Deployment", "api")
    job = one(documents, "Job", "migration")
    api_spec = deployment["spec"]["template"]["spec"]

    # What the operator creates by hand in a cluster (docs/kubernetes.md), under unique names here.
    db_url = env_value(api_spec["containers"][0], "DB_URL")
    assert db_url is not None
    db_secret = db_url["valueFrom"]["secretKeyRef"]
    key_volume = next(volume for volume in api_spec["volumes"] if "configMap" in volume)["configMap"]
    renames = {
        db_secret["name"]: kube_play.name("orders-db"),
        key_volume["name"]: kube_play.name("orders-jwt"),
    }
    database = make_url(make_postgres_database()).set(host=HOST_LOOPBACK_FROM_POD)
    kube_play.secret(
        renames[db_secret["name"]], {db_secret["key"]: database.render_as_string(hide_password=False)}
    )
    config_map = kube_play.config_map(
        renames[key_volume["name"]], {key_volume["items"][0]["key"]: keys.public_key.read_text()}
    )

    # The Job's pod, twice: it migrates, then finds nothing to do.
    migrate_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": kube_play.name("orders-migrate"),
            "labels": job["spec"]["template"]["metadata"]["labels"],
        },
        "spec": _local_pod_spec(job["spec"]["template"]["spec"], kube_play, podman_image.tag, renames),
    }
    migrate = _container_name(migrate_pod, job["spec"]["template"]["spec"]["containers"][0]["name"])
    outputs = []
    for _run in range(2):
        kube_play.play(migrate_pod)
        code, output = _wait_exit(podman, migrate)
        assert code == 0, output
        outputs.append(output)
        kube_play.down(migrate_pod)
    assert "Running upgrade" in outputs[0], outputs[0]
    assert "Running upgrade" not in outputs[1], outputs[1]

    # The Deployment's pod, published on loopback.
    api = copy.deepcopy(deployment)
    api["metadata"]["name"] = kube_play.name("orders-api")
    api["spec"]["replicas"] = 1
    api["spec"]["template"]["spec"] = _local_pod_spec(api_spec, kube_play, podman_image.tag, renames)
    container = api["spec"]["template"]["spec"]["containers"][0]
    http = next(port for port in container["ports"] if port["name"] == "http")
    port = free_port()
    http.update(hostPort=port, hostIP="127.0.0.1")
    kube_play.play(api, config_map)
    # podman names a Deployment's pod NAME-pod-0 and its containers POD-CONTAINER.
    name = f"{api['metadata']['name']}-pod-0-{container['name']}"
    url = f"http://127.0.0.1:{port}"
    _wait_ready(podman, url, name)

    # The mounted key verifies tokens: an authenticated request is served.
    response = httpx.get(
        f"{url}/orders", headers={"Authorization": f"Bearer {token_for('alice')}"}, timeout=10
    )
    assert response.status_code == 200, response.text

    # podman applied the security context it was given.
    uid, gid = image_uid_gid()
    assert podman.exec(name, "id", "-u").stdout.strip() == str(uid)
    assert podman.exec(name, "id", "-g").stdout.strip() == str(gid)
    assert podman.exec(name, "touch", "/probe").returncode != 0, "the root filesystem is writable"
    assert podman.exec(name, "touch", "/tmp/probe").returncode == 0, "/tmp is not writable"
    status = dict(
        line.split(":", 1)
        for line in podman.exec(name, "cat", "/proc/1/status").stdout.splitlines()
        if ":" in line
    )
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Seccomp"].strip() == "2"  # a filter is loaded
    assert int(status["CapEff"].strip(), 16) == 0

    kube_play.down(api)
    assert podman.cli("container", "exists", name, check=False).returncode != 0
