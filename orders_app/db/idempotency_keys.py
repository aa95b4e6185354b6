"""Idempotency keys on the unit of work's session: every query on the idempotency_keys table is here.

Each is one Core statement built once. Only a writing unit of work uses them, inside its transaction.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, bindparam, delete, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from orders_app.db.tables import idempotency_keys_table
from orders_app.domain.errors import IdempotencyKeyInFlight
from orders_app.domain.idempotency import KeyHolder, StoredResponse

_keys = idempotency_keys_table.c
# Named apart from the columns: an UPDATE reserves the column names for its SET clause.
_this_key = (_keys.subject == bindparam("of_subject")) & (_keys.key == bindparam("of_key"))
_expired = _keys.created_at < bindparam("expired_before", type_=_keys.created_at.type)
# PostgreSQL's SQLSTATE for a lock wait that reached lock_timeout.
_LOCK_NOT_AVAILABLE = "55P03"


def _claim(insert: Any) -> Insert:
    """Insert the key; a row already there is taken over only when expired. RETURNING says who holds it.

    On PostgreSQL the conflict check waits for a transaction that inserted the key and has not ended.
    """
    statement = insert(idempotency_keys_table)
    taken_over = {
        "fingerprint": statement.excluded.fingerprint,
        "created_at": statement.excluded.created_at,
        "response_status": None,
        "response_headers": None,
        "response_body": None,
    }
    claim: Insert = statement.on_conflict_do_update(
        index_elements=[_keys.subject, _keys.key], set_=taken_over, where=_expired
    ).returning(_keys.created_at)
    return claim


_CLAIM_ON_POSTGRESQL = _claim(postgresql.insert)
_CLAIM_ON_SQLITE = _claim(sqlite.insert)
_HOLDER = select(_keys.fingerprint, _keys.response_status, _keys.response_headers, _keys.response_body).where(
    _this_key
)
_RECORD = (
    update(idempotency_keys_table)
    .where(_this_key)
    .values(
        response_status=bindparam("status"),
        response_headers=bindparam("headers"),
        response_body=bindparam("body"),
    )
)
# The oldest expired keys first; on PostgreSQL rows another request is removing are skipped, not waited for.
_REMOVE_EXPIRED = delete(idempotency_keys_table).where(
    tuple_(_keys.subject, _keys.key).in_(
        select(_keys.subject, _keys.key)
        .where(_expired)
        .order_by(_keys.created_at)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )
)
# Bounds the wait for a duplicate's first request, for this transaction only.
_LOCK_WAIT = text("SELECT set_config('lock_timeout', :milliseconds, true)")


class SqlIdempotencyKeys:
    """The idempotency keys of one writing unit of work (its session, inside its transaction)."""

    def __init__(self, session: AsyncSession, *, sqlite: bool) -> None:
        self._session = session
        self._sqlite = sqlite

    async def claim(
        self,
        subject: str,
        key: str,
        fingerprint: str,
        *,
        now: datetime,
        expired_before: datetime,
        wait: float,
    ) -> KeyHolder | None:
        session = self._session
        row = {
            "subject": subject,
            "key": key,
            "fingerprint": fingerprint,
            "created_at": now,
            "expired_before": expired_before,
        }
        if self._sqlite:
            # One writer at a time: an earlier request with this key has ended before this one began.
            taken = (await session.execute(_CLAIM_ON_SQLITE, row)).first()
        else:
            await session.execute(_LOCK_WAIT, {"milliseconds": str(max(1, round(wait * 1000)))})
            try:
                taken = (await session.execute(_CLAIM_ON_POSTGRESQL, row)).first()
            except DBAPIError as error:
                if getattr(error.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
                    raise IdempotencyKeyInFlight() from error
                raise
        if taken is not None:
            return None
        held = (await session.execute(_HOLDER, {"of_subject": subject, "of_key": key})).first()
        if held is None:
            # Removed between the two statements (expired meanwhile): a retry takes it.
            raise IdempotencyKeyInFlight()
        fingerprint_held, status, headers, body = held
        if status is None:
            return KeyHolder(fingerprint_held, None)
        stored_headers = tuple(json.loads(headers).items()) if headers else ()
        return KeyHolder(fingerprint_held, StoredResponse(status, body, stored_headers))

    async def record(self, subject: str, key: str, response: StoredResponse) -> None:
        parameters = {
            "of_subject": subject,
            "of_key": key,
            "status": response.status,
            "headers": json.dumps(dict(response.headers)) if response.headers else None,
            "body": response.body,
        }
        await self._session.execute(_RECORD, parameters)

    async def remove_expired(self, expired_before: datetime, *, limit: int) -> None:
        await self._session.execute(_REMOVE_EXPIRED, {"expired_before": expired_before, "limit": limit})
