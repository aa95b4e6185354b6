"""Serves the published contract, oas.yaml, exactly as committed (YAML and JSON renderings)."""

from __future__ import annotations

import json

from litestar import Response, Router, get

from orders_app.contract import load_contract


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
