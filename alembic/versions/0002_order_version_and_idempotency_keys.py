"""Add orders.version and the idempotency_keys table (expand only: the previous release ignores both).

On PostgreSQL, triggers advance the version for the writes of any release that does not keep it
(orders_app/db/order_version.py): while the previous release still serves, its edits change ETags too.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from orders_app.db.tables import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OTHER_WRITER = "current_setting('orders_app.keeps_version', true) IS DISTINCT FROM 'on'"

# A writer that does not keep orders.version itself (this release's connections set the setting).
_INSTALL_POSTGRESQL = (
    """
    CREATE FUNCTION orders_advance_version() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.version := OLD.version + 1;
        RETURN NEW;
    END $$
    """,
    # A status change by another writer; an UPDATE that sets the version itself is left as it is.
    f"""
    CREATE TRIGGER orders_advance_version BEFORE UPDATE ON orders FOR EACH ROW
    WHEN (NEW.version = OLD.version AND {_OTHER_WRITER})
    EXECUTE FUNCTION orders_advance_version()
    """,
    """
    CREATE FUNCTION order_items_advance_order_version() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE orders SET version = version + 1
        WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.order_id ELSE NEW.order_id END;
        RETURN NULL;
    END $$
    """,
    # Items added, changed or removed by another writer (its PUT may leave the orders row untouched).
    f"""
    CREATE TRIGGER order_items_advance_order_version AFTER INSERT OR UPDATE OR DELETE ON order_items
    FOR EACH ROW WHEN ({_OTHER_WRITER})
    EXECUTE FUNCTION order_items_advance_order_version()
    """,
)

# orders before order_items, the order in which the app's writes lock them: the other order deadlocks
# with a write that holds its order's row and waits to read the items.
_REMOVE_POSTGRESQL = (
    "DROP TRIGGER orders_advance_version ON orders",
    "DROP FUNCTION orders_advance_version()",
    "DROP TRIGGER order_items_advance_order_version ON order_items",
    "DROP FUNCTION order_items_advance_order_version()",
)


def upgrade() -> None:
    # A constant server default: PostgreSQL (11+) records it in the catalogue without rewriting the
    # table, SQLite's ADD COLUMN only edits the schema; the previous release's INSERTs get version 1.
    op.add_column("orders", sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False))
    op.create_table(
        "idempotency_keys",
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_headers", sa.Text(), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.CheckConstraint(
            "length(subject) BETWEEN 1 AND 255", name=op.f("ck_idempotency_keys_subject_length")
        ),
        sa.CheckConstraint("length(key) BETWEEN 1 AND 255", name=op.f("ck_idempotency_keys_key_length")),
        sa.CheckConstraint("length(fingerprint) = 64", name=op.f("ck_idempotency_keys_fingerprint_length")),
        sa.PrimaryKeyConstraint("subject", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"], unique=False)
    if op.get_context().dialect.name == "postgresql":
        for statement in _INSTALL_POSTGRESQL:
            op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for statement in _REMOVE_POSTGRESQL:
            op.execute(statement)
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    # SQLite (3.35+) and PostgreSQL both drop a column in place; nothing indexes or checks it.
    op.drop_column("orders", "version")
