"""DB_URL picks the async driver; anything else stops start-up with one clear line."""

from __future__ import annotations

import pytest

from orders_app.db.url import async_url
from orders_app.settings import SettingsError


@pytest.mark.parametrize(
    ("configured", "driver"),
    [
        ("sqlite:///orders.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///orders.db", "sqlite+aiosqlite"),
        ("sqlite:////var/lib/orders-app/orders.db", "sqlite+aiosqlite"),
        ("postgresql://u:p@db:5432/orders", "postgresql+asyncpg"),
        ("postgres://u:p@db:5432/orders", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u:p@db/orders", "postgresql+asyncpg"),
    ],
)
def test_accepted_urls_are_normalised_to_the_async_driver(configured: str, driver: str) -> None:
    url = async_url(configured)
    assert url.drivername == driver


def test_normalising_keeps_credentials_host_and_database() -> None:
    url = async_url("postgres://orders:s3cret@db.internal:6543/orders_prod")
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "orders",
        "s3cret",
        "db.internal",
        6543,
        "orders_prod",
    )


@pytest.mark.parametrize(
    "configured", ["mysql://u@h/d", "postgresql+psycopg2://u@h/d", "not a url", "oracle://x"]
)
def test_other_schemes_are_refused_naming_the_accepted_forms(configured: str) -> None:
    with pytest.raises(SettingsError) as refused:
        async_url(configured)
    message = str(refused.value)
    assert "\n" not in message
    assert "sqlite:///PATH" in message
    assert "postgresql+asyncpg://" in message
