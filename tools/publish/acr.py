"""Azure Container Registry, `acr:NAME`: a token from the Azure CLI, or a username and password."""

from __future__ import annotations

import re
from collections.abc import Mapping

from tools.publish.commands import Cmd, PublishError
from tools.publish.engines import Engine
from tools.publish.target import Target, validate_host_override

ACR_NAME_RE = re.compile(r"[A-Za-z0-9]{5,50}")
# The identity `az acr login --expose-token` tokens are issued for (documented by Azure).
ACR_TOKEN_USER = "00000000-0000-0000-0000-000000000000"  # noqa: S105 (a user name)
LOGIN_HINT = "run `az login`, or set PUBLISH_USERNAME and PUBLISH_PASSWORD"


def parse(spec: str, *, host: str | None = None) -> Target:
    name = spec.removeprefix("acr:")
    if not ACR_NAME_RE.fullmatch(name):
        raise PublishError(f"invalid ACR registry name {name!r}: 5-50 letters and digits")
    return Target("acr", host=host or f"{name.lower()}.azurecr.io", namespace="", acr_name=name)


def host_override(option: str | None, environ: Mapping[str, str], *, test_endpoint: bool) -> str | None:
    """--acr-host or ACR_REGISTRY_HOST (sovereign clouds, test registries), validated."""
    host = option or environ.get("ACR_REGISTRY_HOST")
    if not host:
        return None
    name = "--acr-host" if option else "ACR_REGISTRY_HOST"
    return validate_host_override(host, kind="acr", option=name, test_endpoint=test_endpoint)


def token_login(engine: Engine, target: Target, *, insecure: bool) -> Cmd:
    # The CLI's own docker login would pick whichever `docker` is on PATH; a token works for either engine.
    query = ("--output", "tsv", "--query", "accessToken")
    token = Cmd(("az", "acr", "login", "--name", target.acr_name, "--expose-token", *query))
    return engine.login(target.host, ACR_TOKEN_USER, insecure=insecure, stdin_cmd=token)
