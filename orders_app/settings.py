"""Configuration: one typed, immutable object filled from the environment once at start-up."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_AUDIENCE = "http://127.0.0.1:8080/orders"
HTTP_PARSERS = ("auto", "h11", "httptools")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message is one line naming the variable."""


def _parse_bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _parse_positive(kind: Callable[[str], T]) -> Callable[[str, str], T]:
    def parse(name: str, raw: str) -> T:
        try:
            value = kind(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a positive number, got {raw!r}") from None
        if not value > 0:  # type: ignore[operator]
            raise SettingsError(f"{name} must be a positive number, got {raw!r}")
        return value

    return parse


def _parse_optional_port(name: str, raw: str) -> int | None:
    if not raw.strip():
        return None
    port = _parse_positive(int)(name, raw)
    if port > 65535:
        raise SettingsError(f"{name} must be a TCP port (1-65535), got {raw!r}")
    return port


def _parse_str(_name: str, raw: str) -> str:
    return raw


def _parse_optional_str(_name: str, raw: str) -> str | None:
    return raw or None


def _parse_optional_path(name: str, raw: str) -> Path | None:
    if not raw.strip():
        # Set but empty is a broken deployment (a missing secret, a typo), never "use development keys".
        raise SettingsError(f"{name} is set but empty; give a file path or unset it")
    return Path(raw)


def _parse_optional_url(name: str, raw: str) -> str | None:
    if not raw.strip():
        # As for a key file: an empty key source must not fall back to development keys.
        raise SettingsError(f"{name} is set but empty; give a URL or unset it")
    return raw


def _parse_path(_name: str, raw: str) -> Path:
    return Path(raw)


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "str": _parse_str,
    "str | None": _parse_optional_str,
    "bool": _parse_bool,
    "int": _parse_positive(int),
    "int | None": _parse_optional_port,
    "float": _parse_positive(float),
    "Path": _parse_path,
    "Path | None": _parse_optional_path,
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob the service reads. Field names map to upper-case environment variables."""

    # Database ------------------------------------------------------------------------------------
    db_url: str = "sqlite:///orders.db"
    migrate_on_start: bool = True
    # How long `migrate` (and `serve`'s start-up migration) retries a database that is not reachable yet.
    db_wait_timeout: float = 60.0
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_timeout: float = 5.0
    db_connect_timeout: float = 5.0
    db_statement_timeout: float = 15.0
    sqlite_busy_timeout: float = 5.0

    # Authentication ------------------------------------------------------------------------------
    jwt_public_key_file: Path | None = None
    jwt_audience: str = DEFAULT_AUDIENCE
    jwt_issuer: str | None = None
    jwt_jwks_url: str | None = None
    # Minimum seconds between two JWKS fetches (unknown kids inside this window are rejected unfetched).
    jwt_jwks_refresh_cooldown: float = 10.0
    jwt_jwks_timeout: float = 5.0
    jwt_leeway: float = 30.0
    auth_disabled: bool = False
    dev_keys_dir: Path = Path(".keys")

    # HTTP server ---------------------------------------------------------------------------------
    shutdown_timeout: float = 10.0
    keepalive_timeout: float = 5.0
    # Large enough for the biggest valid order (100 items of 200 characters, even fully \u-escaped).
    max_body_bytes: int = 262_144
    # Requests in flight per process before new ones are refused with 503 (health probes exempt).
    max_concurrency: int = 256
    # Open connections per process (idle keep-alive and half-sent requests included) before uvicorn
    # itself answers 503: the backstop for clients that hold sockets without completing a request.
    max_connections: int = 1024
    # Request line plus headers, under either HTTP parser: 431 and the connection closed beyond it.
    max_header_bytes: int = 16_384
    # Seconds a client has to deliver a request's header block (from connection open, or from the
    # previous response), then its body; on expiry 408 and the connection is closed.
    header_read_timeout: float = 10.0
    body_read_timeout: float = 30.0
    # Requests in flight per authenticated subject per process: a quarter of MAX_CONCURRENCY by
    # default, so one user cannot take every slot.
    max_concurrency_per_subject: int = 64
    # uvicorn's HTTP parser: auto (httptools when installed, as in the image), h11 or httptools.
    http_parser: str = "auto"
    # Seconds a /health/ready answer is reused: a flood of probes costs one database query per period.
    readiness_cache_seconds: float = 1.0
    # One JSON line per request on stdout (uvicorn's own access log is always off).
    access_log: bool = True
    log_level: str = "info"

    # Observability -------------------------------------------------------------------------------
    # GET /metrics (Prometheus text format, never behind the bearer token).
    metrics_enabled: bool = True
    # Serve /metrics on this port of the serve host instead of the main listener.
    metrics_port: int | None = None

    # Documentation ---------------------------------------------------------------------------------
    # The interactive API reference at /docs (public, like /openapi.yaml); false answers 404 there.
    docs_enabled: bool = True

    def __post_init__(self) -> None:
        if self.http_parser not in HTTP_PARSERS:
            choices = ", ".join(HTTP_PARSERS)
            raise SettingsError(f"HTTP_PARSER must be one of {choices}, got {self.http_parser!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            name = field.name.upper()
            if name in env:
                parser = _parse_optional_url if name == "JWT_JWKS_URL" else _PARSERS[str(field.type)]
                values[field.name] = parser(name, env[name])
        return cls(**values)

    @property
    def development_keys(self) -> bool:
        """No key file and no JWKS URL configured: the development key pair in `dev_keys_dir` is used."""
        return self.jwt_public_key_file is None and self.jwt_jwks_url is None

    @property
    def effective_public_key_file(self) -> Path | None:
        if self.jwt_public_key_file is not None:
            return self.jwt_public_key_file
        if self.jwt_jwks_url is not None:
            return None
        return self.dev_keys_dir / "public_key.pem"
