"""Paging cursors: the opaque text a client gets back in `Link rel="next"`, and its strict reading.

Plain Python (no HTTP, no database), so that the rules are tested on their own; the API maps
InvalidCursor to a 422 on the `cursor` query parameter.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime

# A position in the list: the last order's creation time and id (the list's sort key).
Position = tuple[datetime, uuid.UUID]


class InvalidCursor(ValueError):
    """The text is not a cursor this service issues: garbage, or a position no order can have."""

    def __init__(self) -> None:
        super().__init__("cursor is not one this API issued")


def encode_cursor(after: Position) -> str:
    created, order_id = after
    raw = f"{created.isoformat()}|{order_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position a cursor names, in UTC; InvalidCursor for anything encode_cursor cannot have made."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, separator, order_id = raw.partition("|")
        parsed = datetime.fromisoformat(created)
        if not separator or parsed.tzinfo is None:
            raise ValueError("not a cursor")
        # A forged offset can push the instant outside datetime's range (year 1 at +14:00):
        # OverflowError here, rather than in a database driver as a 500.
        return parsed.astimezone(UTC), uuid.UUID(order_id)
    except (ValueError, OverflowError, binascii.Error):
        raise InvalidCursor from None
