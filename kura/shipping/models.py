"""Shipping tables: parcels (one carrier tracking number each, with its label, journey and Rakuten report),
the order lines each parcel carries, and returns with their lines."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from kura.db import Base, BigIntPK, UTCDateTime, utcnow


class ParcelStatus(enum.StrEnum):
    """Where a parcel is in Kura's eyes; `tracking_status` keeps the carrier's finer status beside it."""

    label_created = "label_created"  # a number (and a label) exist; the parcel has not left
    shipped = "shipped"  # handed to the carrier; tracking polls follow it
    delivered = "delivered"
    failed = "failed"  # could not be delivered, or coming back to the sender
    lost = "lost"
    cancelled = "cancelled"  # withdrawn before it left


OPEN_PARCEL = frozenset({ParcelStatus.label_created, ParcelStatus.shipped, ParcelStatus.failed, ParcelStatus.lost})


class ReportStatus(enum.StrEnum):
    """The parcel's shipping report to the marketplace."""

    none = "none"  # not a marketplace order, or not shipped yet
    pending = "pending"  # queued (outbox); retried with backoff until Rakuten accepts it
    reported = "reported"
    failed = "failed"  # Rakuten refused it for good (a validation error); fix and report again


class Parcel(Base):
    """One parcel of an order, from one warehouse, with one carrier tracking number. The tracking number is
    unique per carrier; `package_id` is the Rakuten basket the parcel is reported under."""

    __tablename__ = "parcels"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    package_id: Mapped[int | None] = mapped_column(ForeignKey("order_packages.id", ondelete="SET NULL"))
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouses.id", ondelete="RESTRICT"))
    carrier_code: Mapped[str] = mapped_column(String(10))  # Rakuten deliveryCompany code, 1000–1031
    tracking_number: Mapped[str] = mapped_column(String(120))
    status: Mapped[ParcelStatus] = mapped_column(Enum(ParcelStatus, native_enum=False, length=20))
    tracking_status: Mapped[str | None] = mapped_column(String(30))  # TrackingStatus value, from the last poll
    tracking_url: Mapped[str | None] = mapped_column(String(500))
    label_pdf: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    shipped_on: Mapped[dt.date | None] = mapped_column(Date)  # shippingDate as reported
    shipped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_tracked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    actor: Mapped[str | None] = mapped_column(String(100))

    # The shipping report (updateOrderShipping): Rakuten's row id once it has one, and the attempts.
    shipping_detail_id: Mapped[int | None] = mapped_column(BigInteger)
    report_status: Mapped[ReportStatus] = mapped_column(Enum(ReportStatus, native_enum=False, length=20),
                                                        default=ReportStatus.none)  # fmt: skip
    report_attempts: Mapped[int] = mapped_column(default=0)
    report_error: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    lines: Mapped[list[ParcelLine]] = relationship(
        back_populates="parcel", order_by="ParcelLine.id", cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (
        UniqueConstraint("carrier_code", "tracking_number"),
        Index("ix_parcels_status_carrier", "status", "carrier_code"),
    )


class ParcelLine(Base):
    """How many units of an order line travel in a parcel."""

    __tablename__ = "parcel_lines"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcels.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int] = mapped_column()

    parcel: Mapped[Parcel] = relationship(back_populates="lines")

    __table_args__ = (CheckConstraint("quantity >= 1", name="quantity_positive"),)


class ReturnStatus(enum.StrEnum):
    """A return's own status; the order's status follows it (Return_initiated … Return_completed)."""

    initiated = "initiated"
    approved = "approved"
    rejected = "rejected"
    putaway = "putaway"  # back on a shelf: the units were received into a warehouse
    completed = "completed"


class Return(Base):
    """Goods a buyer sends back: which lines and how many, why, and where they were put away."""

    __tablename__ = "returns"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    status: Mapped[ReturnStatus] = mapped_column(Enum(ReturnStatus, native_enum=False, length=20), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouses.id", ondelete="RESTRICT"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    putaway_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    actor: Mapped[str | None] = mapped_column(String(100))

    lines: Mapped[list[ReturnLine]] = relationship(
        back_populates="ret", order_by="ReturnLine.id", cascade="all, delete-orphan", lazy="selectin"
    )


class ReturnLine(Base):
    __tablename__ = "return_lines"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column()

    ret: Mapped[Return] = relationship(back_populates="lines")

    __table_args__ = (CheckConstraint("quantity >= 1", name="quantity_positive"),)
