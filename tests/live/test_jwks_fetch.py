"""JWKS fetching against hostile or broken identity providers: a total deadline, a size cap, the
cache serving while a refresh is in flight, and plain http:// refused off loopback.

Real HTTP on 127.0.0.1, the app served by `orders-app serve`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from orders_app.auth.jwks_client import JWKS_MAX_BYTES
from orders_app.auth.key_sources import JwksKeys
from orders_app.auth.keys import KeyPair
from tests.api.test_auth_jwks import FakeClock, jwk, numbers, token
from tests.conftest import run_migrations
from tests.jwks_servers import DrippingJwks, JwksServer
from tests.live_server import LiveServer, base_env

pytestmark = pytest.mark.slow


def _serve(workdir: Any, url: str, **settings: str) -> LiveServer:
    db_url = f"sqlite:///{workdir / 'orders.db'}"
    run_migrations(db_url)
    env = base_env(DB_URL=db_url, MIGRATE_ON_START="false", JWT_JWKS_URL=url, **settings)
    return LiveServer(workdir, env)  # started and stopped by `with`


def test_a_dripping_jwks_endpoint_costs_a_request_at_most_the_timeout(tmp_path: Any, keys: KeyPair) -> None:
    with DrippingJwks() as idp, _serve(tmp_path, idp.url, JWT_JWKS_TIMEOUT="1") as server:
        started = time.monotonic()
        response = httpx.get(
            f"{server.url}/orders", headers={"Authorization": f"Bearer {token(keys, 'k1')}"}, timeout=30
        )
        elapsed = time.monotonic() - started
        probe = httpx.get(f"{server.url}/health/live", timeout=5)
    assert response.status_code == 503
    assert elapsed < 4, f"the request waited {elapsed:.1f} s for a 1 s JWKS deadline"
    assert probe.status_code == 200


def test_an_oversized_jwks_is_refused(tmp_path: Any, keys: KeyPair) -> None:
    with JwksServer() as idp:
        idp.publish(jwk(keys, "k1", padding="x" * (JWKS_MAX_BYTES + 1)))
        with _serve(tmp_path, idp.url) as server:
            response = httpx.get(
                f"{server.url}/orders", headers={"Authorization": f"Bearer {token(keys, 'k1')}"}, timeout=30
            )
    assert response.status_code == 503
    assert "cannot fetch signing keys" in server.stderr()


def test_cached_kids_are_served_while_a_slow_refresh_is_in_flight(tmp_path: Any, keys: KeyPair) -> None:
    # A token with an unknown kid starts a refresh against an endpoint that now drips; tokens whose
    # kid is cached keep being answered at once meanwhile.
    with JwksServer() as good, DrippingJwks() as slow:
        good.publish(jwk(keys, "k1"))
        with _serve(tmp_path, good.url, JWT_JWKS_TIMEOUT="4", JWT_JWKS_REFRESH_COOLDOWN="0.1") as server:
            cached = {"Authorization": f"Bearer {token(keys, 'k1')}"}
            assert httpx.get(f"{server.url}/orders", headers=cached, timeout=10).status_code == 200
            # The provider now stalls: the good server's handler is swapped for the dripping one.
            good._httpd.RequestHandlerClass = slow._httpd.RequestHandlerClass

            async def attack_and_measure() -> tuple[int, list[float]]:
                async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                    unknown = asyncio.create_task(
                        client.get("/orders", headers={"Authorization": f"Bearer {token(keys, 'k-new')}"})
                    )
                    await asyncio.sleep(0.5)
                    waits = []
                    for _ in range(5):
                        started = time.monotonic()
                        assert (await client.get("/orders", headers=cached)).status_code == 200
                        waits.append(time.monotonic() - started)
                    return (await unknown).status_code, waits

            unknown_status, waits = asyncio.run(attack_and_measure())
    assert unknown_status in (401, 503)
    assert max(waits) < 1, waits


async def test_a_stale_cache_keeps_serving_while_its_refresh_is_slow(keys: KeyPair) -> None:
    # The max-age refresh of an old cache must not hold up the tokens it can already verify.
    clock = FakeClock()
    with JwksServer() as good, DrippingJwks() as slow:
        good.publish(jwk(keys, "k1"))
        source = JwksKeys(good.url, refresh_cooldown=10, max_age=300, timeout=3, clock=clock)
        await source.key_for("k1")
        good._httpd.RequestHandlerClass = slow._httpd.RequestHandlerClass
        clock.now += 301
        refresh = asyncio.create_task(source.key_for("k1"))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        key = await source.key_for("k1")
        waited = time.monotonic() - started
        still_cached = await refresh  # the refresh failed at its deadline; the cache kept serving
    assert waited < 0.5
    assert key.public_numbers() == numbers(keys)
    assert still_cached.public_numbers() == numbers(keys)


@pytest.mark.parametrize(
    "url", ["http://localhost:9/jwks.json", "http://127.0.0.1:9/jwks.json", "http://[::1]:9/k"]
)
def test_plain_http_is_accepted_on_loopback(url: str, tmp_path: Any) -> None:
    from orders_app.auth.from_settings import build_authenticator
    from orders_app.settings import Settings

    build_authenticator(Settings(jwt_jwks_url=url, db_url=f"sqlite:///{tmp_path / 'o.db'}"))
