"""ORM models and tables for orders and their items, and the idempotency keys' table.

Constraints live in the schema too, not only in the API. The domain classes stay unmapped: the
repository converts between these records and them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from orders_app.domain.limits import (
    IDEMPOTENCY_KEY_MAX_LENGTH,
    IDEMPOTENCY_KEY_MIN_LENGTH,
    OWNER_MAX_LENGTH,
    OWNER_MIN_LENGTH,
    PRODUCT_MAX_LENGTH,
    PRODUCT_MIN_LENGTH,
    QUANTITY_MAX,
    QUANTITY_MIN,
)
from orders_app.domain.orders import Size, Status


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always returns timezone-aware values, on SQLite (no native tz) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; attach a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        if stored.tzinfo is None:
            return stored.replace(tzinfo=UTC)
        return stored.astimezone(UTC)


def _in(column: str, values: type[Size] | type[Status]) -> str:
    quoted = ", ".join(f"'{member.value}'" for member in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    # Deterministic constraint names, so migrations can refer to them on every backend.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class OrderRecord(Base):
    __tablename__ = "orders"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    owner: Mapped[str] = mapped_column(String(OWNER_MAX_LENGTH), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Advances with every change of the order (its ETag); db/order_version.py says who advances it.
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
    # Replacing the list replaces the items (delete-orphan); deleting the order leaves its items to the
    # schema's ON DELETE CASCADE (passive_deletes) instead of a DELETE per item.
    items: Mapped[list[OrderItemRecord]] = relationship(
        order_by="OrderItemRecord.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )

    __table_args__ = (
        CheckConstraint(_in("status", Status), name="status_known"),
        # SQLite does not enforce VARCHAR lengths, so the bounds are checks on every backend.
        CheckConstraint(
            f"length(owner) BETWEEN {OWNER_MIN_LENGTH} AND {OWNER_MAX_LENGTH}", name="owner_length"
        ),
        # Serves "this owner's orders, newest first" (scanned backwards) and the keyset paging predicate.
        Index("ix_orders_owner_created_id", "owner", "created", "id"),
    )


class OrderItemRecord(Base):
    __tablename__ = "order_items"

    order_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    # Items keep the order the client sent them in.
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    product: Mapped[str] = mapped_column(String(PRODUCT_MAX_LENGTH), nullable=False)
    size: Mapped[str] = mapped_column(String(16), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)

    __table_args__ = (
        CheckConstraint(_in("size", Size), name="size_known"),
        CheckConstraint(
            f"quantity >= {QUANTITY_MIN} AND quantity <= {QUANTITY_MAX}", name="quantity_in_range"
        ),
        CheckConstraint(
            f"length(product) BETWEEN {PRODUCT_MIN_LENGTH} AND {PRODUCT_MAX_LENGTH}", name="product_length"
        ),
        CheckConstraint("position >= 0", name="position_not_negative"),
    )


metadata = Base.metadata

# One row per (token subject, Idempotency-Key): the request's fingerprint and the response its change
# committed with, written in that change's transaction. Plain Core: only single statements touch it.
idempotency_keys_table = Table(
    "idempotency_keys",
    metadata,
    Column("subject", String(OWNER_MAX_LENGTH), primary_key=True),
    Column("key", String(IDEMPOTENCY_KEY_MAX_LENGTH), primary_key=True),
    # SHA-256 of method, path and body, in hex.
    Column("fingerprint", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Column("response_status", Integer, nullable=True),
    Column("response_headers", Text, nullable=True),
    Column("response_body", LargeBinary, nullable=True),
    CheckConstraint(
        f"length(subject) BETWEEN {OWNER_MIN_LENGTH} AND {OWNER_MAX_LENGTH}", name="subject_length"
    ),
    CheckConstraint(
        f"length(key) BETWEEN {IDEMPOTENCY_KEY_MIN_LENGTH} AND {IDEMPOTENCY_KEY_MAX_LENGTH}",
        name="key_length",
    ),
    CheckConstraint("length(fingerprint) = 64", name="fingerprint_length"),
)
orders_table = cast(Table, OrderRecord.__table__)
order_items_table = cast(Table, OrderItemRecord.__table__)
