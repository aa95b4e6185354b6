"""The live tier: `orders-app serve` as a subprocess (tests/live_server.py), real sockets on 127.0.0.1.

`server` is the tier's one live-server fixture: a server per module (and per parser, per backend where the
module asks), started on first use and stopped after the module's last test. A module states what differs:
- `pytestmark = both_parsers`: every test runs under h11 and under httptools (default: `auto`, httptools);
- a `server_settings` fixture: the server's environment (limits, deadlines), the rest as an operator's
  (logs in JSON, as the image writes them);
- a `server_db_url` fixture: the database (default: a migrated SQLite database of the module's own; a
  module on every backend returns `backend.url`);
- a `server_args` fixture: arguments after `serve --port N` (default: none; `--workers 2`, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orders_app.auth.keys import KeyPair
from tests.conftest import run_migrations
from tests.live_server import PARSERS, LiveServer, base_env

both_parsers = pytest.mark.parametrize("http_parser", PARSERS, indirect=True)


@pytest.fixture(scope="module")
def http_parser(request: pytest.FixtureRequest) -> str:
    parser: str = getattr(request, "param", "auto")
    return parser


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    return {}


@pytest.fixture(scope="module")
def server_workdir(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, http_parser: str
) -> Path:
    module = request.module.__name__.rpartition(".")[2].removeprefix("test_")
    return tmp_path_factory.mktemp(f"{module}-{http_parser}")


@pytest.fixture(scope="module")
def server_db_url(server_workdir: Path) -> str:
    url = f"sqlite:///{server_workdir / 'orders.db'}"
    run_migrations(url)
    return url


@pytest.fixture(scope="module")
def server_args() -> tuple[str, ...]:
    return ()


@pytest.fixture(scope="module")
def server(
    server_workdir: Path,
    server_db_url: str,
    server_settings: dict[str, str],
    server_args: tuple[str, ...],
    http_parser: str,
    keys: KeyPair,
) -> Iterator[LiveServer]:
    defaults = {
        "DB_URL": server_db_url,
        "MIGRATE_ON_START": "false",
        "JWT_PUBLIC_KEY_FILE": str(keys.public_key),
        "LOG_FORMAT": "json",
        **({} if http_parser == "auto" else {"HTTP_PARSER": http_parser}),
    }
    env = base_env(**{**defaults, **server_settings})
    with LiveServer(server_workdir, env, args=server_args) as live:
        yield live
