"""Every overlay renders with `kubectl kustomize`; every object validates, strictly, against pinned schemas.

Strict: a field the schema does not know (a typo, or one from a newer Kubernetes) fails, as does a kind the
validator has no schema for. The schemas ship inside the kubernetes-validate wheel: nothing is downloaded.
"""

from __future__ import annotations

import copy
import socket
from importlib import resources
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

from tests.kubernetes.manifests import BASE_DIR, KUBERNETES_VERSIONS, one, overlays

pytestmark = pytest.mark.kubernetes

DIRECTORIES = [BASE_DIR, *overlays()]


def _label(directory: Path) -> str:
    return str(directory.relative_to(BASE_DIR.parent))


def test_there_is_an_overlay() -> None:
    assert overlays(), "deploy/kubernetes/overlays holds no overlay"


@pytest.mark.parametrize("directory", DIRECTORIES, ids=_label)
def test_renders_the_expected_objects(rendered: dict[Path, list[dict[str, Any]]], directory: Path) -> None:
    kinds = sorted(document["kind"] for document in rendered[directory])
    expected = ["Deployment", "HorizontalPodAutoscaler", "Job", "PodDisruptionBudget", "Service"]
    if directory != BASE_DIR:
        expected.append("Ingress")
    assert kinds == sorted(expected)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("directory", DIRECTORIES, ids=_label)
def test_every_object_validates_strictly(
    rendered: dict[Path, list[dict[str, Any]]], directory: Path, version: str
) -> None:
    failures = []
    for document in rendered[directory]:
        name = f"{document['kind']}/{document['metadata']['name']}"
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            failures.append(f"{name}: {path}: {error.message}")
        except SchemaNotFoundError as error:
            # The command-line tool only warns here; an object nobody can check is a failure for us.
            failures.append(f"{name}: {error.message}")
    assert not failures, "\n".join(failures)


def test_strict_validation_rejects_an_unknown_field(rendered: dict[Path, list[dict[str, Any]]]) -> None:
    """The check above can fail: a misspelt field is refused by the strict schema (the lax one ignores it)."""
    deployment = copy.deepcopy(one(rendered[overlays()[0]], "Deployment"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinessprobe"] = container.pop("readinessProbe")
    with pytest.raises(ValidationError, match="readinessprobe"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)
    kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=False)


def test_strict_validation_rejects_a_wrong_type(rendered: dict[Path, list[dict[str, Any]]]) -> None:
    hpa = copy.deepcopy(one(rendered[overlays()[0]], "HorizontalPodAutoscaler"))
    hpa["spec"]["minReplicas"] = "two"
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(hpa, KUBERNETES_VERSIONS[0], strict=True)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_schemas_ship_in_the_wheel_and_validate_offline(
    rendered: dict[Path, list[dict[str, Any]]], version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    schemas = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    assert schemas.joinpath(f"v{version}-local-strict").joinpath("deployment-apps-v1.json").is_file()

    def no_network(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("kubernetes-validate tried to open a network connection")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    for document in rendered[overlays()[0]]:
        kubernetes_validate.validate(document, version, strict=True)
