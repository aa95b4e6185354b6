"""Infrastructure errors the rest of the app may react to, without knowing which driver raised them."""

from __future__ import annotations

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


def is_unavailability(error: BaseException) -> bool:
    """Whether `error` means the database is unreachable or overloaded, rather than a bug of ours."""
    if isinstance(error, (OSError, TimeoutError, PoolTimeoutError)):
        # Refused or reset connections, unresolvable host names, connect and command timeouts.
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated or isinstance(error, (OperationalError, InterfaceError)):
            return True
        original = error.orig
        cause = getattr(original, "__cause__", None)
        names = {type(original).__name__, type(cause).__name__}
        return bool(names & _UNAVAILABLE_DRIVER_ERRORS)
    return False
