"""Infrastructure errors the rest of the app may react to, without knowing which driver raised them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# asyncpg's names for "the server is going away or not accepting connections yet".
_UNAVAILABLE_DRIVER_ERRORS = {
    "CannotConnectNowError",
    "AdminShutdownError",
    "CrashShutdownError",
    "ConnectionDoesNotExistError",
    "ConnectionFailureError",
    "TooManyConnectionsError",
    "QueryCanceledError",
}


class DatabaseUnavailable(Exception):
    """The database could not be reached or answered in time; the request can be retried."""


def unavailable(error: BaseException) -> DatabaseUnavailable:
    """The DatabaseUnavailable that reports `error` (one of is_unavailability's)."""
    return DatabaseUnavailable(str(error) or type(error).__name__)


@contextmanager
def reported_as_unavailable() -> Iterator[None]:
    """Turn an unreachable or overloaded database into DatabaseUnavailable; other errors pass through."""
    try:
        yield
    except Exception as error:
        if is_unavailability(error):
            raise unavailable(error) from error
        raise


def is_unavailability(error: BaseException) -> bool:
    """Whether `error` means the database is unreachable or overloaded, rather than a bug of ours."""
    if isinstance(error, (OSError, TimeoutError, PoolTimeoutError)):
        # Refused or reset connections, unresolvable host names, connect and command timeouts.
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated or isinstance(error, (OperationalError, InterfaceError)):
            return True
        return _driver_unavailability(error.orig)
    # Raised by the driver itself: reads run on the driver's connection, below SQLAlchemy's execution
    # layer (CompiledRead), so nothing wraps their errors.
    return _driver_unavailability(error)


def _driver_unavailability(error: BaseException | None) -> bool:
    if error is None:
        return False
    if isinstance(error, sqlite3.OperationalError):
        # Locked, busy, or an I/O failure: what SQLAlchemy wraps as OperationalError above.
        return True
    cause = error.__cause__
    names = {type(error).__name__, type(cause).__name__}
    if names & _UNAVAILABLE_DRIVER_ERRORS:
        return True
    # asyncpg's InterfaceError("connection is closed") for a connection the server has dropped.
    return type(error).__name__ == "InterfaceError" and type(error).__module__.startswith("asyncpg")
