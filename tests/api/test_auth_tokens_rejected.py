"""Every way a bearer token can be unacceptable answers 401 with a JSON detail and a Bearer challenge.

Each case is checked the same way: status 401, `{"detail": "<fixed text>"}`, a `WWW-Authenticate`
header that starts with `Bearer` and carries `error=`, and the token itself nowhere in the response.
The accepted-token controls next to them show that the rejections are not the app refusing everything.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from orders_app.api.errors import EXCEPTION_HANDLERS
from orders_app.app import create_asgi_app
from orders_app.auth.dev_tokens import mint_token
from orders_app.auth.failures import DESCRIPTIONS, InvalidToken
from orders_app.auth.keys import KeyPair, load_private_key
from orders_app.settings import DEFAULT_AUDIENCE
from tests.conftest import Backend, TokenMinter, app_settings

# Loading (and validating) an RSA private key takes a sizeable fraction of a second; load each once.
private_key = functools.cache(load_private_key)

ISSUER = "https://id.coffeemesh.test/"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value).encode())


def claims(**changes: Any) -> dict[str, Any]:
    """Valid claims for the default audience; a change of None removes the claim."""
    now = int(time.time())
    values: dict[str, Any] = {"sub": "mallory", "aud": DEFAULT_AUDIENCE, "iat": now, "exp": now + 300}
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def signed(keys: KeyPair, header: dict[str, Any] | None = None, **changes: Any) -> str:
    return jwt.encode(claims(**changes), private_key(keys.private_key), "RS256", headers=header)  # type: ignore[arg-type]


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: str = "") -> str:
    return f"{b64json(header)}.{b64json(payload)}.{signature}"


def hs256_with_public_key(secret: bytes) -> str:
    """The classic forgery: HMAC over the token with the server's *public* key as the shared secret."""
    signing_input = f"{b64json({'alg': 'HS256', 'typ': 'JWT'})}.{b64json(claims())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


@dataclass(frozen=True)
class Case:
    id: str
    # Builds the Authorization header value (None: no header) from the trusted and an untrusted key pair.
    authorization: Callable[[KeyPair, KeyPair], str | None]
    detail: str
    error: str = "invalid_token"


def without(claim: str) -> Callable[[KeyPair, KeyPair], str]:
    """A token signed by the trusted key whose claims lack `claim`."""
    return lambda keys, other: signed(keys, **{claim: None})


def bearer(build: Callable[[KeyPair, KeyPair], str]) -> Callable[[KeyPair, KeyPair], str]:
    return lambda keys, other: f"Bearer {build(keys, other)}"


HOUR = 3600
CASES = [
    Case("no-header", lambda keys, other: None, "a bearer token is required", "invalid_request"),
    Case(
        "basic-scheme",
        lambda keys, other: f"Basic {signed(keys)}",
        "the authorization scheme must be Bearer",
        "invalid_request",
    ),
    Case(
        "bare-token-no-scheme",
        lambda keys, other: signed(keys),
        "the authorization scheme must be Bearer",
        "invalid_request",
    ),
    Case("empty-bearer", lambda keys, other: "Bearer ", "the bearer token is empty", "invalid_request"),
    Case("malformed-one-segment", bearer(lambda keys, other: "definitely-not-a-jwt"), "token is malformed"),
    Case("malformed-garbage-segments", bearer(lambda keys, other: "abc.def.ghi"), "token is malformed"),
    Case(
        # The signature is checked before the payload is parsed.
        "unsigned-payload-not-json",
        bearer(lambda keys, other: f"{b64json({'alg': 'RS256'})}.{b64(b'not json')}.{b64(b'sig')}"),
        "token signature is invalid",
    ),
    Case(
        "signed-payload-not-json",
        bearer(lambda keys, other: jwt.api_jws.encode(b"not json", private_key(keys.private_key), "RS256")),  # type: ignore[arg-type]
        "token is malformed",
    ),
    Case(
        "kid-not-a-string",
        bearer(lambda keys, other: unsigned({"alg": "RS256", "kid": 7}, claims(), b64(b"sig"))),
        "token is malformed",
    ),
    Case(
        "unknown-critical-extension",
        bearer(
            lambda keys, other: signed(keys, header={"crit": ["x-bound-to-host"], "x-bound-to-host": "a"})
        ),
        "token is malformed",
    ),
    Case("bad-signature-other-key", bearer(lambda keys, other: signed(other)), "token signature is invalid"),
    Case(
        "bad-signature-tampered-payload",
        bearer(
            lambda keys, other: ".".join(
                [signed(keys).split(".")[0], b64json(claims(sub="admin")), signed(keys).split(".")[2]]
            )
        ),
        "token signature is invalid",
    ),
    Case(
        "alg-none",
        bearer(lambda keys, other: unsigned({"alg": "none", "typ": "JWT"}, claims())),
        "token algorithm is not accepted",
    ),
    Case(
        "alg-none-uppercase",
        bearer(lambda keys, other: unsigned({"alg": "NONE", "typ": "JWT"}, claims())),
        "token algorithm is not accepted",
    ),
    Case(
        "hs256-public-key-as-secret",
        bearer(lambda keys, other: hs256_with_public_key(keys.public_key.read_bytes())),
        "token algorithm is not accepted",
    ),
    Case(
        "hs256-certificate-as-secret",
        bearer(lambda keys, other: hs256_with_public_key(keys.certificate.read_bytes())),
        "token algorithm is not accepted",
    ),
    Case(
        "es256-header-against-rsa-key",
        bearer(lambda keys, other: jwt.encode(claims(), ec.generate_private_key(ec.SECP256R1()), "ES256")),
        "token algorithm is not accepted",
    ),
    Case(
        "expired", bearer(lambda keys, other: signed(keys, exp=int(time.time()) - HOUR)), "token has expired"
    ),
    Case(
        "not-yet-valid-nbf",
        bearer(lambda keys, other: signed(keys, nbf=int(time.time()) + HOUR)),
        "token is not yet valid",
    ),
    Case(
        "issued-in-the-future-iat",
        bearer(lambda keys, other: signed(keys, iat=int(time.time()) + HOUR)),
        "token is not yet valid",
    ),
    Case(
        "wrong-audience",
        bearer(lambda keys, other: signed(keys, aud="https://payments.coffeemesh.test")),
        "token audience is not accepted",
    ),
    *(
        Case(f"missing-{claim}", bearer(without(claim)), f"token lacks the required '{claim}' claim")
        for claim in ("sub", "exp", "iat", "aud")
    ),
    Case("empty-sub", bearer(lambda keys, other: signed(keys, sub="  ")), "token subject is empty"),
    Case("sub-not-a-string", bearer(lambda keys, other: signed(keys, sub=42)), "token is invalid"),
    Case(
        "sub-too-long", bearer(lambda keys, other: signed(keys, sub="u" * 256)), "token subject is too long"
    ),
]


def assert_rejected(response: Any, detail: str, error: str, token: str | None) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"detail": detail}
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'error="{error}"' in challenge
    assert f'error_description="{detail}"' in challenge
    if token:
        # Neither the whole token nor its signature part (the secret-ish bit) may come back.
        for secret in {token, token.rsplit(".", 1)[-1]} - {""}:
            assert secret not in response.text
            assert all(secret not in value for value in response.headers.values())


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_rejected_token_answers_401_with_a_bearer_challenge(
    case: Case, client: AsyncTestClient[Litestar], keys: KeyPair, other_keys: KeyPair
) -> None:
    authorization = case.authorization(keys, other_keys)
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await client.get("/orders", headers=headers)
    token = authorization.partition(" ")[2] if authorization else None
    assert_rejected(response, case.detail, case.error, token)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/orders"),
        ("GET", "/orders/00000000-0000-4000-8000-000000000000"),
        ("PUT", "/orders/00000000-0000-4000-8000-000000000000"),
        ("DELETE", "/orders/00000000-0000-4000-8000-000000000000"),
        ("POST", "/orders/00000000-0000-4000-8000-000000000000/pay"),
        ("POST", "/orders/00000000-0000-4000-8000-000000000000/cancel"),
    ],
)
async def test_every_orders_endpoint_requires_a_token(
    method: str, path: str, client: AsyncTestClient[Litestar]
) -> None:
    # Authentication runs before the body is read: even an invalid body gets the 401, not a 422.
    response = await client.request(method, path, content=b"{not json")
    assert_rejected(response, "a bearer token is required", "invalid_request", None)


@pytest.mark.parametrize("path", ["/health/live", "/health/ready", "/openapi.yaml", "/openapi.json"])
async def test_health_and_contract_need_no_token(path: str, client: AsyncTestClient[Litestar]) -> None:
    response = await client.get(path)
    assert response.status_code == 200


async def test_a_valid_token_is_accepted(client: AsyncTestClient[Litestar], keys: KeyPair) -> None:
    response = await client.get("/orders", headers={"Authorization": f"Bearer {signed(keys)}"})
    assert response.status_code == 200, response.text


async def test_the_scheme_name_is_case_insensitive(client: AsyncTestClient[Litestar], keys: KeyPair) -> None:
    response = await client.get("/orders", headers={"Authorization": f"bearer {signed(keys)}"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("changes", "accepted"),
    [
        # The default leeway is 30 s (JWT_LEEWAY): small clock differences pass, larger ones do not.
        ({"exp": -10}, True),
        ({"exp": -60}, False),
        ({"nbf": 10}, True),
        ({"nbf": 60}, False),
        ({"iat": 10}, True),
        ({"iat": 60}, False),
    ],
    ids=["exp-10s-ago", "exp-60s-ago", "nbf-in-10s", "nbf-in-60s", "iat-in-10s", "iat-in-60s"],
)
async def test_clock_skew_leeway(
    changes: dict[str, int], accepted: bool, client: AsyncTestClient[Litestar], keys: KeyPair
) -> None:
    now = int(time.time())
    token = signed(keys, **{name: now + offset for name, offset in changes.items()})
    response = await client.get("/orders", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == (200 if accepted else 401), response.text


# --- issuer ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def issuer_client(backend: Backend, keys: KeyPair) -> Any:
    served = create_asgi_app(app_settings(backend, keys, jwt_issuer=ISSUER))
    async with AsyncTestClient(served) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("issuer", "detail"),
    [
        ("https://evil.example/", "token issuer is not accepted"),
        (ISSUER.rstrip("/"), "token issuer is not accepted"),
        (None, "token lacks the required 'iss' claim"),
    ],
    ids=["other-issuer", "issuer-without-trailing-slash", "no-iss-claim"],
)
async def test_wrong_issuer_is_rejected_when_an_issuer_is_configured(
    issuer: str | None, detail: str, issuer_client: AsyncTestClient[Litestar], keys: KeyPair
) -> None:
    token = mint_token(
        private_key(keys.private_key), subject="mallory", audience=DEFAULT_AUDIENCE, issuer=issuer
    )
    response = await issuer_client.get("/orders", headers={"Authorization": f"Bearer {token}"})
    assert_rejected(response, detail, "invalid_token", token)


@pytest.mark.parametrize(
    "issuer_configured", [True, False], ids=["the-configured-issuer", "any-iss-without-a-configured-issuer"]
)
async def test_an_acceptable_iss_is_served(
    issuer_configured: bool,
    issuer_client: AsyncTestClient[Litestar],
    client: AsyncTestClient[Litestar],
    token_for: TokenMinter,
) -> None:
    served, iss = (issuer_client, ISSUER) if issuer_configured else (client, "https://anyone/")
    response = await served.get(
        "/orders", headers={"Authorization": f"Bearer {token_for('alice', issuer=iss)}"}
    )
    assert response.status_code == 200, response.text


# --- the challenge header cannot be broken ------------------------------------------------------

# RFC 6750: the characters allowed inside error and error_description quotes.
HEADER_SAFE = {chr(code) for code in (0x20, 0x21, *range(0x23, 0x5C), *range(0x5D, 0x7F))}


def test_every_description_fits_inside_the_challenge_quotes() -> None:
    assert DESCRIPTIONS, "the fixed description set is empty"
    for description in DESCRIPTIONS:
        assert set(description) <= HEADER_SAFE, description


@pytest.mark.parametrize(
    "description", ['quote " inside', "line\r\nSet-Cookie: a=b", "back\\slash", "tab\there"]
)
def test_an_unsafe_description_is_left_out_of_the_challenge(description: str) -> None:
    handler = EXCEPTION_HANDLERS[InvalidToken]
    response = handler(None, InvalidToken(description))  # type: ignore[arg-type]
    challenge = response.headers["WWW-Authenticate"]
    assert challenge == 'Bearer realm="orders", error="invalid_token"'
    assert response.status_code == 401


def test_cases_cover_every_required_rejection() -> None:
    # These rejections are required; each must stay a case above.
    required = {
        "no-header",
        "basic-scheme",
        "malformed-one-segment",
        "bad-signature-other-key",
        "alg-none",
        "hs256-public-key-as-secret",
        "expired",
        "not-yet-valid-nbf",
        "wrong-audience",
        "missing-sub",
        "missing-exp",
    }
    assert required <= {case.id for case in CASES}
