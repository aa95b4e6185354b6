"""Configuration: one typed, immutable object filled from the environment once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec

DEFAULT_AUDIENCE = "http://127.0.0.1:8080/orders"
HTTP_PARSERS = ("auto", "h11", "httptools")
HIGHEST_PORT = 65535

PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]


class SettingsError(ValueError):
    """A setting is missing or malformed; the message is one line naming the variable."""


class Settings(msgspec.Struct, frozen=True, rename="upper"):
    """Every knob the service reads. Field names map to upper-case environment variables (rename)."""

    # Database ------------------------------------------------------------------------------------
    db_url: str = "sqlite:///orders.db"
    migrate_on_start: bool = True
    # How long `migrate` (and `serve`'s start-up migration) retries a database that is not reachable yet.
    db_wait_timeout: PositiveFloat = 60.0
    # Connections kept open for requests. Past it, overflow connections are closed as soon as they come
    # back with others idle, so under steady load they are reopened many times a second (docs/bench.md,
    # "Database pools").
    db_pool_size: PositiveInt = 20
    db_max_overflow: NonNegativeInt = 0
    db_pool_timeout: PositiveFloat = 5.0
    db_connect_timeout: PositiveFloat = 5.0
    db_statement_timeout: PositiveFloat = 15.0
    sqlite_busy_timeout: PositiveFloat = 5.0

    # Authentication ------------------------------------------------------------------------------
    jwt_public_key_file: Path | None = None
    jwt_audience: str = DEFAULT_AUDIENCE
    jwt_issuer: str | None = None
    jwt_jwks_url: str | None = None
    # Minimum seconds between two JWKS fetches (unknown kids inside this window are rejected unfetched).
    jwt_jwks_refresh_cooldown: PositiveFloat = 10.0
    jwt_jwks_timeout: PositiveFloat = 5.0
    jwt_leeway: PositiveFloat = 30.0
    auth_disabled: bool = False
    dev_keys_dir: Path = Path(".keys")

    # HTTP server ---------------------------------------------------------------------------------
    shutdown_timeout: PositiveFloat = 10.0
    # Seconds after SIGTERM that /health/ready answers 503 while requests are still served, before uvicorn's
    # graceful shutdown: a load balancer checking every second, fall 2, stops routing within about 3 s.
    shutdown_drain_seconds: NonNegativeFloat = 0.0
    keepalive_timeout: PositiveFloat = 5.0
    # With --workers N, a worker silent this long is killed and replaced; a worker still importing on a
    # busy host is silent too (over uvicorn's default 5 s seen here at a load average of 10 on 2 cores).
    worker_healthcheck_timeout: PositiveInt = 30
    # Large enough for the biggest valid order (100 items of 200 characters, even fully \u-escaped).
    max_body_bytes: PositiveInt = 262_144
    # Requests in flight per process before new ones are refused with 503 (health probes exempt).
    max_concurrency: PositiveInt = 256
    # Open connections per process (idle keep-alive and half-sent requests included) before uvicorn
    # itself answers 503: the backstop for clients that hold sockets without completing a request.
    max_connections: PositiveInt = 1024
    # Request line plus headers, under either HTTP parser: 431 and the connection closed beyond it.
    max_header_bytes: PositiveInt = 16_384
    # Seconds a client has to deliver a request's header block (from connection open, or from the
    # previous response), then its body; on expiry 408 and the connection is closed.
    header_read_timeout: PositiveFloat = 10.0
    body_read_timeout: PositiveFloat = 30.0
    # Requests in flight per authenticated subject per process: a quarter of MAX_CONCURRENCY by
    # default, so one user cannot take every slot.
    max_concurrency_per_subject: PositiveInt = 64
    # uvicorn's HTTP parser: auto (httptools when installed, as in the image), h11 or httptools.
    http_parser: str = "auto"
    # Seconds a /health/ready answer is reused: a flood of probes costs one database query per period.
    readiness_cache_seconds: PositiveFloat = 1.0
    # One JSON line per request on stdout (uvicorn's own access log is always off).
    access_log: bool = True
    log_level: str = "info"

    # Idempotency-Key ---------------------------------------------------------------------------------
    # Seconds a key and its stored response are kept (24 h); an expired key is free for a new request.
    idempotency_key_ttl: PositiveFloat = 86_400.0
    # Seconds a duplicate waits (PostgreSQL) for the still-running first request with its key before a
    # 409; under DB_STATEMENT_TIMEOUT's 15 s, so the answer is a 409, never the statement's 503.
    idempotency_key_wait: PositiveFloat = 5.0

    # Observability -------------------------------------------------------------------------------
    # GET /metrics (Prometheus text format, never behind the bearer token).
    metrics_enabled: bool = True
    # Serve /metrics on this port of the serve host instead of the main listener.
    metrics_port: PositiveInt | None = None

    # Documentation ---------------------------------------------------------------------------------
    # The interactive API reference at /docs (public, like /openapi.yaml); false answers 404 there.
    docs_enabled: bool = True

    def __post_init__(self) -> None:
        if self.http_parser not in HTTP_PARSERS:
            choices = ", ".join(HTTP_PARSERS)
            raise SettingsError(f"HTTP_PARSER must be one of {choices}, got {self.http_parser!r}")
        if self.metrics_port is not None and self.metrics_port > HIGHEST_PORT:
            raise SettingsError(
                f"METRICS_PORT must be a TCP port (1-{HIGHEST_PORT}), got {str(self.metrics_port)!r}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {
            field.encode_name: _from_environment(field, env[field.encode_name])
            for field in msgspec.structs.fields(cls)
            if field.encode_name in env
        }
        try:
            return msgspec.convert(values, cls, strict=False, dec_hook=_to_path)
        except msgspec.ValidationError as error:
            raise _refusal(error, env) from None

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


# The environment's own conventions, which msgspec does not know; it converts everything else.
_FLAG_WORDS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
    "": False,
}
# Set but blank is a broken deployment (a missing secret, a typo), never "use development keys".
_KEY_SOURCES = {"JWT_PUBLIC_KEY_FILE": "a file path", "JWT_JWKS_URL": "a URL"}


def _from_environment(field: msgspec.structs.FieldInfo, raw: str) -> Any:
    name = field.encode_name
    if field.type is bool:
        return _FLAG_WORDS.get(raw.strip().lower(), raw)
    if name in _KEY_SOURCES and not raw.strip():
        raise SettingsError(f"{name} is set but empty; give {_KEY_SOURCES[name]} or unset it")
    if field.default is None and raw == "":
        return None
    return raw


def _to_path(kind: type, value: Any) -> Any:
    if kind is Path:
        return Path(value)
    raise NotImplementedError(kind)


def _refusal(error: msgspec.ValidationError, env: Mapping[str, str]) -> SettingsError:
    """One line for a value msgspec refused, whatever msgspec's own wording."""
    if isinstance(error.__cause__, SettingsError):  # raised by __post_init__
        return error.__cause__
    name = str(error).partition(" - at `$.")[2].removesuffix("`")
    kind = {field.encode_name: field.type for field in msgspec.structs.fields(Settings)}[name]
    # Every other setting that can be malformed is a number that must be above zero (or not below it).
    if kind is bool:
        expected = "true or false"
    elif kind == NonNegativeInt:
        expected = "a whole number, 0 or more"
    elif kind == NonNegativeFloat:
        expected = "a number, 0 or more"
    else:
        expected = "a positive number"
    return SettingsError(f"{name} must be {expected}, got {env[name]!r}")
