"""S0, the ceiling: a bare Litestar JSON endpoint served exactly like the orders app.

Same framework, same uvicorn options (both served by orders_app.cli.run_server), same event loop and
HTTP parser, same logging, same garbage-collector settings; only the work behind the route is
missing. Whatever the order API does beyond this is the cost of its own work: token verification,
the database and the order JSON.

Run: python -m bench.hello --port 8081 [--workers N]
"""

from __future__ import annotations

import argparse
import logging

import msgspec
from litestar import Litestar, get


class Hello(msgspec.Struct):
    message: str


@get("/hello", sync_to_thread=False)
def hello() -> Hello:
    return Hello(message="hello, world")


def create_app() -> Litestar:
    from orders_app.process import tune_garbage_collector

    # The same process settings as the orders app, so that S0 stays the ceiling of the same set-up.
    return Litestar(route_handlers=[hello], openapi_config=None, on_startup=[tune_garbage_collector])


def main() -> None:
    from orders_app.cli import add_listener_arguments, run_server
    from orders_app.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m bench.hello")
    add_listener_arguments(parser, port=8081)
    args = parser.parse_args()
    # The same root logging set-up, server options and stop behaviour as `orders-app serve` (a clean
    # stop exits 0; the runner checks exit statuses).
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    run_server("bench.hello:create_app", args.host, args.port, args.workers, Settings.from_env())


if __name__ == "__main__":
    main()
