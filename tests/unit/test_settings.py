"""Settings come from the environment into one typed object; a bad value is one line naming the variable."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from orders_app.api.schemas import CreateOrder
from orders_app.domain.limits import ITEMS_PER_ORDER_MAX, PRODUCT_MAX_LENGTH, QUANTITY_MAX
from orders_app.settings import Settings, SettingsError


def test_an_empty_environment_gives_the_documented_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert (settings.db_url, settings.db_pool_size, settings.db_pool_timeout) == (
        "sqlite:///orders.db",
        20,
        5.0,
    )
    assert settings.development_keys
    assert settings.effective_public_key_file == Path(".keys/public_key.pem")


def test_values_are_parsed_to_their_types() -> None:
    settings = Settings.from_env(
        {
            "DB_URL": "postgresql://db/orders",
            "DB_POOL_SIZE": "3",
            "DB_STATEMENT_TIMEOUT": "2.5",
            "MIGRATE_ON_START": "off",
            "AUTH_DISABLED": "YES",
            "JWT_PUBLIC_KEY_FILE": "/run/secrets/jwt.pem",
            "JWT_ISSUER": "",
            "METRICS_PORT": "",
            "UNRELATED": "ignored",
        }
    )
    assert settings.db_url == "postgresql://db/orders"
    assert settings.db_pool_size == 3
    assert settings.db_statement_timeout == 2.5
    assert settings.migrate_on_start is False
    assert settings.auth_disabled is True
    assert settings.jwt_public_key_file == Path("/run/secrets/jwt.pem")
    assert settings.effective_public_key_file == Path("/run/secrets/jwt.pem")
    assert settings.jwt_issuer is None
    assert settings.metrics_port is None
    assert not settings.development_keys


@pytest.mark.parametrize(
    ("variable", "raw", "expected"),
    [
        ("DB_POOL_SIZE", "ten", "must be a positive number"),
        ("DB_POOL_SIZE", "0", "must be a positive number"),
        ("DB_POOL_SIZE", "2.5", "must be a positive number"),
        ("DB_MAX_OVERFLOW", "-1", "must be a whole number, 0 or more"),
        ("DB_MAX_OVERFLOW", "many", "must be a whole number, 0 or more"),
        ("DB_POOL_TIMEOUT", "-1", "must be a positive number"),
        ("SQLITE_BUSY_TIMEOUT", "nan", "must be a positive number"),
        ("MIGRATE_ON_START", "maybe", "must be true or false"),
        ("ACCESS_LOG", "2", "must be true or false"),
        ("METRICS_PORT", "0", "must be a positive number"),
        ("METRICS_PORT", "70000", "must be a TCP port (1-65535)"),
        ("HTTP_PARSER", "fast", "must be one of auto, h11, httptools"),
        ("LOG_FORMAT", "text", "must be one of json, console"),
        ("LOG_LEVEL", "verbose", "must be one of critical, error, warning, info, debug, trace"),
    ],
)
def test_a_malformed_value_is_one_line_naming_the_variable(variable: str, raw: str, expected: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({variable: raw})
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(variable)
    assert expected in message
    assert repr(raw) in message


def test_settings_are_read_only() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.db_url = "sqlite:///other.db"  # type: ignore[misc]


def test_the_default_body_limit_fits_the_largest_valid_order_fully_escaped() -> None:
    # Each product character escaped as a surrogate pair (12 bytes): the longest spelling JSON allows.
    product = "\\ud83d\\ude00" * PRODUCT_MAX_LENGTH
    item = f'{{"product": "{product}", "size": "medium", "quantity": {QUANTITY_MAX}}}'
    body = ('{"order": [' + ", ".join([item] * ITEMS_PER_ORDER_MAX) + "]}").encode()
    assert len(msgspec.json.decode(body, type=CreateOrder).order) == ITEMS_PER_ORDER_MAX
    assert len(body) <= Settings().max_body_bytes


@pytest.mark.parametrize("written", [".5", "5.", " 3", "3_000", "+3"])
def test_numbers_are_read_as_json_numbers_and_nothing_looser(written: str) -> None:
    # The README's rule: `0.5`, not `.5`; a looser spelling stops start-up instead of being guessed at.
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"DB_STATEMENT_TIMEOUT": written})
    assert str(refused.value) == f"DB_STATEMENT_TIMEOUT must be a positive number, got {written!r}"


def test_the_pool_may_have_no_overflow() -> None:
    assert Settings.from_env({"DB_MAX_OVERFLOW": "0"}).db_max_overflow == 0
    assert Settings.from_env({"DB_MAX_OVERFLOW": "5"}).db_max_overflow == 5
