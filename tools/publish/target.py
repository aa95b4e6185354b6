"""Where the image goes: the registry host, the namespace inside it, and the naming rules both obey."""

from __future__ import annotations

import dataclasses
import ipaddress
import re

from tools.publish.commands import PublishError

# Reference grammar from the OCI distribution spec (repository path components and tags).
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
HOST_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9-]+)*(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?"
)


@dataclasses.dataclass(frozen=True)
class Target:
    kind: str  # "ecr", "acr" or "generic"
    host: str  # registry host[:port] ("" for ECR until resolved)
    namespace: str  # path prefix inside the registry ("" for none)
    acr_name: str = ""

    def repository(self, name: str) -> str:
        return "/".join(p for p in (self.host, self.namespace, name) if p)

    def path(self, name: str) -> str:
        """The repository path inside the registry (what ECR calls the repository name)."""
        return "/".join(p for p in (self.namespace, name) if p)


# The domains each provider's registries live under; a host override outside them would receive the
# provider's login token, so it needs --test-endpoint (or, for ECR, AWS_ENDPOINT_URL) to say it is meant.
PROVIDER_DOMAINS = {
    "ecr": (".amazonaws.com", ".amazonaws.com.cn"),
    "acr": (".azurecr.io", ".azurecr.cn", ".azurecr.us"),
}


def validate_host_override(host: str, *, kind: str, option: str, test_endpoint: bool) -> str:
    """A registry host override (`--ecr-host`, `--acr-host` or their variables), checked like --registry."""
    if not HOST_RE.fullmatch(host):
        raise PublishError(f"invalid {option} {host!r}: expected HOST[:PORT]")
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host
    if not test_endpoint and not name.lower().endswith(PROVIDER_DOMAINS[kind]):
        domains = ", ".join(f"*{domain}" for domain in PROVIDER_DOMAINS[kind])
        raise PublishError(
            f"{option} {host!r} is outside {kind.upper()}'s domains ({domains}) and would receive the "
            "registry login token; pass --test-endpoint if it is a test or private endpoint"
        )
    return host


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def validate_repository(path: str) -> None:
    if not REPOSITORY_RE.fullmatch(path) or len(path) > 255:
        raise PublishError(
            f"invalid repository name {path!r}: lowercase letters, digits and . _ - "
            "separated by / (OCI naming rules)"
        )


def validate_tag(tag: str, what: str) -> None:
    if not TAG_RE.fullmatch(tag):
        raise PublishError(
            f"{what} {tag!r} is not a valid image tag "
            "(letters, digits, . _ -, at most 128, not starting with . or -)"
        )
