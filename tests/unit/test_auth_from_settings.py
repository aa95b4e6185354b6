"""The authenticator built from the settings: which key source, and every configuration it refuses.

The same refusals reach the operator as one line from `orders-app serve` (tests/api/test_auth_startup.py);
here they are checked at the builder itself, without a process or an app.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

import pytest

from orders_app.auth.dev_tokens import mint_token
from orders_app.auth.failures import WRONG_AUDIENCE, InvalidToken, KeysUnavailable
from orders_app.auth.from_settings import MAX_LEEWAY_SECONDS, build_authenticator
from orders_app.auth.keys import KeyConfigError, KeyPair, load_private_key
from orders_app.cli import StartupError, _check_configuration
from orders_app.settings import DEFAULT_AUDIENCE, Settings

private_key = functools.cache(load_private_key)


def bearer(keys: KeyPair, audience: str = DEFAULT_AUDIENCE) -> str:
    return "Bearer " + mint_token(private_key(keys.private_key), subject="alice", audience=audience)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"jwt_audience": ""}, "JWT_AUDIENCE must not be empty"),
        ({"jwt_audience": "  "}, "JWT_AUDIENCE must not be empty"),
        ({"jwt_leeway": 300.5}, "JWT_LEEWAY=300.5 is above 300 seconds"),
        (
            {"jwt_jwks_url": "https://idp.example.com/jwks.json"},
            "JWT_PUBLIC_KEY_FILE and JWT_JWKS_URL are both set; set only one",
        ),
    ],
    ids=["audience-empty", "audience-blank", "leeway-too-large", "key-file-and-jwks"],
)
def test_a_key_file_configuration_is_refused_in_one_line(
    overrides: dict[str, Any], message: str, keys: KeyPair
) -> None:
    settings = Settings(jwt_public_key_file=keys.public_key, **overrides)
    with pytest.raises(KeyConfigError) as refused:
        build_authenticator(settings)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "JWT_JWKS_URL=file:///etc/passwd must be an http:// or https:// URL"),
        (
            "ftp://idp.example.com/k",
            "JWT_JWKS_URL=ftp://idp.example.com/k must be an http:// or https:// URL",
        ),
        (
            "http://idp.example.com/jwks.json",
            "JWT_JWKS_URL=http://idp.example.com/jwks.json must use https:// (http:// only on loopback)",
        ),
        (
            "http://10.0.0.1/jwks.json",
            "JWT_JWKS_URL=http://10.0.0.1/jwks.json must use https:// (http:// only on loopback)",
        ),
    ],
    ids=["file", "ftp", "plain-http-host", "plain-http-private-address"],
)
def test_a_jwks_url_is_refused_in_one_line(url: str, message: str) -> None:
    with pytest.raises(KeyConfigError) as refused:
        build_authenticator(Settings(jwt_jwks_url=url))
    assert str(refused.value) == message


def test_the_leeway_bound_itself_is_accepted(keys: KeyPair) -> None:
    build_authenticator(Settings(jwt_public_key_file=keys.public_key, jwt_leeway=MAX_LEEWAY_SECONDS))


def test_a_missing_development_key_names_the_command_that_creates_it(tmp_path: Path) -> None:
    with pytest.raises(KeyConfigError) as refused:
        build_authenticator(Settings(dev_keys_dir=tmp_path / "keys"))
    assert str(refused.value) == (
        f"no JWT_PUBLIC_KEY_FILE set and no development key at {tmp_path / 'keys' / 'public_key.pem'}; "
        "run `orders-app keys init` or set JWT_PUBLIC_KEY_FILE"
    )


def test_an_unreadable_development_key_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "public_key.pem").write_bytes(b"hello\n")
    with pytest.raises(KeyConfigError) as refused:
        build_authenticator(Settings(dev_keys_dir=tmp_path))
    assert str(refused.value) == (
        f"development key={tmp_path / 'public_key.pem'} "
        "is neither a PEM public key nor a PEM X.509 certificate"
    )


async def test_a_key_file_verifies_tokens_for_the_configured_audience(keys: KeyPair) -> None:
    authenticator = build_authenticator(Settings(jwt_public_key_file=keys.public_key))
    assert await authenticator.owner(bearer(keys)) == "alice"
    with pytest.raises(InvalidToken) as refused:
        await authenticator.owner(bearer(keys, audience="another-service"))
    assert refused.value.description == WRONG_AUDIENCE


async def test_the_development_key_pair_verifies_tokens(keys: KeyPair) -> None:
    authenticator = build_authenticator(Settings(dev_keys_dir=keys.directory))
    assert await authenticator.owner(bearer(keys)) == "alice"


async def test_a_jwks_url_makes_the_keys_come_from_that_endpoint(keys: KeyPair) -> None:
    # Nothing listens on the discard port: the token needs the endpoint's keys, so the fetch fails.
    authenticator = build_authenticator(Settings(jwt_jwks_url="http://127.0.0.1:9/jwks.json"))
    with pytest.raises(KeysUnavailable, match="cannot fetch signing keys"):
        await authenticator.owner(bearer(keys))


async def test_auth_disabled_serves_every_request_as_anonymous_whatever_else_is_set(keys: KeyPair) -> None:
    authenticator = build_authenticator(Settings(auth_disabled=True, jwt_audience="", jwt_leeway=86400))
    assert authenticator.verifier is None
    assert await authenticator.owner(None) == "anonymous"
    assert await authenticator.owner(bearer(keys, audience="another-service")) == "anonymous"


def test_the_cli_checks_keys_without_the_app_factory(
    keys: KeyPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The key check runs before a port is bound; the web application is built only by the server.
    # None in sys.modules makes any import of the factory raise ImportError, even if already loaded.
    monkeypatch.setitem(sys.modules, "orders_app.app", None)
    _check_configuration(
        Settings(jwt_public_key_file=keys.public_key, db_url=f"sqlite:///{tmp_path / 'o.db'}")
    )
    with pytest.raises(StartupError, match="JWT_AUDIENCE must not be empty"):
        _check_configuration(Settings(jwt_public_key_file=keys.public_key, jwt_audience=""))
