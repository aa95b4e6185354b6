"""Paging cursors: what encode_cursor makes, decode_cursor reads back; anything else is InvalidCursor."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from orders_app.service.cursor import InvalidCursor, decode_cursor, encode_cursor

ORDER_ID = uuid.UUID("3fa85f64-5717-4562-b3fc-2c963f66afa6")


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "created",
    [
        datetime(2026, 11, 28, 18, 30, 1, 123456, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-5))),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_a_cursor_reads_back_as_the_same_instant_in_utc(created: datetime) -> None:
    cursor = encode_cursor((created, ORDER_ID))
    decoded_created, decoded_id = decode_cursor(cursor)
    assert decoded_created == created
    assert decoded_created.tzinfo == UTC
    assert decoded_id == ORDER_ID


def test_a_cursor_is_url_safe_text_without_padding() -> None:
    cursor = encode_cursor((datetime(2026, 1, 1, tzinfo=UTC), ORDER_ID))
    assert cursor.isascii()
    assert not set(cursor) & set("+/=&?# ")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage",
        "!!!!",
        _b64("not-a-cursor"),
        _b64(f"2026-01-01T00:00:00|{ORDER_ID}"),  # naive: no offset, so no instant
        _b64("2026-01-01T00:00:00+00:00|not-a-uuid"),
        _b64("2026-01-01T00:00:00+00:00"),  # no id
        _b64(f"2026-13-01T00:00:00+00:00|{ORDER_ID}"),
        _b64(f"0001-01-01T00:00:00+14:00|{ORDER_ID}"),  # before year 1 in UTC
        _b64(f"9999-12-31T23:59:59-14:00|{ORDER_ID}"),  # after year 9999 in UTC
        base64.urlsafe_b64encode(b"\xff\xfe|" + str(ORDER_ID).encode()).decode(),  # not UTF-8
    ],
)
def test_anything_else_is_an_invalid_cursor(cursor: str) -> None:
    with pytest.raises(InvalidCursor, match="not one this API issued"):
        decode_cursor(cursor)


def test_invalid_cursor_is_a_value_error_and_not_an_http_error() -> None:
    assert issubclass(InvalidCursor, ValueError)
    assert InvalidCursor.__module__ == "orders_app.service.cursor"
