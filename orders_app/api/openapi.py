"""Serves the published contract, oas.yaml, exactly as committed (YAML and JSON renderings)."""

from __future__ import annotations

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


def load_contract() -> tuple[str, dict[str, Any]]:
    text = contract_path().read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
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
