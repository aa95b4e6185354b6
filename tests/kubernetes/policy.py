"""The rules every rendered overlay must follow (tests/kubernetes/test_policy.py), as one function.

`violations(documents)` returns one line per broken rule, naming the object and container; an empty list
means the manifests pass. The rules are the ones docs/kubernetes.md promises operators:
- every container of every pod template (init containers and the migration Job's included) runs as the
  image's numeric non-root user, on a read-only root filesystem, with no capability, no privilege
  escalation and the runtime's default seccomp profile, with CPU and memory requests and limits, and with
  /tmp on an emptyDir;
- the API Deployment: 2+ replicas, liveness on /health/live, readiness on /health/ready, a startup probe,
  a grace period longer than preStop plus the drain plus uvicorn's graceful timeout, DB_URL from a Secret,
  MIGRATE_ON_START=false and the JWT public key as a file from a mounted Secret or ConfigMap;
- the migration Job runs `orders-app migrate` from the Deployment's image with the same database Secret;
- images are pinned by digest; the Service, PDB and HPA point at the API pods.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from tests.kubernetes.manifests import PodTemplate, dig, env_value, image_uid_gid, one, pod_templates

DIGEST = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
CPU = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")
MEMORY = re.compile(r"^(\d+)(Ki|Mi|Gi|K|M|G)?$")
MEMORY_UNITS = {None: 1, "K": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def _cpu(quantity: Any) -> float | None:
    match = CPU.match(str(quantity))
    if not match:
        return None
    return float(match[1]) / (1000 if match[2] else 1)


def _memory(quantity: Any) -> int | None:
    match = MEMORY.match(str(quantity))
    return int(match[1]) * MEMORY_UNITS[match[2]] if match else None


def _effective(template: PodTemplate, container: dict[str, Any], field: str) -> Any:
    """A security setting as the kubelet applies it: the container's own, else the pod's."""
    own = dig(container, ("securityContext", field))
    return own if own is not None else dig(template.spec, ("securityContext", field))


def _container_rules(template: PodTemplate, where: str, container: dict[str, Any], uid: int) -> list[str]:
    problems = []
    if _effective(template, container, "runAsNonRoot") is not True:
        problems.append(f"{where}: runAsNonRoot is not true")
    if _effective(template, container, "runAsUser") != uid:
        problems.append(f"{where}: runAsUser is not the image's user {uid}")
    if dig(container, ("securityContext", "readOnlyRootFilesystem")) is not True:
        problems.append(f"{where}: readOnlyRootFilesystem is not true")
    if dig(container, ("securityContext", "allowPrivilegeEscalation")) is not False:
        problems.append(f"{where}: allowPrivilegeEscalation is not false")
    if dig(container, ("securityContext", "privileged")):
        problems.append(f"{where}: privileged")
    capabilities = dig(container, ("securityContext", "capabilities")) or {}
    if "ALL" not in (capabilities.get("drop") or []):
        problems.append(f"{where}: capabilities do not drop ALL")
    if capabilities.get("add"):
        problems.append(f"{where}: capabilities add {capabilities['add']}")
    if dig(_effective(template, container, "seccompProfile") or {}, ("type",)) != "RuntimeDefault":
        problems.append(f"{where}: seccompProfile is not RuntimeDefault")
    for resource, parse in (("cpu", _cpu), ("memory", _memory)):
        request = dig(container, ("resources", "requests", resource))
        limit = dig(container, ("resources", "limits", resource))
        if request is None or limit is None:
            problems.append(f"{where}: no {resource} request and limit")
            continue
        parsed_request, parsed_limit = parse(request), parse(limit)
        if parsed_request is None or parsed_limit is None or not 0 < parsed_request <= parsed_limit:
            problems.append(
                f"{where}: {resource} request {request} / limit {limit} is not 0 < request <= limit"
            )
    tmp_volume = next(
        (m["name"] for m in container.get("volumeMounts") or [] if m.get("mountPath") == "/tmp"), None
    )
    volumes = {volume["name"]: volume for volume in template.spec.get("volumes") or []}
    if tmp_volume is None or "emptyDir" not in volumes.get(tmp_volume, {}):
        problems.append(f"{where}: /tmp is not an emptyDir (the root filesystem is read-only)")
    return problems


def _pod_rules(template: PodTemplate) -> list[str]:
    problems = []
    if template.spec.get("automountServiceAccountToken") is not False:
        problems.append(
            f"{template.name}: automountServiceAccountToken is not false (the app never calls the API)"
        )
    if template.spec.get("hostNetwork") or template.spec.get("hostPID") or template.spec.get("hostIPC"):
        problems.append(f"{template.name}: shares a host namespace")
    for volume in template.spec.get("volumes") or []:
        if "hostPath" in volume:
            problems.append(f"{template.name}: hostPath volume {volume['name']!r}")
    return problems


def _http_probe(container: dict[str, Any], probe: str) -> tuple[str | None, Any]:
    get = dig(container, (probe, "httpGet")) or {}
    return get.get("path"), get.get("port")


def _secret_ref(container: dict[str, Any], name: str) -> tuple[str, str] | None:
    entry = env_value(container, name) or {}
    ref = dig(entry, ("valueFrom", "secretKeyRef"))
    return (ref.get("name"), ref.get("key")) if isinstance(ref, dict) else None


def _prestop_seconds(container: dict[str, Any]) -> int:
    command = dig(container, ("lifecycle", "preStop", "exec", "command")) or []
    if len(command) == 2 and command[0] == "sleep":
        return int(command[1])
    return int(dig(container, ("lifecycle", "preStop", "sleep", "seconds")) or 0)


def _deployment_rules(deployment: dict[str, Any]) -> list[str]:
    problems = []
    name = f"Deployment/{deployment['metadata']['name']}"
    if (deployment["spec"].get("replicas") or 1) < 2:
        problems.append(f"{name}: fewer than 2 replicas")
    template = PodTemplate(deployment, deployment["spec"]["template"]["spec"])
    container_ports = {}
    for where, container in template.containers():
        if where.split()[1] == "initContainer":
            continue
        container_ports.update({p.get("name"): p.get("containerPort") for p in container.get("ports") or []})
        for probe, path in (("livenessProbe", "/health/live"), ("readinessProbe", "/health/ready")):
            probe_path, port = _http_probe(container, probe)
            if probe_path != path:
                problems.append(f"{where}: {probe} is not an HTTP GET of {path} (found {probe_path})")
            elif port not in container_ports and port not in container_ports.values():
                problems.append(f"{where}: {probe} port {port!r} is no port of the container")
        if _http_probe(container, "startupProbe")[0] is None:
            problems.append(f"{where}: no HTTP startupProbe")
        if _secret_ref(container, "DB_URL") is None:
            problems.append(f"{where}: DB_URL does not come from a Secret")
        if (env_value(container, "MIGRATE_ON_START") or {}).get("value") != "false":
            problems.append(f'{where}: MIGRATE_ON_START is not "false" (the Job migrates)')
        problems += _key_file_rules(template, where, container)
        shutdown = float((env_value(container, "SHUTDOWN_TIMEOUT") or {}).get("value") or 10)
        drain = float((env_value(container, "SHUTDOWN_DRAIN_SECONDS") or {}).get("value") or 0)
        grace = template.spec.get("terminationGracePeriodSeconds", 30)
        if not grace > _prestop_seconds(container) + drain + shutdown:
            problems.append(
                f"{where}: terminationGracePeriodSeconds {grace} is not above preStop "
                f"{_prestop_seconds(container)} s + SHUTDOWN_DRAIN_SECONDS {drain:g} s "
                f"+ SHUTDOWN_TIMEOUT {shutdown:g} s"
            )
    return problems


def _key_file_rules(template: PodTemplate, where: str, container: dict[str, Any]) -> list[str]:
    key_file = (env_value(container, "JWT_PUBLIC_KEY_FILE") or {}).get("value")
    if not key_file:
        return [f"{where}: JWT_PUBLIC_KEY_FILE is not set (development keys would be used)"]
    volumes = {volume["name"]: volume for volume in template.spec.get("volumes") or []}
    for mount in container.get("volumeMounts") or []:
        if PurePosixPath(key_file).is_relative_to(mount["mountPath"]):
            source = volumes.get(mount["name"], {})
            if "configMap" in source or "secret" in source:
                return []
            return [
                f"{where}: JWT_PUBLIC_KEY_FILE {key_file} is on volume {mount['name']!r}: no ConfigMap/Secret"
            ]
    return [f"{where}: JWT_PUBLIC_KEY_FILE {key_file} is on no mounted volume"]


def _job_rules(job: dict[str, Any], deployment: dict[str, Any]) -> list[str]:
    problems = []
    name = f"Job/{job['metadata']['name']}"
    containers = job["spec"]["template"]["spec"].get("containers") or []
    api = deployment["spec"]["template"]["spec"]["containers"][0]
    if len(containers) != 1:
        return [f"{name}: expected one container, found {len(containers)}"]
    migrate = containers[0]
    if migrate.get("command") or migrate.get("args") != ["migrate"]:
        problems.append(f"{name}: does not run the image's `orders-app migrate` (args {migrate.get('args')})")
    if migrate.get("image") != api.get("image"):
        problems.append(f"{name}: image {migrate.get('image')} is not the Deployment's {api.get('image')}")
    if _secret_ref(migrate, "DB_URL") != _secret_ref(api, "DB_URL"):
        problems.append(
            f"{name}: DB_URL Secret {_secret_ref(migrate, 'DB_URL')} differs from the Deployment's"
        )
    if job["spec"]["template"]["spec"].get("restartPolicy") not in {"Never", "OnFailure"}:
        problems.append(f"{name}: restartPolicy must be Never or OnFailure")
    return problems


def _selects(selector: dict[str, Any] | None, labels: dict[str, Any]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in (selector or {}).items())


def _wiring_rules(
    documents: list[dict[str, Any]], deployment: dict[str, Any], job: dict[str, Any]
) -> list[str]:
    problems = []
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    job_labels = job["spec"]["template"]["metadata"]["labels"]
    service = one(documents, "Service")
    if not _selects(service["spec"].get("selector"), pod_labels):
        problems.append("Service: its selector does not match the API pods")
    if _selects(service["spec"].get("selector"), job_labels):
        problems.append("Service: its selector also matches the migration Job's pods")
    pdb = one(documents, "PodDisruptionBudget")
    if not _selects(dig(pdb, ("spec", "selector", "matchLabels")), pod_labels):
        problems.append("PodDisruptionBudget: its selector does not match the API pods")
    hpa = one(documents, "HorizontalPodAutoscaler")
    if dig(hpa, ("spec", "scaleTargetRef", "name")) != deployment["metadata"]["name"]:
        problems.append("HorizontalPodAutoscaler: does not scale the API Deployment")
    if (dig(hpa, ("spec", "minReplicas")) or 1) < 2:
        problems.append("HorizontalPodAutoscaler: minReplicas below 2")
    if not any(dig(m, ("resource", "name")) == "cpu" for m in dig(hpa, ("spec", "metrics")) or []):
        problems.append("HorizontalPodAutoscaler: no CPU metric")
    return problems


def violations(documents: list[dict[str, Any]], *, pinned_images: bool = True) -> list[str]:
    """Every broken rule in one rendered overlay (`pinned_images=False` for the base: no registry there)."""
    uid, _gid = image_uid_gid()
    problems: list[str] = []
    templates = pod_templates(documents)
    if not templates:
        return ["no pod template at all"]
    for template in templates:
        problems += _pod_rules(template)
        for where, container in template.containers():
            problems += _container_rules(template, where, container, uid)
            if pinned_images and not DIGEST.match(str(container.get("image"))):
                problems.append(f"{where}: image {container.get('image')} is not pinned by digest")
    try:
        deployment = one(documents, "Deployment", "api")
        job = one(documents, "Job", "migration")
    except LookupError as error:
        return [*problems, str(error)]
    problems += _deployment_rules(deployment)
    problems += _job_rules(job, deployment)
    try:
        problems += _wiring_rules(documents, deployment, job)
    except LookupError as error:
        problems.append(str(error))
    return problems
