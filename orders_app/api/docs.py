"""The interactive API reference at /docs: Swagger UI rendering oas.yaml, every asset served by the app.

The page is Litestar's SwaggerRenderPlugin output, pointed at files of the pinned `swagger-ui-bundle-v2`
package (swagger-ui-dist repackaged for PyPI), read from the installed package: no CDN, nothing written at
run time. docs/api-docs.md says why Swagger UI and how the Content-Security-Policy is built.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anyio.to_thread
from litestar import Request, Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.params import FromPath
from litestar.response import File
from swagger_ui_bundle import swagger_ui_path

from orders_app.contract import load_contract

DOCS_PATH = "/docs"
SWAGGER_UI_DISTRIBUTION = "swagger-ui-bundle-v2"
# Versioned URLs: a new package version is a new URL, so browsers may keep each file for a year untouched.
ASSETS_PATH = f"{DOCS_PATH}/assets/{version(SWAGGER_UI_DISTRIBUTION)}"
# Only what the page loads; the package's demo index.html, templates and source maps stay unserved.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "index.css": "text/css",
    "favicon-32x32.png": "image/png",
}
ASSET_CACHE = CacheControlHeader(public=True, max_age=365 * 24 * 3600, immutable=True)
# The page embeds the document, so it is revalidated on every visit (its ETag makes that a 304).
PAGE_CACHE = CacheControlHeader(no_cache=True)

ASSET_POLICY = "default-src 'none'; frame-ancestors 'none'"

_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL)


def content_security_policy(page: bytes) -> str:
    """Same origin only; the plugin's one inline script is allowed by its hash, nothing else inline.

    img-src also allows data: URIs, which swagger-ui.css uses for its icons (they come with the stylesheet,
    not from another origin).
    """
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(page)
    )
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src 'self' {hashes}".rstrip(),
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (`gzip;q=0` refuses it)."""
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.partition(";")
        if coding.strip() in ("gzip", "*"):
            quality = params.strip().removeprefix("q=")
            try:
                return not params.strip() or float(quality) > 0
            except ValueError:
                return False
    return False


def _gzip(path: Path) -> tuple[bytes, str]:
    # mtime=0: the same bytes, and so the same ETag, in every process and after every restart.
    body = gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)
    return body, _etag(body)


def docs_router() -> Router:
    """GET /docs and its assets; public, like the contract it renders."""
    asset_dir = Path(str(swagger_ui_path))
    missing = [name for name in ASSETS if not (asset_dir / name).is_file()]
    if missing:
        # A repackaged distribution that moved files must fail at start-up, not as a blank page.
        raise RuntimeError(f"{SWAGGER_UI_DISTRIBUTION} at {asset_dir} lacks {', '.join(missing)}")
    _, document = load_contract()
    # "Try it out" calls the service that serves the page (the contract's server is the development
    # address, which the Content-Security-Policy would block from any other origin anyway).
    page_document = {**document, "servers": [{"url": "/", "description": "this service"}]}
    plugin = SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        path=DOCS_PATH,
        favicon=f'<link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon-32x32.png">',
        # The plugin's default is an inline <style>; the package's own page stylesheet needs no exception.
        style=f'<link rel="stylesheet" href="{ASSETS_PATH}/index.css">',
    )
    # Rendered on first use (the plugin wants a request) and kept: the document never changes at run time.
    rendered: dict[str, Any] = {}
    # Compressed once per process on first request and kept: later requests cost no CPU (docs/api-docs.md).
    gzipped: dict[str, tuple[bytes, str]] = {}

    @get(DOCS_PATH, sync_to_thread=False, include_in_schema=False, cache_control=PAGE_CACHE)
    def docs_page(request: Request[Any, Any, Any]) -> Response[bytes]:
        if not rendered:
            page = plugin.render(request, page_document)
            rendered.update(page=page, etag=_etag(page), csp=content_security_policy(page))
        headers = {"ETag": rendered["etag"], "Content-Security-Policy": rendered["csp"]}
        if request.headers.get("if-none-match") == rendered["etag"]:
            return Response(b"", status_code=304, headers=headers)
        return Response(rendered["page"], media_type="text/html", headers=headers)

    @get(
        f"{ASSETS_PATH}/{{name:str}}",
        include_in_schema=False,
        cache_control=ASSET_CACHE,
        # A file opened on its own may run and load nothing.
        response_headers={"Content-Security-Policy": ASSET_POLICY},
    )
    async def docs_asset(name: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes] | File:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise NotFoundException()
        if media_type.startswith("text/") and accepts_gzip(request.headers.get("accept-encoding", "")):
            if name not in gzipped:
                # In a worker thread: compressing the bundle would stall the event loop (docs/api-docs.md).
                gzipped[name] = await anyio.to_thread.run_sync(_gzip, asset_dir / name)
            body, etag = gzipped[name]
            headers = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding", "ETag": etag}
            return Response(body, media_type=media_type, headers=headers)
        # File streams from the installed package (read-only is fine) and sends an ETag and Last-Modified.
        return File(
            asset_dir / name,
            media_type=media_type,
            filename=name,
            content_disposition_type="inline",
            headers={"Vary": "Accept-Encoding"},
        )

    return Router(
        path="/",
        route_handlers=[docs_page, docs_asset],
        response_headers={"X-Content-Type-Options": "nosniff"},
    )
