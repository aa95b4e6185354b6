"""The manifests under deploy/kubernetes: finding kubectl, rendering overlays, reading the results."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBERNETES_DIR = REPO_ROOT / "deploy" / "kubernetes"
BASE_DIR = KUBERNETES_DIR / "base"
OVERLAYS_DIR = KUBERNETES_DIR / "overlays"
# The Kubernetes versions whose schemas the manifests must satisfy (kubernetes-validate ships them): the
# oldest release EKS and AKS still supported when this was written, and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.32.0", "1.37.0")
# Kinds that carry a pod template, and where it is.
POD_TEMPLATE_PATHS = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}


def overlays() -> list[Path]:
    """Every overlay directory (each holds a kustomization.yaml)."""
    return sorted(path.parent for path in OVERLAYS_DIR.glob("*/kustomization.yaml"))


def kubectl() -> str | None:
    """$KUBECTL when set (CI's fallback install), else `kubectl` on PATH."""
    return os.environ.get("KUBECTL") or shutil.which("kubectl")


class RenderError(RuntimeError):
    pass


def render(directory: Path, binary: str) -> list[dict[str, Any]]:
    """`kubectl kustomize DIRECTORY`, parsed: one dict per object."""
    result = subprocess.run(
        [binary, "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise RenderError(f"kubectl kustomize {directory} exited {result.returncode}:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def image_uid_gid() -> tuple[int, int]:
    """The numeric user and group the Containerfile's runtime stage runs as (its UID/GID build arguments)."""
    text = (REPO_ROOT / "Containerfile").read_text()
    uid = re.search(r"^ARG UID=(\d+)$", text, re.MULTILINE)
    gid = re.search(r"^ARG GID=(\d+)$", text, re.MULTILINE)
    if not (uid and gid and re.search(r"^USER \$\{UID\}:\$\{GID\}$", text, re.MULTILINE)):
        raise LookupError("the Containerfile does not say ARG UID=n, ARG GID=n and USER ${UID}:${GID}")
    return int(uid[1]), int(gid[1])


def dig(document: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = document
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


@dataclass(frozen=True)
class PodTemplate:
    """The pod spec inside a workload object, with the object it belongs to."""

    owner: dict[str, Any]
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.owner['kind']}/{self.owner['metadata']['name']}"

    def containers(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every container, init containers included, as (what to call it in a message, the container)."""
        for field in ("initContainers", "containers"):
            for container in self.spec.get(field) or []:
                yield f"{self.name} {field[:-1]} {container.get('name')!r}", container


def pod_templates(documents: list[dict[str, Any]]) -> list[PodTemplate]:
    found = []
    for document in documents:
        path = POD_TEMPLATE_PATHS.get(document.get("kind", ""))
        if path is not None:
            spec = dig(document, path)
            found.append(PodTemplate(document, spec if isinstance(spec, dict) else {}))
    return found


def one(documents: list[dict[str, Any]], kind: str, component: str | None = None) -> dict[str, Any]:
    """The only object of this kind (and app.kubernetes.io/component label, if given)."""
    matches = [
        document
        for document in documents
        if document.get("kind") == kind
        and (
            component is None
            or dig(document, ("metadata", "labels", "app.kubernetes.io/component")) == component
        )
    ]
    if len(matches) != 1:
        raise LookupError(f"expected one {kind} (component {component}), found {len(matches)}")
    return matches[0]


def env_value(container: dict[str, Any], name: str) -> dict[str, Any] | None:
    for entry in container.get("env") or []:
        if entry.get("name") == name:
            return dict(entry)
    return None
