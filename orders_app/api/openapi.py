"""Serves the published contract, oas.yaml, exactly as committed (YAML and JSON renderings)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import yaml
from litestar import Response, Router, get

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def contract_path() -> Path:
    """oas.yaml ships inside the wheel; in a source checkout it is the top-level file."""
    packaged = _PACKAGE_DIR / "oas.yaml"
    return packaged if packaged.is_file() else _PACKAGE_DIR.parent / "oas.yaml"


# libyaml's parser (in PyYAML's wheels) reads oas.yaml in 11 ms against 65 ms for the pure-Python one; same
# safe constructors, same document.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def load_contract() -> tuple[str, dict[str, Any]]:
    """The contract's text and document, read once per process (/openapi.* and /docs both serve it)."""
    text = contract_path().read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader)
    return text, document


def openapi_router() -> Router:
    text, document = load_contract()
    as_json = json.dumps(document, default=str)

    @get("/openapi.yaml", sync_to_thread=False, include_in_schema=False)
    def openapi_yaml() -> Response[str]:
        return Response(text, media_type="application/yaml")

    @get("/openapi.json", sync_to_thread=False, include_in_schema=False)
    def openapi_json() -> Response[str]:
        return Response(as_json, media_type="application/json")

    return Router(path="/", route_handlers=[openapi_yaml, openapi_json])
