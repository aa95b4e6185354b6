"""ORM models on Advanced Alchemy's base classes, as its documentation shows them."""

from __future__ import annotations

from uuid import UUID

from advanced_alchemy.base import BigIntBase, UUIDAuditBase
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship


class OrderModel(UUIDAuditBase):
    __tablename__ = "peer_order"

    owner: Mapped[str] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(16), default="created")
    items: Mapped[list[OrderItemModel]] = relationship(
        back_populates="order", lazy="selectin", cascade="all, delete-orphan", order_by="OrderItemModel.id"
    )


class OrderItemModel(BigIntBase):
    __tablename__ = "peer_order_item"

    order_id: Mapped[UUID] = mapped_column(ForeignKey("peer_order.id", ondelete="CASCADE"))
    product: Mapped[str] = mapped_column(String(200))
    size: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int]
    order: Mapped[OrderModel] = relationship(back_populates="items")
