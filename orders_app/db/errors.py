"""Infrastructure errors the rest of the app may react to, without knowing which driver raised them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# PostgreSQL SQLSTATE classes that mean "not now" rather than "not this statement": connection
# exceptions (08), insufficient resources such as too many connections (53), operator intervention
# such as a shutdown, a server still starting or a cancelled statement (57).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")


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
    """Whether `error` means the database is unreachable or overloaded, rather than a bug of ours.

    Errors of statements arrive wrapped by SQLAlchemy: a connection the dialect found closed is
    `connection_invalidated`; SQLite's "database is locked" and I/O failures are OperationalError.
    """
    if isinstance(error, (OSError, TimeoutError, PoolTimeoutError)):
        # Refused or reset connections, unresolvable host names, connect and statement timeouts,
        # and the pool's own wait.
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated or isinstance(error, (OperationalError, InterfaceError)):
            return True
        sqlstate = getattr(error.orig, "sqlstate", None)
        return isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATE_CLASSES)
    return False
