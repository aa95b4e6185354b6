"""Any OCI registry, `HOST[:PORT][/NAMESPACE]`: the engine's existing login, or a username and password."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from tools.publish.commands import Cmd, PublishError
from tools.publish.engines import Engine
from tools.publish.runner import Runner
from tools.publish.target import HOST_RE, REPOSITORY_RE, Target

LOGIN_HINT = "log in with `docker login` / `podman login`, or set PUBLISH_USERNAME and PUBLISH_PASSWORD"


def parse(spec: str) -> Target:
    host, _, namespace = spec.partition("/")
    # Like docker, a first component is a host only if it has a dot or a port, or is localhost;
    # anything else ("coffeemesh/orders") would silently mean Docker Hub.
    if not HOST_RE.fullmatch(host) or not ("." in host or ":" in host or host == "localhost"):
        raise PublishError(
            f"invalid registry {spec!r}: expected ecr, acr:NAME or "
            "HOST[:PORT][/NAMESPACE] (the host needs a dot or a port)"
        )
    if namespace and not REPOSITORY_RE.fullmatch(namespace):
        raise PublishError(
            f"invalid repository namespace {namespace!r}: lowercase letters, digits and . _ - separated by /"
        )
    return Target("generic", host=host, namespace=namespace)


@dataclasses.dataclass(frozen=True)
class Credentials:
    username: str
    label: str | None  # where the password comes from, as a dry run shows it (None: this script's stdin)
    read: Callable[[], str]  # the password with its newline, read only when the login runs for real


def password_login(
    engine: Engine, host: str, credentials: Credentials, *, insecure: bool, runner: Runner
) -> tuple[Cmd, str]:
    """The login command and the stdin it gets."""
    secret = runner.read_secret(credentials.read)
    cmd = engine.login(host, credentials.username, insecure=insecure, stdin_label=credentials.label)
    return cmd, secret
