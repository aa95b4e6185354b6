"""The `orders-app` command: serve, migrate, openapi, keys init, token."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from orders_app.auth.keys import KeyConfigError, KeyPair, create_key_pair, load_private_key
from orders_app.observability.log_setup import configure_logging, logging_config
from orders_app.settings import Settings, SettingsError

logger = logging.getLogger("orders_app")


class StartupError(Exception):
    """Start-up cannot go on; the message is the one line the operator needs."""


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as error:
        raise StartupError(str(error)) from None


def _prepare_development_keys(settings: Settings) -> None:
    pair = KeyPair(settings.dev_keys_dir)
    if not pair.exists():
        try:
            create_key_pair(pair.directory)
        except OSError as error:
            raise StartupError(
                f"cannot create development keys in {pair.directory}/ ({error.strerror}); "
                "set JWT_PUBLIC_KEY_FILE or DEV_KEYS_DIR"
            ) from None
        logger.warning("created a development key pair in %s/ (never use it in production)", pair.directory)
    else:
        logger.warning("using the development key pair in %s/ (never use it in production)", pair.directory)


def _check_configuration(settings: Settings) -> None:
    """Fail before binding a port when the database URL or the auth configuration is unusable."""
    from orders_app.auth.from_settings import build_authenticator
    from orders_app.db.url import async_url
    from orders_app.edge.protocols import protocol_class

    try:
        async_url(settings.db_url)
        build_authenticator(settings)
        # Only which protocol HTTP_PARSER names (httptools may be missing); run_server builds the factory.
        protocol_class(settings.http_parser)
    except (SettingsError, KeyConfigError) as error:
        raise StartupError(str(error)) from None


def migrate(settings: Settings) -> None:
    """Upgrade the schema, waiting up to DB_WAIT_TIMEOUT for the database to accept connections."""
    from orders_app.db.migrations import DatabaseNotReachable, upgrade_to_head
    from orders_app.db.url import async_url

    try:
        url = async_url(settings.db_url)
    except SettingsError as error:
        raise StartupError(str(error)) from None
    try:
        upgrade_to_head(
            settings.db_url,
            wait_timeout=settings.db_wait_timeout,
            connect_timeout=settings.db_connect_timeout,
            sqlite_lock_wait=settings.db_wait_timeout,
        )
    except DatabaseNotReachable as error:
        raise StartupError(str(error)) from None
    except Exception as error:
        raise StartupError(
            f"migration of {url.render_as_string(hide_password=True)} failed: "
            f"{type(error).__name__}: {error}".splitlines()[0]
        ) from error


def serve(args: argparse.Namespace) -> None:
    from orders_app.process import pause_garbage_collector

    # Until the app's start-up hook (tune_garbage_collector) resumes it; run_server, for a supervisor.
    pause_garbage_collector()
    settings = _settings()
    if settings.auth_disabled:
        logger.warning("AUTH_DISABLED is set: requests are served WITHOUT authentication")
    elif settings.development_keys:
        _prepare_development_keys(settings)
    _check_configuration(settings)
    if settings.migrate_on_start:
        migrate(settings)
    base = f"http://{args.host}:{args.port}"
    logger.info("orders-app listening on %s (contract at %s/openapi.yaml)", base, base)
    if settings.development_keys and not settings.auth_disabled:
        logger.info("get a development token with:  uv run orders-app token --sub alice")
    from orders_app.observability.metrics import multiprocess_directory, serve_metrics

    with multiprocess_directory(args.workers if settings.metrics_enabled else 1):
        if settings.metrics_enabled and settings.metrics_port is not None:
            serve_metrics(args.host, settings.metrics_port)
            logger.info("metrics on http://%s:%d/metrics", args.host, settings.metrics_port)
        run_server("orders_app.app:create_asgi_app", args.host, args.port, args.workers, settings)


def run_server(factory: str, host: str, port: int, workers: int, settings: Settings) -> None:
    """Serve an app factory with uvicorn; the benchmark's bare app is served through this too."""
    import gc

    import uvicorn

    if workers > 1:
        # The supervisor serves no app, so no start-up hook resumes its collector; workers start collecting.
        gc.enable()
    # uvicorn finishes in-flight requests on SIGTERM/SIGINT, then re-raises the signal so that the
    # previous handler decides the exit status. A completed graceful stop is a success: exit 0, so
    # that container engines and supervisors do not report a clean shutdown as a crash.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _exit_after_graceful_stop)
    options = server_options(settings)
    if workers > 1:
        # uvicorn's supervisor, which also passes a second SIGTERM/SIGINT on to draining workers.
        from orders_app.edge.supervisor import run_workers

        run_workers(uvicorn.Config(factory, factory=True, host=host, port=port, workers=workers, **options))
        return
    uvicorn.run(factory, factory=True, host=host, port=port, workers=workers, **options)


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn options besides the app and the address; the benchmark's bare app is served with these too."""
    from orders_app.edge.guard import ProtocolLimits
    from orders_app.edge.protocols import server_protocol
    from orders_app.observability.prometheus import PrometheusSink
    from orders_app.observability.sink import NO_METRICS, MetricsSink

    # Pickled with uvicorn's Config into each worker, where it records into that worker's metrics.
    sink: MetricsSink = PrometheusSink() if settings.metrics_enabled else NO_METRICS
    limits = ProtocolLimits.from_settings(settings, sink)
    return {
        # uvicorn's own protocol, extended with header and body read deadlines, a header bound under
        # both parsers and probe-exempt connection limits (orders_app/edge/, docs/limits.md).
        "http": server_protocol(settings.http_parser, limits),
        "timeout_graceful_shutdown": int(settings.shutdown_timeout),
        "timeout_keep_alive": int(settings.keepalive_timeout),
        "timeout_worker_healthcheck": settings.worker_healthcheck_timeout,
        # Applied again in each --workers process before it logs anything: one format everywhere.
        "log_config": logging_config(settings),
        "log_level": settings.log_level.lower(),
        # The server header tells an attacker which stack to probe and a client nothing useful.
        "server_header": False,
        # The app writes its own structured access log (orders_app.edge.access_log.AccessLog).
        "access_log": False,
        # Open connections per process: beyond it uvicorn answers a plain-text 503, except to the
        # health probes (see docs/limits.md).
        "limit_concurrency": settings.max_connections,
    }


def _exit_after_graceful_stop(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def print_openapi(_: argparse.Namespace) -> None:
    from orders_app.contract import load_contract

    text, _document = load_contract()
    sys.stdout.write(text)


def keys_init(args: argparse.Namespace) -> None:
    directory = Path(args.directory) if args.directory else _settings().dev_keys_dir
    pair = KeyPair(directory)
    existing = pair.existing_files()
    if existing and not args.force:
        names = ", ".join(path.name for path in existing)
        raise StartupError(f"{directory}/ already holds {names}; pass --force to replace the key pair")
    try:
        create_key_pair(directory)
    except OSError as error:
        raise StartupError(f"cannot write keys to {directory}/ ({error.strerror})") from None
    print(f"private key: {pair.private_key} (owner-only; never commit or ship it)")
    print(f"public key:  {pair.public_key}")
    print(f"certificate: {pair.certificate}")


def token(args: argparse.Namespace) -> None:
    from orders_app.auth.dev_tokens import mint_token

    settings = _settings()
    if not args.sub.strip():
        raise StartupError("--sub must not be empty")
    if args.ttl <= 0:
        raise StartupError("--ttl must be a positive number of seconds")
    directory = Path(args.keys_dir) if args.keys_dir else settings.dev_keys_dir
    try:
        private_key = load_private_key(KeyPair(directory).private_key)
    except KeyConfigError as error:
        raise StartupError(str(error)) from None
    print(
        mint_token(
            private_key,
            subject=args.sub,
            audience=args.audience or settings.jwt_audience,
            issuer=args.issuer or settings.jwt_issuer,
            ttl_seconds=args.ttl,
        )
    )


def add_listener_arguments(parser: argparse.ArgumentParser, port: int) -> None:
    """--host, --port and --workers, the arguments of run_server; the benchmark's bare app takes them too."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--workers", type=int, default=1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orders-app", description="CoffeeMesh Orders service")
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser("serve", help="run the HTTP API (migrates first unless told not to)")
    add_listener_arguments(serve_cmd, port=8080)
    serve_cmd.set_defaults(handler=serve)

    migrate_cmd = commands.add_parser("migrate", help="upgrade the database schema to the newest revision")
    migrate_cmd.set_defaults(handler=lambda _args: migrate(_settings()))

    openapi_cmd = commands.add_parser("openapi", help="print the OpenAPI contract (YAML)")
    openapi_cmd.set_defaults(handler=print_openapi)

    keys_cmd = commands.add_parser("keys", help="development key pair")
    keys_sub = keys_cmd.add_subparsers(dest="keys_command", required=True)
    init_cmd = keys_sub.add_parser("init", help="write a development RSA key pair and certificate")
    init_cmd.add_argument("directory", nargs="?", help="where to write them (default: DEV_KEYS_DIR, .keys)")
    init_cmd.add_argument("--force", action="store_true", help="replace an existing key pair")
    init_cmd.set_defaults(handler=keys_init)

    token_cmd = commands.add_parser("token", help="print a token signed with the development private key")
    token_cmd.add_argument("--sub", required=True, help="the user the token speaks for")
    token_cmd.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    token_cmd.add_argument("--keys-dir", help="directory holding private_key.pem (default: .keys)")
    token_cmd.add_argument("--audience", help="default: JWT_AUDIENCE")
    token_cmd.add_argument("--issuer", help="default: JWT_ISSUER")
    token_cmd.set_defaults(handler=token)
    return parser


def _logging_settings() -> Settings:
    """LOG_FORMAT and LOG_LEVEL alone, read before the rest so that any other malformed setting is
    reported in the chosen format; the defaults when one of these two is malformed (start-up then
    stops on it, in the console format)."""
    chosen = {name: os.environ[name] for name in ("LOG_FORMAT", "LOG_LEVEL") if name in os.environ}
    try:
        return Settings.from_env(chosen)
    except SettingsError:
        return Settings()


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging(_logging_settings())
    args = _parser().parse_args(argv)
    try:
        args.handler(args)
    except StartupError as error:
        logger.error("orders-app: error: %s", error)
        return 2
    return 0
