"""Create orders and order_items.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from orders_app.db.tables import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('created', 'paid', 'progress', 'cancelled', 'dispatched', 'delivered')",
            name=op.f("ck_orders_status_known"),
        ),
        sa.CheckConstraint("length(owner) BETWEEN 1 AND 255", name=op.f("ck_orders_owner_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    op.create_index("ix_orders_owner_created_id", "orders", ["owner", "created", "id"], unique=False)
    op.create_table(
        "order_items",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("product", sa.String(length=200), nullable=False),
        sa.Column("size", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("size IN ('small', 'medium', 'big')", name=op.f("ck_order_items_size_known")),
        sa.CheckConstraint(
            "quantity >= 1 AND quantity <= 1000000", name=op.f("ck_order_items_quantity_in_range")
        ),
        sa.CheckConstraint("length(product) BETWEEN 1 AND 200", name=op.f("ck_order_items_product_length")),
        sa.CheckConstraint("position >= 0", name=op.f("ck_order_items_position_not_negative")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_items_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", "position", name=op.f("pk_order_items")),
    )


def downgrade() -> None:
    op.drop_table("order_items")
    op.drop_index("ix_orders_owner_created_id", table_name="orders")
    op.drop_table("orders")
