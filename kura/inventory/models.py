"""Inventory tables: warehouses, stock per (warehouse, SKU), the append-only stock ledger, and reservations."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kura.catalog.models import Sku
from kura.db import Base, BigIntPK, UTCDateTime, utcnow


class Warehouse(Base):
    __tablename__ = "warehouses"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StockLevel(Base):
    """On-hand and reserved units of one SKU in one warehouse; available = on_hand − reserved.

    Only `kura.inventory.service._apply` changes these rows, always together with a ledger entry.
    The CHECKs are the last line of defence behind the service's conditional UPDATE."""

    __tablename__ = "stock_levels"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id", ondelete="RESTRICT"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="RESTRICT"), index=True)
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    warehouse: Mapped[Warehouse] = relationship(lazy="joined", innerjoin=True)
    sku: Mapped[Sku] = relationship(lazy="joined", innerjoin=True)

    __table_args__ = (
        UniqueConstraint("warehouse_id", "sku_id"),
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
    )

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class StockReason(enum.StrEnum):
    receipt = "receipt"  # goods in
    adjustment = "adjustment"  # a correction or a stock count
    transfer_out = "transfer_out"
    transfer_in = "transfer_in"
    reserve = "reserve"  # held for an order line
    release = "release"  # an order line's hold given back (cancelled, re-allocated)
    consume = "consume"  # held units left the warehouse with the shipment


class StockMovement(Base):
    """One entry of the append-only stock ledger: what changed, why, for what, by whom, when.

    Rows are never updated or deleted (the ORM refuses it, see below); a mistake is corrected by a new entry."""

    __tablename__ = "stock_movements"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id", ondelete="RESTRICT"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="RESTRICT"))
    reason: Mapped[StockReason] = mapped_column(Enum(StockReason, native_enum=False, length=20))
    on_hand_change: Mapped[int] = mapped_column()
    reserved_change: Mapped[int] = mapped_column()
    on_hand_after: Mapped[int] = mapped_column()
    reserved_after: Mapped[int] = mapped_column()
    reference: Mapped[str | None] = mapped_column(String(200))  # e.g. "order:123", a PO number
    note: Mapped[str | None] = mapped_column(String(500))
    actor: Mapped[str | None] = mapped_column(String(100))  # a username, or "system" for jobs
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    warehouse: Mapped[Warehouse] = relationship(lazy="joined", innerjoin=True)
    sku: Mapped[Sku] = relationship(lazy="joined", innerjoin=True)


# The ledger is read per SKU, per warehouse or per reference, newest first.
Index("ix_stock_movements_sku_id_id", StockMovement.sku_id, StockMovement.id)
Index("ix_stock_movements_warehouse_id_id", StockMovement.warehouse_id, StockMovement.id)
Index("ix_stock_movements_reference", StockMovement.reference)


class AppendOnly(Exception):
    """Raised when code tries to change or delete a ledger entry."""


@event.listens_for(StockMovement, "before_update")
@event.listens_for(StockMovement, "before_delete")
def _refuse_ledger_change(_mapper: Any, _conn: Any, target: StockMovement) -> None:
    raise AppendOnly(f"Stock ledger entry {target.id} can't be changed or deleted; add a correcting entry instead.")


class Reservation(Base):
    """Units of a SKU held in one warehouse for one order line (a kit line holds its components).

    The row lives while the hold does; releasing or consuming it deletes the row and writes the ledger."""

    __tablename__ = "stock_reservations"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="RESTRICT"), index=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id", ondelete="RESTRICT"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="RESTRICT"), index=True)
    quantity: Mapped[int] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    warehouse: Mapped[Warehouse] = relationship(lazy="joined", innerjoin=True)
    sku: Mapped[Sku] = relationship(lazy="joined", innerjoin=True)

    __table_args__ = (CheckConstraint("quantity >= 1", name="quantity_positive"),)
