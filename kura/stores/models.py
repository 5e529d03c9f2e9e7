"""Sales channel stores (a connected Rakuten shop, or a manual store), their bindings and their sync log."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kura.db import Base, BigIntPK, UTCDateTime, utcnow

Json = JSON().with_variant(JSONB(), "postgresql")


class Channel(enum.StrEnum):
    rakuten = "rakuten"
    manual = "manual"


class StoreStatus(enum.StrEnum):
    active = "active"
    needs_attention = "needs_attention"  # a 401: bad or expired key; jobs pause until the key is updated
    paused = "paused"  # paused by a person


class SkuSource(enum.StrEnum):
    """Which Rakuten field becomes Kura's SKU on import."""

    merchant_defined = "merchant_defined"  # merchantDefinedSkuId, else variantId
    variant_id = "variant_id"


class Store(Base):
    """A shop orders come from and listings go to. Secrets are stored encrypted (kura.secrets)."""

    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    channel: Mapped[Channel] = mapped_column(Enum(Channel, native_enum=False, length=20))
    status: Mapped[StoreStatus] = mapped_column(
        Enum(StoreStatus, native_enum=False, length=20), default=StoreStatus.active
    )
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Rakuten connection
    shop_code: Mapped[str | None] = mapped_column(String(100))  # the <shop> of https://www.rakuten.co.jp/<shop>/
    api_base_url: Mapped[str | None] = mapped_column(String(255))
    license_key_enc: Mapped[str | None] = mapped_column(Text)
    service_secret_enc: Mapped[str | None] = mapped_column(Text)
    license_key_hint: Mapped[str | None] = mapped_column(String(20))  # masked, for display only
    license_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Settings
    sku_source: Mapped[SkuSource] = mapped_column(
        Enum(SkuSource, native_enum=False, length=20), default=SkuSource.merchant_defined
    )
    import_warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouses.id", ondelete="SET NULL"))
    settings: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)  # intervals, buffers, flags
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class BindingEntity(enum.StrEnum):
    product = "product"  # Kura product ↔ Rakuten manageNumber
    sku = "sku"  # Kura SKU ↔ Rakuten manageNumber/variantId
    order = "order"  # Kura order ↔ Rakuten orderNumber


class Binding(Base):
    """Our record ↔ their id, unique per store both ways: a unique violation means 'already done'."""

    __tablename__ = "bindings"
    __table_args__ = (
        UniqueConstraint("store_id", "entity", "external_id"),
        UniqueConstraint("store_id", "entity", "local_id"),
        # Which stores a product or SKU is bound on (the stock outbox's marks, price pushes): without it, every
        # such lookup read every store's bindings.
        Index("ix_bindings_entity_local_id", "entity", "local_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    entity: Mapped[BindingEntity] = mapped_column(Enum(BindingEntity, native_enum=False, length=20))
    local_id: Mapped[int] = mapped_column()
    external_id: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)  # e.g. manage_number, variant_id, hidden
    synced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SyncLogEntry(Base):
    """One thing a sync did or failed to do, with the (masked) request and response and a hint a person
    can act on; a failed record can be retried alone."""

    __tablename__ = "sync_log"
    __table_args__ = (Index("ix_sync_log_store_created", "store_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(40))  # products, orders, stock, listing, shipping, call
    level: Mapped[str] = mapped_column(String(10))  # info, warning, error
    function: Mapped[str | None] = mapped_column(String(60))  # RMS function, e.g. items.search
    entity_ref: Mapped[str | None] = mapped_column(String(200))  # what it was about: SKU, manageNumber, order
    message: Mapped[str] = mapped_column(Text)
    hint: Mapped[str | None] = mapped_column(Text)
    status_code: Mapped[int | None] = mapped_column()
    duration_ms: Mapped[int | None] = mapped_column()
    request: Mapped[Any | None] = mapped_column(Json)  # masked
    response: Mapped[Any | None] = mapped_column(Json)  # masked
    retry: Mapped[dict[str, Any] | None] = mapped_column(Json)  # how to retry this record alone
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
