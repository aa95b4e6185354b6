"""DB_URL: the accepted forms, normalised to their async driver, or refused with one line naming them."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from orders_app.settings import SettingsError

ACCEPTED_FORMS = (
    "sqlite:///PATH, sqlite+aiosqlite:///PATH, postgresql://…, postgres://…, postgresql+asyncpg://…"
)

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def async_url(raw: str) -> URL:
    """Normalise a DB_URL to its async driver, or fail with one line naming the accepted forms."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise SettingsError(f"DB_URL {raw!r} is not a database URL; use one of: {ACCEPTED_FORMS}") from None
    driver = _ASYNC_DRIVERS.get(url.drivername)
    if driver is None:
        raise SettingsError(
            f"DB_URL scheme {url.drivername!r} is not supported; use one of: {ACCEPTED_FORMS}"
        )
    return url.set(drivername=driver)


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"
