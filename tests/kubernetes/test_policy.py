"""The policy (tests/kubernetes/policy.py) holds for every rendered overlay, and catches what it should.

Each negative case removes or breaks one required setting in a copy of the rendered example overlay (the
migration Job's container and an added init container included) and expects the policy to name it. The last
test does the same through kustomize itself: an overlay that patches a setting away renders, and fails.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kubernetes.manifests import (
    BASE_DIR,
    KUBERNETES_DIR,
    env_value,
    image_uid_gid,
    one,
    overlays,
    render,
)
from tests.kubernetes.policy import violations

pytestmark = pytest.mark.kubernetes

Documents = list[dict[str, Any]]


@pytest.mark.parametrize("directory", overlays(), ids=lambda path: path.name)
def test_every_overlay_follows_the_policy(rendered: dict[Path, Documents], directory: Path) -> None:
    assert violations(rendered[directory]) == []


def test_the_base_follows_the_policy_but_names_no_real_image(rendered: dict[Path, Documents]) -> None:
    assert violations(rendered[BASE_DIR], pinned_images=False) == []
    assert any("not pinned by digest" in problem for problem in violations(rendered[BASE_DIR]))


def test_the_policy_enforces_the_containerfile_user() -> None:
    assert image_uid_gid() == (1000, 1000)


def _api(documents: Documents) -> dict[str, Any]:
    container: dict[str, Any] = one(documents, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return container


def _job_pod(documents: Documents) -> dict[str, Any]:
    pod: dict[str, Any] = one(documents, "Job")["spec"]["template"]["spec"]
    return pod


def _migrate(documents: Documents) -> dict[str, Any]:
    container: dict[str, Any] = _job_pod(documents)["containers"][0]
    return container


def _add_bare_init_container(documents: Documents) -> None:
    template = one(documents, "Deployment")["spec"]["template"]["spec"]
    template["initContainers"] = [{"name": "wait", "image": _api(documents)["image"], "args": ["migrate"]}]


def _set_env(container: dict[str, Any], name: str, value: str) -> None:
    entry = env_value(container, name)
    assert entry is not None
    for item in container["env"]:
        if item["name"] == name:
            item.clear()
            item.update({"name": name, "value": value})


MUTATIONS: list[tuple[str, Callable[[Documents], None], str]] = [
    (
        "writable root (Job)",
        lambda d: _migrate(d)["securityContext"].pop("readOnlyRootFilesystem"),
        "Job/orders-app-migrate container 'migrate': readOnlyRootFilesystem is not true",
    ),
    (
        "privilege escalation (API)",
        lambda d: _api(d)["securityContext"].update(allowPrivilegeEscalation=True),
        "allowPrivilegeEscalation is not false",
    ),
    (
        "capabilities kept (Job)",
        lambda d: _migrate(d)["securityContext"].pop("capabilities"),
        "capabilities do not drop ALL",
    ),
    (
        "capability added",
        lambda d: _api(d)["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
        "capabilities add",
    ),
    (
        "root allowed (Job pod)",
        lambda d: _job_pod(d)["securityContext"].pop("runAsNonRoot"),
        "runAsNonRoot is not true",
    ),
    (
        "another user (container overrides pod)",
        lambda d: _api(d)["securityContext"].update(runAsUser=0),
        "runAsUser is not the image's user 1000",
    ),
    (
        "no seccomp profile",
        lambda d: one(d, "Deployment")["spec"]["template"]["spec"]["securityContext"].pop("seccompProfile"),
        "seccompProfile is not RuntimeDefault",
    ),
    (
        "unconfined seccomp (container overrides pod)",
        lambda d: _migrate(d)["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        "seccompProfile is not RuntimeDefault",
    ),
    (
        "init container without any of it",
        _add_bare_init_container,
        "initContainer 'wait': readOnlyRootFilesystem",
    ),
    (
        "no memory limit (Job)",
        lambda d: _migrate(d)["resources"]["limits"].pop("memory"),
        "no memory request and limit",
    ),
    (
        "no CPU request (API)",
        lambda d: _api(d)["resources"]["requests"].pop("cpu"),
        "no cpu request and limit",
    ),
    (
        "request above limit",
        lambda d: _api(d)["resources"]["requests"].update(memory="1Gi"),
        "memory request 1Gi / limit",
    ),
    ("no /tmp volume", lambda d: _migrate(d)["volumeMounts"].pop(0), "/tmp is not an emptyDir"),
    (
        "no liveness probe",
        lambda d: _api(d).pop("livenessProbe"),
        "livenessProbe is not an HTTP GET of /health/live",
    ),
    (
        "readiness on the wrong path",
        lambda d: _api(d)["readinessProbe"]["httpGet"].update(path="/health/live"),
        "readinessProbe is not an HTTP GET of /health/ready",
    ),
    ("no startup probe", lambda d: _api(d).pop("startupProbe"), "no HTTP startupProbe"),
    (
        "probe on a port the container lacks",
        lambda d: _api(d)["livenessProbe"]["httpGet"].update(port="metrics"),
        "port 'metrics' is no port",
    ),
    ("one replica", lambda d: one(d, "Deployment")["spec"].update(replicas=1), "fewer than 2 replicas"),
    (
        "grace period too short",
        lambda d: one(d, "Deployment")["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=20),
        "terminationGracePeriodSeconds 20 is not above preStop 5 s + SHUTDOWN_DRAIN_SECONDS 3 s "
        "+ SHUTDOWN_TIMEOUT 20 s",
    ),
    (
        "drain past the grace period",
        lambda d: _set_env(_api(d), "SHUTDOWN_DRAIN_SECONDS", "10"),
        "terminationGracePeriodSeconds 35 is not above preStop 5 s + SHUTDOWN_DRAIN_SECONDS 10 s",
    ),
    (
        "database URL inline",
        lambda d: _set_env(_api(d), "DB_URL", "postgresql://orders:secret@db/orders"),
        "DB_URL does not come from a Secret",
    ),
    (
        "API migrates on start",
        lambda d: _set_env(_api(d), "MIGRATE_ON_START", "true"),
        "MIGRATE_ON_START is not",
    ),
    (
        "development keys",
        lambda d: _api(d)["env"].remove(env_value(_api(d), "JWT_PUBLIC_KEY_FILE")),
        "JWT_PUBLIC_KEY_FILE is not set",
    ),
    (
        "key file outside the key volume",
        lambda d: _set_env(_api(d), "JWT_PUBLIC_KEY_FILE", "/tmp/public_key.pem"),
        "is on volume 'tmp'",
    ),
    ("Job runs something else", lambda d: _migrate(d).update(args=["serve"]), "does not run the image's"),
    (
        "Job on another image",
        lambda d: _migrate(d).update(image="orders-app:latest"),
        "is not pinned by digest",
    ),
    (
        "Job on another database",
        lambda d: _migrate(d)["env"][0]["valueFrom"]["secretKeyRef"].update(name="other"),
        "differs from the Deployment's",
    ),
    (
        "token mounted",
        lambda d: _job_pod(d).update(automountServiceAccountToken=True),
        "automountServiceAccountToken is not false",
    ),
    (
        "Service selects the Job too",
        lambda d: one(d, "Service")["spec"]["selector"].pop("app.kubernetes.io/component"),
        "also matches the migration Job",
    ),
    (
        "PDB selects nothing",
        lambda d: one(d, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"].update(
            {"app.kubernetes.io/name": "x"}
        ),
        "PodDisruptionBudget: its selector",
    ),
    (
        "HPA down to one",
        lambda d: one(d, "HorizontalPodAutoscaler")["spec"].update(minReplicas=1),
        "minReplicas below 2",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_the_policy_catches(
    rendered: dict[Path, Documents], mutate: Callable[[Documents], None], expected: str
) -> None:
    documents = copy.deepcopy(rendered[overlays()[0]])
    mutate(documents)
    problems = violations(documents)
    assert any(expected in problem for problem in problems), problems


def test_the_policy_catches_a_rendered_overlay_that_patches_a_setting_away(
    kubectl_binary: str, tmp_path: Path
) -> None:
    """Through kustomize: an overlay that drops the Job's read-only root and adds a bare sidecar."""
    tree = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES_DIR, tree)
    broken = tree / "overlays" / "broken"
    shutil.copytree(tree / "overlays" / overlays()[0].name, broken)
    (broken / "weaken.yaml").write_text(
        "- op: remove\n"
        "  path: /spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem\n"
        "- op: add\n"
        "  path: /spec/template/spec/containers/-\n"
        "  value: {name: sidecar, image: busybox}\n"
    )
    kustomization = yaml.safe_load((broken / "kustomization.yaml").read_text())
    kustomization["patches"].append({"path": "weaken.yaml", "target": {"kind": "Job"}})
    (broken / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    problems = violations(render(broken, kubectl_binary))
    for expected in (
        "Job/orders-app-migrate container 'migrate': readOnlyRootFilesystem is not true",
        "Job/orders-app-migrate container 'sidecar': readOnlyRootFilesystem is not true",
        "Job/orders-app-migrate container 'sidecar': no cpu request and limit",
        "Job/orders-app-migrate container 'sidecar': image busybox is not pinned by digest",
    ):
        assert expected in problems, problems
