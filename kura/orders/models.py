"""Order tables: orders with a Japanese orderer and shipping address, lines, and status history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, composite, mapped_column, relationship

from kura.db import Base, BigIntPK, UTCDateTime, Yen, utcnow
from kura.orders.statuses import OrderStatus
from kura.stores.models import Channel, Store

__all__ = ["Channel", "Store"]  # stores moved to kura.stores; re-exported for the order code


@dataclass
class Address:
    """A person at a Japanese address, family name first (Rakuten's OrdererModel / SenderModel)."""

    family_name: str
    given_name: str
    family_name_kana: str | None
    given_name_kana: str | None
    postal_code: str  # NNN-NNNN
    prefecture: str  # one of the 47, full kanji name (東京都)
    address_line1: str  # city, ward, town (市区町村・町域)
    address_line2: str | None  # block number, building, room (番地・建物名)
    phone: str  # digits only, 0312345678


class Order(Base):
    """One order of one store. `order_number` is the store's own number (Rakuten's orderNumber), unique per
    store. Amounts are integer yen, tax-inclusive; total = goods + shipping − discounts − points."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="RESTRICT"))
    order_number: Mapped[str] = mapped_column(String(64))
    status: Mapped[OrderStatus] = mapped_column(Enum(OrderStatus, native_enum=False, length=40))
    ordered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)  # when the buyer ordered
    payment_method: Mapped[str] = mapped_column(String(100))
    goods_total: Mapped[int] = mapped_column(Yen)
    tax_total: Mapped[int] = mapped_column(Yen)  # consumption tax contained in the amounts (informational)
    shipping_fee: Mapped[int] = mapped_column(Yen)
    discount_total: Mapped[int] = mapped_column(Yen)  # coupons and discounts
    points_used: Mapped[int] = mapped_column(Yen)
    total: Mapped[int] = mapped_column(Yen)  # what the buyer pays
    orderer_email: Mapped[str | None] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    orderer_family_name: Mapped[str] = mapped_column(String(100))
    orderer_given_name: Mapped[str] = mapped_column(String(100))
    orderer_family_name_kana: Mapped[str | None] = mapped_column(String(100))
    orderer_given_name_kana: Mapped[str | None] = mapped_column(String(100))
    orderer_postal_code: Mapped[str] = mapped_column(String(8))
    orderer_prefecture: Mapped[str] = mapped_column(String(10))
    orderer_address_line1: Mapped[str] = mapped_column(String(255))
    orderer_address_line2: Mapped[str | None] = mapped_column(String(255))
    orderer_phone: Mapped[str] = mapped_column(String(20))
    orderer: Mapped[Address] = composite(
        "orderer_family_name", "orderer_given_name", "orderer_family_name_kana", "orderer_given_name_kana",
        "orderer_postal_code", "orderer_prefecture", "orderer_address_line1", "orderer_address_line2",
        "orderer_phone",
    )  # fmt: skip

    ship_family_name: Mapped[str] = mapped_column(String(100))
    ship_given_name: Mapped[str] = mapped_column(String(100))
    ship_family_name_kana: Mapped[str | None] = mapped_column(String(100))
    ship_given_name_kana: Mapped[str | None] = mapped_column(String(100))
    ship_postal_code: Mapped[str] = mapped_column(String(8))
    ship_prefecture: Mapped[str] = mapped_column(String(10))
    ship_address_line1: Mapped[str] = mapped_column(String(255))
    ship_address_line2: Mapped[str | None] = mapped_column(String(255))
    ship_phone: Mapped[str] = mapped_column(String(20))
    shipping: Mapped[Address] = composite(
        "ship_family_name", "ship_given_name", "ship_family_name_kana", "ship_given_name_kana",
        "ship_postal_code", "ship_prefecture", "ship_address_line1", "ship_address_line2", "ship_phone",
    )  # fmt: skip

    store: Mapped[Store] = relationship(lazy="joined", innerjoin=True)
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.line_no", cascade="all, delete-orphan", lazy="selectin"
    )
    history: Mapped[list[OrderStatusChange]] = relationship(
        order_by="OrderStatusChange.id", cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (
        UniqueConstraint("store_id", "order_number"),
        *(
            CheckConstraint(f"{col} >= 0", name=f"{col}_not_negative")
            for col in ("goods_total", "tax_total", "shipping_fee", "discount_total", "points_used")
        ),
    )


class OrderLine(Base):
    """One line of an order. `sku` is the code as the store sent it; `sku_id` is the catalog SKU it
    matched, or NULL if the catalog does not know it (yet)."""

    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column()
    sku: Mapped[str] = mapped_column(String(100), index=True)
    sku_id: Mapped[int | None] = mapped_column(ForeignKey("skus.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    quantity: Mapped[int] = mapped_column()
    unit_price: Mapped[int] = mapped_column(Yen)  # tax-inclusive
    tax_rate: Mapped[int] = mapped_column(default=10)  # percent: 10 standard, 8 reduced, 0 exempt

    order: Mapped[Order] = relationship(back_populates="lines")

    __table_args__ = (
        UniqueConstraint("order_id", "line_no"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
    )

    @property
    def amount(self) -> int:
        return self.unit_price * self.quantity


class OrderStatusChange(Base):
    """One row of an order's status history; the first row has no `from_status` (how the order arrived)."""

    __tablename__ = "order_status_changes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[OrderStatus | None] = mapped_column(Enum(OrderStatus, native_enum=False, length=40))
    to_status: Mapped[OrderStatus] = mapped_column(Enum(OrderStatus, native_enum=False, length=40))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str | None] = mapped_column(String(100))  # a username, or "system"/"rakuten" for syncs
    note: Mapped[str | None] = mapped_column(String(500))


# The order list pages newest first (ordered_at), by status and by store; counts per status use the first.
Index("ix_orders_status_ordered_at", Order.status, Order.ordered_at)
Index("ix_orders_store_id_ordered_at", Order.store_id, Order.ordered_at)
