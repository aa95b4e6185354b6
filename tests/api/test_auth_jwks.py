"""JWT_JWKS_URL: keys come from a real HTTP server on 127.0.0.1, are cached, and rotate by `kid`."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from litestar.testing import AsyncTestClient

from orders_app.app import create_app, create_asgi_app
from orders_app.auth.dev_tokens import mint_token
from orders_app.auth.failures import InvalidToken
from orders_app.auth.key_sources import JwksKeys
from orders_app.auth.keys import KeyConfigError, KeyPair, load_private_key
from orders_app.settings import DEFAULT_AUDIENCE
from tests.conftest import Backend, app_settings
from tests.jwks_servers import JwksServer

# Loading (and validating) an RSA private key takes a sizeable fraction of a second; load each once.
private_key = functools.cache(load_private_key)


def jwk(keys: KeyPair, kid: str, **extra: Any) -> dict[str, Any]:
    public_key = private_key(keys.private_key).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    entry: dict[str, Any] = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    entry.update({"kid": kid, "use": "sig", "alg": "RS256", **extra})
    return entry


def token(keys: KeyPair, kid: str | None, subject: str = "alice") -> str:
    return mint_token(private_key(keys.private_key), subject=subject, audience=DEFAULT_AUDIENCE, kid=kid)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    with JwksServer() as server:
        yield server


@asynccontextmanager
async def jwks_app(backend: Backend, keys: KeyPair, url: str, **overrides: Any) -> AsyncIterator[Any]:
    settings = app_settings(backend, keys, jwt_public_key_file=None, jwt_jwks_url=url, **overrides)
    async with AsyncTestClient(create_asgi_app(settings)) as client:
        yield client


@asynccontextmanager
async def app_that_fetched_k1(
    backend: Backend, keys: KeyPair, jwks: JwksServer, cooldown: float
) -> AsyncIterator[Any]:
    """An app whose provider publishes k1 and that has verified a k1 token: one fetch, its cooldown begun."""
    jwks.publish(jwk(keys, "k1"))
    async with jwks_app(backend, keys, jwks.url, jwt_jwks_refresh_cooldown=cooldown) as client:
        assert (await client.get("/orders", headers=bearer(token(keys, "k1")))).status_code == 200
        yield client


async def test_jwks_key_verifies_and_is_fetched_once(
    backend: Backend, keys: KeyPair, jwks: JwksServer
) -> None:
    jwks.publish(jwk(keys, "k1"))
    async with jwks_app(backend, keys, jwks.url) as client:
        for _ in range(5):
            response = await client.get("/orders", headers=bearer(token(keys, "k1")))
            assert response.status_code == 200, response.text
    assert jwks.hits == 1


async def test_rotation_to_a_new_kid_is_picked_up(
    backend: Backend, keys: KeyPair, other_keys: KeyPair, jwks: JwksServer
) -> None:
    cooldown = 0.3
    async with app_that_fetched_k1(backend, keys, jwks, cooldown) as client:
        # The provider rotates: k2 is published, k1 withdrawn.
        jwks.publish(jwk(other_keys, "k2"))
        await asyncio.sleep(cooldown + 0.1)
        response = await client.get("/orders", headers=bearer(token(other_keys, "k2")))
        assert response.status_code == 200, response.text
        assert jwks.hits == 2

        # The withdrawn key went with the refresh.
        withdrawn = await client.get("/orders", headers=bearer(token(keys, "k1")))
    assert withdrawn.status_code == 401
    assert withdrawn.json() == {"detail": "token signing key is unknown"}


async def test_a_new_kid_inside_the_cooldown_is_refused_until_the_cooldown_ends(
    backend: Backend, keys: KeyPair, other_keys: KeyPair, jwks: JwksServer
) -> None:
    cooldown = 1.0
    async with app_that_fetched_k1(backend, keys, jwks, cooldown) as client:
        jwks.publish(jwk(keys, "k1"), jwk(other_keys, "k2"))
        early = await client.get("/orders", headers=bearer(token(other_keys, "k2")))
        assert jwks.hits == 1
        await asyncio.sleep(cooldown + 0.1)
        late = await client.get("/orders", headers=bearer(token(other_keys, "k2")))
    assert early.status_code == 401
    assert late.status_code == 200, late.text
    assert jwks.hits == 2


async def test_unknown_kid_flood_does_not_refetch_inside_the_cooldown(
    backend: Backend, keys: KeyPair, jwks: JwksServer
) -> None:
    jwks.publish(jwk(keys, "k1"))
    async with jwks_app(backend, keys, jwks.url) as client:
        # Concurrent requests with made-up kids on a cold cache: one fetch, the rest wait for it
        # and are then refused without another one.
        made_up = [token(keys, f"made-up-{uuid.uuid4().hex}") for _ in range(25)]
        responses = await asyncio.gather(*(client.get("/orders", headers=bearer(t)) for t in made_up))
        more = [await client.get("/orders", headers=bearer(t)) for t in made_up[:10]]
        known = await client.get("/orders", headers=bearer(token(keys, "k1")))
    assert {r.status_code for r in responses + more} == {401}
    assert {r.json()["detail"] for r in responses + more} == {"token signing key is unknown"}
    assert jwks.hits == 1
    assert known.status_code == 200


async def test_a_single_key_set_accepts_tokens_without_kid(
    backend: Backend, keys: KeyPair, other_keys: KeyPair, jwks: JwksServer
) -> None:
    jwks.publish(jwk(keys, "k1"))
    async with jwks_app(backend, keys, jwks.url) as client:
        assert (await client.get("/orders", headers=bearer(token(keys, None)))).status_code == 200
    jwks.publish(jwk(keys, "k1"), jwk(other_keys, "k2"))
    async with jwks_app(backend, keys, jwks.url) as client:
        # With two keys, a token must say which one signed it.
        assert (await client.get("/orders", headers=bearer(token(keys, None)))).status_code == 401


async def test_encryption_and_symmetric_keys_in_the_set_are_ignored(
    backend: Backend, keys: KeyPair, jwks: JwksServer
) -> None:
    import jwt

    secret = "a-shared-secret-that-is-long-enough-for-hs256"
    oct_key = {"kty": "oct", "kid": "k-oct", "k": jwt.utils.base64url_encode(secret.encode()).decode()}
    jwks.publish(jwk(keys, "k-enc", use="enc"), jwk(keys, "k1"), oct_key)
    hs256 = jwt.encode(
        {"sub": "mallory", "aud": DEFAULT_AUDIENCE, "iat": 1, "exp": 4_000_000_000},
        secret,
        "HS256",
        headers={"kid": "k-oct"},
    )
    async with jwks_app(backend, keys, jwks.url) as client:
        encryption = await client.get("/orders", headers=bearer(token(keys, "k-enc")))
        symmetric = await client.get("/orders", headers=bearer(hs256))
        signing = await client.get("/orders", headers=bearer(token(keys, "k1")))
    assert encryption.status_code == 401
    assert symmetric.status_code == 401
    assert signing.status_code == 200


@pytest.mark.parametrize(
    ("status", "body"),
    [(200, b"<html>not json</html>"), (200, b'{"keys": []}'), (500, b'{"error": "down"}'), (200, b"[1, 2]")],
    ids=["not-json", "empty-set", "server-error", "not-an-object"],
)
async def test_an_unusable_jwks_answer_is_503_not_401(
    status: int, body: bytes, backend: Backend, keys: KeyPair, jwks: JwksServer
) -> None:
    jwks.status, jwks.body = status, body
    async with jwks_app(backend, keys, jwks.url) as client:
        first = await client.get("/orders", headers=bearer(token(keys, "k1")))
        # Inside the cooldown there is no new fetch, but it is still the provider's fault.
        second = await client.get("/orders", headers=bearer(token(keys, "k1")))
    for response in (first, second):
        assert response.status_code == 503, response.text
        assert response.json() == {"detail": "Token signing keys are unavailable; please retry shortly."}
        assert response.headers["retry-after"]
    assert jwks.hits == 1


async def test_an_unreachable_jwks_endpoint_is_503(backend: Backend, keys: KeyPair, jwks: JwksServer) -> None:
    url = jwks.url
    jwks.__exit__(None, None, None)  # nothing listens on that port any more
    async with jwks_app(backend, keys, url, jwt_jwks_timeout=2) as client:
        response = await client.get("/orders", headers=bearer(token(keys, "k1")))
    assert response.status_code == 503


async def test_the_provider_recovering_is_picked_up_after_the_cooldown(
    backend: Backend, keys: KeyPair, jwks: JwksServer
) -> None:
    cooldown = 0.3
    jwks.status, jwks.body = 500, b"{}"
    async with jwks_app(backend, keys, jwks.url, jwt_jwks_refresh_cooldown=cooldown) as client:
        assert (await client.get("/orders", headers=bearer(token(keys, "k1")))).status_code == 503
        jwks.status = 200
        jwks.publish(jwk(keys, "k1"))
        await asyncio.sleep(cooldown + 0.1)
        assert (await client.get("/orders", headers=bearer(token(keys, "k1")))).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"jwt_jwks_url": "file:///etc/passwd", "jwt_public_key_file": None},
            "must be an http:// or https:// URL",
        ),
        (
            {"jwt_jwks_url": "http://127.0.0.1:9/jwks.json"},
            "JWT_PUBLIC_KEY_FILE and JWT_JWKS_URL are both set",
        ),
    ],
    ids=["non-http-url", "both-key-file-and-jwks"],
)
def test_jwks_misconfiguration_is_refused_at_start_up(
    overrides: dict[str, Any], message: str, backend: Backend, keys: KeyPair
) -> None:
    with pytest.raises(KeyConfigError, match=message):
        create_app(app_settings(backend, keys, **overrides))


# --- cache age (driven by a fake clock; the fetches are still real HTTP) ---------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def numbers(keys: KeyPair) -> Any:
    return private_key(keys.private_key).public_key().public_numbers()


async def test_a_withdrawn_key_stops_working_once_the_cache_is_older_than_max_age(
    keys: KeyPair, other_keys: KeyPair, jwks: JwksServer
) -> None:
    clock = FakeClock()
    source = JwksKeys(jwks.url, refresh_cooldown=10, max_age=300, clock=clock)
    jwks.publish(jwk(keys, "k1"), jwk(other_keys, "k2"))
    assert (await source.key_for("k1")).public_numbers() == numbers(keys)

    jwks.publish(jwk(other_keys, "k2"))  # the provider withdraws k1
    clock.now += 299
    assert (await source.key_for("k1")).public_numbers() == numbers(keys)
    assert jwks.hits == 1

    clock.now += 2
    with pytest.raises(InvalidToken):
        await source.key_for("k1")
    assert (await source.key_for("k2")).public_numbers() == numbers(other_keys)
    assert jwks.hits == 2


async def test_a_failed_max_age_refresh_keeps_serving_the_cached_keys(
    keys: KeyPair, jwks: JwksServer
) -> None:
    clock = FakeClock()
    source = JwksKeys(jwks.url, refresh_cooldown=10, max_age=300, clock=clock)
    jwks.publish(jwk(keys, "k1"))
    await source.key_for("k1")

    jwks.status = 500
    clock.now += 301
    assert (await source.key_for("k1")).public_numbers() == numbers(keys)
    assert (await source.key_for("k1")).public_numbers() == numbers(keys)
    assert jwks.hits == 2  # the second call was inside the cooldown

    clock.now += 10
    await source.key_for("k1")
    assert jwks.hits == 3  # and after the cooldown it tries again
