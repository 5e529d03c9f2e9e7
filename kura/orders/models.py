"""Order tables: orders with a Japanese orderer and shipping address, lines, packages (a marketplace order's
destinations), status history, and the order-sync cursors and requests of channel stores."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Date, Enum, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, composite, mapped_column, relationship

from kura.db import Base, BigIntPK, UTCDateTime, Yen, utcnow
from kura.orders.statuses import OrderStatus
from kura.stores.models import Channel, Json, Store

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

    # What the marketplace says (NULL for manual orders). channel_status is Rakuten's orderProgress, kept
    # beside the OMS status; channel_payload the raw getOrder OrderModel, for support (personal data:
    # shown to admins only).
    channel_status: Mapped[int | None] = mapped_column(index=True)
    channel_sub_status_id: Mapped[int | None] = mapped_column(BigInteger)
    channel_sub_status: Mapped[str | None] = mapped_column(String(100))
    channel_payload: Mapped[dict[str, Any] | None] = mapped_column(Json, deferred=True)
    channel_synced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    payment_code: Mapped[int | None] = mapped_column()  # settlementMethodCode
    delivery_method: Mapped[str | None] = mapped_column(String(100))  # deliveryName, e.g. 宅配便
    delivery_class: Mapped[int | None] = mapped_column()  # 0 none, 1 normal, 2 chilled, 3 frozen, ...
    delivery_date: Mapped[dt.date | None] = mapped_column(Date)  # the buyer's requested day
    time_slot: Mapped[int | None] = mapped_column()  # shippingTerm: 0 none, 1 am, 2 pm, 1416 = 14–16 h
    cod_fee: Mapped[int] = mapped_column(Yen, default=0)
    payment_charge: Mapped[int] = mapped_column(Yen, default=0)
    amounts_fixed: Mapped[bool] = mapped_column(default=True)  # False: Rakuten still shows -9999 amounts
    hold: Mapped[str | None] = mapped_column(String(40))  # why fulfilment waits, e.g. "unknown_sku"

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
    packages: Mapped[list[OrderPackage]] = relationship(
        back_populates="order", order_by="OrderPackage.id", cascade="all, delete-orphan", lazy="selectin"
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
    # Marketplace lines: which package, and the item as Rakuten names it.
    package_id: Mapped[int | None] = mapped_column(ForeignKey("order_packages.id", ondelete="CASCADE"))
    item_detail_id: Mapped[int | None] = mapped_column(BigInteger)
    manage_number: Mapped[str | None] = mapped_column(String(100))
    variant_id: Mapped[str | None] = mapped_column(String(100))
    item_number: Mapped[str | None] = mapped_column(String(130))
    sku_info: Mapped[str | None] = mapped_column(Text)  # "カラー:赤\nサイズ:M"
    selected_choice: Mapped[str | None] = mapped_column(Text)
    # Kura has held this line's units at least once: the stock sales guard counts a sale once (kura.inventory.
    # channel_stock.note_order_line), however often the line is released and held again.
    stock_counted: Mapped[bool] = mapped_column(default=False, server_default=false())

    order: Mapped[Order] = relationship(back_populates="lines")
    package: Mapped[OrderPackage | None] = relationship()

    __table_args__ = (
        UniqueConstraint("order_id", "line_no"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
    )

    @property
    def amount(self) -> int:
        return self.unit_price * self.quantity


class OrderPackage(Base):
    """One destination of a marketplace order (Rakuten's basket): the recipient, its charges and shipments."""

    __tablename__ = "order_packages"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    basket_id: Mapped[int] = mapped_column(BigInteger)
    goods_total: Mapped[int] = mapped_column(Yen, default=0)
    shipping_fee: Mapped[int] = mapped_column(Yen, default=0)
    cod_fee: Mapped[int] = mapped_column(Yen, default=0)
    total: Mapped[int] = mapped_column(Yen, default=0)
    carrier_code: Mapped[str | None] = mapped_column(String(10))  # defaultDeliveryCompanyCode
    shipments: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)  # carrier, tracking, date

    family_name: Mapped[str] = mapped_column(String(100))
    given_name: Mapped[str] = mapped_column(String(100))
    family_name_kana: Mapped[str | None] = mapped_column(String(100))
    given_name_kana: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str] = mapped_column(String(8))
    prefecture: Mapped[str] = mapped_column(String(10))
    address_line1: Mapped[str] = mapped_column(String(255))
    address_line2: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[Address] = composite(
        "family_name", "given_name", "family_name_kana", "given_name_kana", "postal_code", "prefecture",
        "address_line1", "address_line2", "phone",
    )  # fmt: skip

    order: Mapped[Order] = relationship(back_populates="packages")

    __table_args__ = (UniqueConstraint("order_id", "basket_id"),)


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
    # The marketplace status the order had with this change (Rakuten orderProgress / sub-status name); a
    # change on Rakuten's side only (e.g. 300 → 400) is a row whose from_status equals to_status.
    channel_status: Mapped[int | None] = mapped_column()
    channel_sub_status: Mapped[str | None] = mapped_column(String(100))


class OrderSyncState(Base):
    """Where a store's order sync stands. Cursors move only after a successful poll; a poll covers from
    its cursor minus the overlap to now, however long ago the cursor is."""

    __tablename__ = "order_sync_state"

    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True)
    new_orders_cursor: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # order date polled up to
    status_cursor: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # status sweep done up to
    history_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    history_done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class OrderSyncRequest(Base):
    """An order import over a date range asked for by a person (Sync Orders) or by connecting (history).
    The job picks pending requests of its store in order; a lost kick is re-sent by a sweeper."""

    __tablename__ = "order_sync_requests"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    start: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # None: up to when it runs
    statuses: Mapped[list[int] | None] = mapped_column(Json)  # orderProgress codes; None: every status
    reason: Mapped[str] = mapped_column(String(20))  # history, manual
    run_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, done, failed
    counts: Mapped[dict[str, Any] | None] = mapped_column(Json)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_order_sync_requests_store_status", "store_id", "status"),)


# The order list pages newest first (ordered_at), by status and by store; counts per status use the first.
Index("ix_orders_status_ordered_at", Order.status, Order.ordered_at)
Index("ix_orders_store_id_ordered_at", Order.store_id, Order.ordered_at)
Index("ix_order_lines_unknown_sku", OrderLine.sku, postgresql_where=OrderLine.sku_id.is_(None),
      sqlite_where=OrderLine.sku_id.is_(None))  # fmt: skip
