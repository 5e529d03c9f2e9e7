"""Catalog tables: products (single, kit, group) and their SKUs, the sellable unit everything else references."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Enum, ForeignKey, Index, String, Text, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from kura.db import Base, BigIntPK, UTCDateTime, Yen, utcnow

Json = JSON().with_variant(JSONB(), "postgresql")

SKU_MAX = 100  # Rakuten allows 32 for a manage number and longer SKU ids; Kura keeps the wider limit


class ProductType(enum.StrEnum):
    single = "single"  # one SKU, its own stock
    kit = "kit"  # one SKU made of component SKUs; its availability derives from them
    group = "group"  # a parent with variation axes; each variant is a SKU


class Product(Base):
    """What a shopper sees as one item. `code` is the SKU of a single or kit product and the parent code
    of a group; it becomes Rakuten's manageNumber."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    type: Mapped[ProductType] = mapped_column(Enum(ProductType, native_enum=False, length=10))
    code: Mapped[str] = mapped_column(String(SKU_MAX), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    brand: Mapped[str | None] = mapped_column(String(100), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    images: Mapped[list[str]] = mapped_column(Json, default=list)  # ordered URLs, first is the main image
    retail_price: Mapped[int | None] = mapped_column(Yen)  # reference (list) price
    selling_price: Mapped[int] = mapped_column(Yen)
    active: Mapped[bool] = mapped_column(default=True)
    axes: Mapped[list[str]] = mapped_column(Json, default=list)  # group only, e.g. ["カラー", "サイズ"]
    attributes: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # Lower-cased code, name and variant SKUs in one column, so a substring search is one scan of one
    # column instead of an OR over two tables (kept current by _refresh_search_text below).
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")

    skus: Mapped[list[Sku]] = relationship(
        back_populates="product", order_by="Sku.id", cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (
        CheckConstraint("selling_price >= 0", name="selling_price_not_negative"),
        CheckConstraint("retail_price IS NULL OR retail_price >= 0", name="retail_price_not_negative"),
    )

    @property
    def sku(self) -> Sku | None:
        """The one SKU of a single or kit product (None for a group)."""
        return self.skus[0] if self.type != ProductType.group and self.skus else None


class Sku(Base):
    """A sellable, stockable unit: the single product itself, the kit itself, or one variant of a group.

    `code` is unique and case-sensitive. Variants may override the parent's prices (NULL = inherit)."""

    __tablename__ = "skus"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(SKU_MAX), unique=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    axis_values: Mapped[dict[str, str]] = mapped_column(Json, default=dict)  # {"カラー": "赤", "サイズ": "M"}
    retail_price: Mapped[int | None] = mapped_column(Yen)
    selling_price: Mapped[int | None] = mapped_column(Yen)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    product: Mapped[Product] = relationship(back_populates="skus")
    components: Mapped[list[KitComponent]] = relationship(
        foreign_keys="KitComponent.kit_sku_id", cascade="all, delete-orphan", lazy="selectin",
        order_by="KitComponent.component_sku_id",
    )  # fmt: skip

    @property
    def is_kit(self) -> bool:
        return self.product.type == ProductType.kit

    @property
    def effective_selling_price(self) -> int:
        return self.selling_price if self.selling_price is not None else self.product.selling_price

    @property
    def effective_retail_price(self) -> int | None:
        return self.retail_price if self.retail_price is not None else self.product.retail_price

    @property
    def effective_active(self) -> bool:
        return self.active and self.product.active


class KitComponent(Base):
    """One line of a kit's bill of materials: `quantity` units of a component SKU per kit."""

    __tablename__ = "kit_components"

    kit_sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), primary_key=True)
    component_sku_id: Mapped[int] = mapped_column(
        ForeignKey("skus.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    quantity: Mapped[int] = mapped_column()

    component: Mapped[Sku] = relationship(foreign_keys=[component_sku_id], lazy="joined", innerjoin=True)

    __table_args__ = (CheckConstraint("quantity >= 1", name="quantity_positive"),)


def product_search_text(code: str, name: str, sku_codes: list[str]) -> str:
    return "\n".join([code, name, *sku_codes]).lower()


@event.listens_for(Session, "before_flush")
def _refresh_search_text(session: Session, _context: object, _instances: object) -> None:
    """Every product whose code, name or SKUs change gets its search text recomputed before it is written."""
    touched: set[Product] = set()
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, Product):
            touched.add(obj)
        elif isinstance(obj, Sku) and obj.product is not None:
            touched.add(obj.product)
    for product in touched:
        text = product_search_text(product.code, product.name, [s.code for s in product.skus])
        if product.search_text != text:
            product.search_text = text


# The product list sorts newest first and filters by type/active; these keep its pages and counts on indexes.
Index("ix_products_type_id", Product.type, Product.id)
Index("ix_products_active_id", Product.active, Product.id)
