"""GET /docs: the interactive API reference, its self-served assets, their headers, and its off switch."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from litestar.types import ASGIApp
from swagger_ui_bundle import swagger_ui_path

from orders_app.api.docs import ASSETS_PATH, DOCS_PATH, accepts_gzip
from orders_app.app import create_asgi_app
from orders_app.settings import Settings

PACKAGE_DIR = Path(str(swagger_ui_path))
ONE_YEAR = 365 * 24 * 3600


def _app(tmp_path: Path, keys: Any, **overrides: Any) -> ASGIApp:
    # Authentication is on (a real public key): the page and its assets must not need a token.
    return create_asgi_app(
        Settings(
            db_url=f"sqlite:///{tmp_path / 'orders.db'}",
            jwt_public_key_file=keys.public_key,
            migrate_on_start=False,
            access_log=False,
            **overrides,
        )
    )


@pytest.fixture
async def docs_client(tmp_path: Path, keys: Any) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(_app(tmp_path, keys)) as client:
        yield client


def _policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


def _asset_urls(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', page)


async def test_the_page_renders_the_contract_with_self_served_assets_and_no_token(
    docs_client: AsyncTestClient[Litestar],
) -> None:
    response = await docs_client.get(DOCS_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "SwaggerUIBundle(" in page
    assert '"operationId":"createOrder"' in page
    urls = _asset_urls(page)
    assert {url.rsplit("/", 1)[1] for url in urls} >= {
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-ui.css",
    }
    # Nothing from another origin: every script, stylesheet and icon comes from this service.
    assert all(url.startswith(f"{ASSETS_PATH}/") for url in urls), urls
    assert "cdn" not in page.lower()
    # "Try it out" targets the service serving the page, not the contract's development address.
    assert '"servers":[{"url":"/"' in page


async def test_the_page_policy_allows_only_its_own_origin_and_its_one_inline_script(
    docs_client: AsyncTestClient[Litestar],
) -> None:
    response = await docs_client.get(DOCS_PATH)
    policy = _policy(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    inline_scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", response.text, re.DOTALL)
    assert len(inline_scripts) == 1
    digest = base64.b64encode(hashlib.sha256(inline_scripts[0].encode()).digest()).decode()
    assert policy["script-src"] == ["'self'", f"'sha256-{digest}'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "<style" not in response.text
    assert not any("unsafe" in value or "http" in value for values in policy.values() for value in values)


async def test_the_page_is_revalidated_with_its_etag(docs_client: AsyncTestClient[Litestar]) -> None:
    first = await docs_client.get(DOCS_PATH)
    assert first.headers["cache-control"] == "no-cache"
    etag = first.headers["etag"]
    again = await docs_client.get(DOCS_PATH, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui-standalone-preset.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("index.css", "text/css"),
        ("favicon-32x32.png", "image/png"),
    ],
)
async def test_every_asset_is_the_packaged_file_cached_for_a_year(
    docs_client: AsyncTestClient[Litestar], name: str, media_type: str
) -> None:
    response = await docs_client.get(f"{ASSETS_PATH}/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert response.content == (PACKAGE_DIR / name).read_bytes()
    cache_control = {part.strip() for part in response.headers["cache-control"].split(",")}
    assert {"public", "immutable", f"max-age={ONE_YEAR}"} <= cache_control
    assert response.headers["etag"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert _policy(response.headers["content-security-policy"])["default-src"] == ["'none'"]


async def test_text_assets_travel_gzipped_when_the_browser_accepts_it(
    docs_client: AsyncTestClient[Litestar],
) -> None:
    url = f"{ASSETS_PATH}/swagger-ui-bundle.js"
    original = (PACKAGE_DIR / "swagger-ui-bundle.js").read_bytes()
    compressed = await docs_client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.headers["vary"] == "Accept-Encoding"
    assert int(compressed.headers["content-length"]) < len(original) / 3
    assert compressed.content == original  # httpx decodes it
    assert "immutable" in compressed.headers["cache-control"]
    plain = await docs_client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    assert int(plain.headers["content-length"]) == len(original)
    assert plain.headers["etag"] != compressed.headers["etag"]
    # The icon is already compressed: never gzipped again.
    icon = await docs_client.get(f"{ASSETS_PATH}/favicon-32x32.png", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in icon.headers


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("deflate, gzip;q=0.5", True),
        ("*", True),
        ("gzip;q=0", False),
        ("identity", False),
        ("", False),
        ("br, zstd", False),
    ],
)
def test_accept_encoding_is_read_with_its_quality(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected


@pytest.mark.parametrize(
    "name",
    ["index.html", "swagger-ui-bundle.js.map", "index.j2", "..%2F__init__.py", "swagger-initializer.js"],
)
async def test_files_the_page_does_not_use_are_not_served(
    docs_client: AsyncTestClient[Litestar], name: str
) -> None:
    response = await docs_client.get(f"{ASSETS_PATH}/{name}")
    assert response.status_code == 404
    assert "detail" in response.json()


async def test_the_orders_routes_still_need_a_token(docs_client: AsyncTestClient[Litestar]) -> None:
    assert (await docs_client.get(DOCS_PATH)).status_code == 200
    assert (await docs_client.get("/orders")).status_code == 401


async def test_docs_enabled_false_removes_the_page_and_its_assets(tmp_path: Path, keys: Any) -> None:
    assert Settings.from_env({"DOCS_ENABLED": "false"}).docs_enabled is False
    assert Settings.from_env({}).docs_enabled is True
    async with AsyncTestClient(_app(tmp_path, keys, docs_enabled=False)) as client:
        for path in (DOCS_PATH, f"{ASSETS_PATH}/swagger-ui-bundle.js"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert "detail" in response.json()
        # The contract itself stays served.
        assert (await client.get("/openapi.yaml")).status_code == 200
