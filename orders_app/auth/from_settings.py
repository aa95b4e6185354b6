"""The authenticator the settings ask for: which key source, checked once at start-up."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from orders_app.auth.authenticator import Authenticator
from orders_app.auth.key_sources import JwksKeys, KeySource, StaticKey
from orders_app.auth.keys import KeyConfigError, load_public_key
from orders_app.auth.verifier import TokenVerifier
from orders_app.settings import Settings

# More skew than this is a broken clock, and a large leeway quietly extends every token's lifetime.
MAX_LEEWAY_SECONDS = 300.0


def build_authenticator(settings: Settings) -> Authenticator:
    """Load key material once, at start-up; KeyConfigError (one clear line) when it is unusable."""
    if settings.auth_disabled:
        return Authenticator(verifier=None)
    if not settings.jwt_audience.strip():
        # An empty audience would only match tokens minted for no service in particular.
        raise KeyConfigError("JWT_AUDIENCE must not be empty")
    if settings.jwt_leeway > MAX_LEEWAY_SECONDS:
        raise KeyConfigError(f"JWT_LEEWAY={settings.jwt_leeway:g} is above {MAX_LEEWAY_SECONDS:g} seconds")
    keys = _jwks_keys(settings) if settings.jwt_jwks_url else _static_key(settings)
    return Authenticator(
        verifier=TokenVerifier(
            keys,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=settings.jwt_leeway,
        )
    )


def _jwks_keys(settings: Settings) -> KeySource:
    url = settings.jwt_jwks_url
    assert url is not None
    if settings.jwt_public_key_file is not None:
        # Two sources of truth for who may sign tokens is a misconfiguration, not a preference.
        raise KeyConfigError("JWT_PUBLIC_KEY_FILE and JWT_JWKS_URL are both set; set only one")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        # urllib would also open file:// and ftp:// URLs.
        raise KeyConfigError(f"JWT_JWKS_URL={url} must be an http:// or https:// URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        # Keys fetched in clear text can be swapped in transit, and with them every token accepted.
        raise KeyConfigError(f"JWT_JWKS_URL={url} must use https:// (http:// only on loopback)")
    return JwksKeys(
        url,
        refresh_cooldown=settings.jwt_jwks_refresh_cooldown,
        timeout=settings.jwt_jwks_timeout,
    )


def _static_key(settings: Settings) -> KeySource:
    key_file = settings.effective_public_key_file
    assert key_file is not None
    variable = "JWT_PUBLIC_KEY_FILE" if settings.jwt_public_key_file else "development key"
    if settings.development_keys and not key_file.is_file():
        raise KeyConfigError(
            f"no JWT_PUBLIC_KEY_FILE set and no development key at {key_file}; "
            "run `orders-app keys init` or set JWT_PUBLIC_KEY_FILE"
        )
    return StaticKey(load_public_key(key_file, variable=variable))


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False
