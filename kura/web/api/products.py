"""Products (single, kit, group) and their SKUs: create, read, change, delete, search.

Deleting: a product is deleted for good only while nothing references it (no stock, no ledger entries, no
reservations, no order lines, no kit made of it). Otherwise the answer is 409 `conflict`, naming what
references it and suggesting deactivation (`PATCH {"active": false}`), which keeps the history intact."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.orm import Session

from kura.catalog import service as catalog
from kura.catalog.models import SKU_MAX, Product, ProductType, Sku
from kura.db import Database
from kura.errors import Invalid
from kura.web.api.common import (
    JsonObject,
    Limit,
    Offset,
    OptText,
    PageOut,
    PathId,
    Quantity,
    QueryText,
    Reader,
    Text,
    Writer,
    Yen,
    changes,
    errors,
)
from kura.web.deps import get_db, read_scope

router = APIRouter(tags=["products"], responses=errors(401, 422))

SkuCode = Annotated[Text, Field(min_length=1, max_length=SKU_MAX, description="Case-sensitive.")]
Name = Annotated[Text, Field(min_length=1, max_length=255)]
Brand = Annotated[Text, Field(max_length=100)] | None
Url = Annotated[Text, Field(max_length=1000)]
SkuPath = Annotated[str, Path(min_length=1, max_length=SKU_MAX, description="The SKU code (case-sensitive).")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- input


class Component(_In):
    sku: SkuCode
    quantity: Quantity = Field(description="Units of this component in one kit.")


class _Fields(_In):
    name: Name
    selling_price: Yen
    retail_price: Yen | None = None
    brand: Brand = None
    description: OptText = None
    images: list[Url] = Field(default_factory=list, max_length=20, description="http(s) URLs, main image first.")
    attributes: JsonObject = Field(default_factory=dict)
    active: StrictBool = True

    def fields(self) -> catalog.ProductFields:
        return catalog.ProductFields(
            name=self.name,
            selling_price=self.selling_price,
            retail_price=self.retail_price,
            brand=self.brand,
            description=self.description,
            images=self.images,
            attributes=self.attributes,
            active=self.active,
        )


class SingleIn(_Fields):
    """A product with one SKU that holds its own stock."""

    type: Literal["single"]
    sku: SkuCode


class KitIn(_Fields):
    """One SKU made of component SKUs; its stock derives from them."""

    type: Literal["kit"]
    sku: SkuCode
    components: list[Component] = Field(min_length=1)


class VariantIn(_In):
    sku: SkuCode
    axis_values: dict[Text, Text] = Field(description='A value for every axis, e.g. {"カラー": "赤", "サイズ": "M"}.')
    selling_price: Yen | None = Field(None, description="None: the group's price.")
    retail_price: Yen | None = None
    active: StrictBool = True

    def spec(self) -> catalog.VariantSpec:
        return catalog.VariantSpec(
            sku=self.sku,
            axis_values=self.axis_values,
            selling_price=self.selling_price,
            retail_price=self.retail_price,
            active=self.active,
        )


class GroupIn(_Fields):
    """A parent with variation axes; each variant is a SKU."""

    type: Literal["group"]
    code: SkuCode = Field(description="The parent code (Rakuten's manage number).")
    axes: list[Annotated[Text, Field(min_length=1, max_length=100)]] = Field(min_length=1, max_length=10)
    variants: list[VariantIn] = Field(default_factory=list, max_length=2000)


ProductIn = Annotated[SingleIn | KitIn | GroupIn, Field(discriminator="type")]


class ProductPatch(_In):
    """Only the fields given change. A product's code and SKU never change."""

    name: Name | None = None
    selling_price: Yen | None = None
    retail_price: Yen | None = None
    brand: Brand = None
    description: OptText = None
    images: list[Url] | None = Field(None, max_length=20)
    attributes: JsonObject | None = None
    active: StrictBool | None = None
    axes: list[Annotated[Text, Field(min_length=1, max_length=100)]] | None = Field(None, description="Groups only.")
    components: list[Component] | None = Field(None, min_length=1, description="Kits only: replaces the list.")


class SkuPatch(_In):
    selling_price: Yen | None = Field(None, description="null: inherit the product's price.")
    retail_price: Yen | None = None
    active: StrictBool | None = None
    axis_values: dict[Text, Text] | None = Field(None, description="Variants only.")


# ---------------------------------------------------------------- output


class ComponentOut(BaseModel):
    sku: str
    quantity: int


class SkuOut(BaseModel):
    code: str
    product_id: int
    product_type: ProductType
    axis_values: dict[str, str]
    selling_price: int | None = Field(description="The SKU's own price; null: the product's.")
    retail_price: int | None
    effective_selling_price: int
    effective_retail_price: int | None
    active: bool
    effective_active: bool = Field(description="Active and its product active.")
    components: list[ComponentOut]
    created_at: dt.datetime

    @classmethod
    def of(cls, sku: Sku) -> SkuOut:
        return cls(
            code=sku.code,
            product_id=sku.product_id,
            product_type=sku.product.type,
            axis_values=sku.axis_values,
            selling_price=sku.selling_price,
            retail_price=sku.retail_price,
            effective_selling_price=sku.effective_selling_price,
            effective_retail_price=sku.effective_retail_price,
            active=sku.active,
            effective_active=sku.effective_active,
            components=[ComponentOut(sku=c.component.code, quantity=c.quantity) for c in sku.components],
            created_at=sku.created_at,
        )


class ProductOut(BaseModel):
    id: int
    type: ProductType
    code: str
    name: str
    brand: str | None
    description: str | None
    images: list[str]
    retail_price: int | None
    selling_price: int
    active: bool
    axes: list[str]
    attributes: dict[str, Any]
    skus: list[SkuOut]
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, p: Product) -> ProductOut:
        return cls(
            id=p.id,
            type=p.type,
            code=p.code,
            name=p.name,
            brand=p.brand,
            description=p.description,
            images=list(p.images or []),
            retail_price=p.retail_price,
            selling_price=p.selling_price,
            active=p.active,
            axes=list(p.axes or []),
            attributes=dict(p.attributes or {}),
            skus=[SkuOut.of(s) for s in p.skus],
            created_at=p.created_at,
            updated_at=p.updated_at,
        )


# ---------------------------------------------------------------- products


@router.post("/products", status_code=201, response_model=ProductOut, responses=errors(403, 409))
def create_product(body: ProductIn, user: Writer, db: Database = Depends(get_db)) -> ProductOut:
    """Create a single, kit or group product; `type` decides which fields are needed."""
    with db.transaction() as s:
        if isinstance(body, SingleIn):
            product = catalog.create_single(s, body.sku, body.fields())
        elif isinstance(body, KitIn):
            parts = _components(body.components)
            product = catalog.create_kit(s, body.sku, body.fields(), parts)
        else:
            product = catalog.create_group(s, body.code, body.fields(), body.axes, [v.spec() for v in body.variants])
        s.refresh(product)
        return ProductOut.of(product)


def _components(components: list[Component]) -> dict[str, int]:
    parts: dict[str, int] = {}
    for c in components:
        if c.sku.strip() in parts:
            raise Invalid("components", f"Component {c.sku!r} is listed twice; give it once with the total quantity.")
        parts[c.sku.strip()] = c.quantity
    return parts


@router.get("/products", response_model=PageOut[ProductOut])
def list_products(
    user: Reader,
    q: Annotated[QueryText, Query(description="Part of the code, the name or a variant SKU (any case).")] = None,
    type: ProductType | None = None,
    brand: QueryText = None,
    active: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    s: Session = Depends(read_scope),
) -> PageOut[ProductOut]:
    """Search the catalog, newest first."""
    page = catalog.search_products(s, q=q, type=type, brand=brand, active=active, limit=limit, offset=offset)
    return PageOut(items=[ProductOut.of(p) for p in page.items], total=page.total, limit=limit, offset=offset)


@router.get("/products/{product_id}", response_model=ProductOut, responses=errors(404))
def get_product(product_id: PathId, user: Reader, s: Session = Depends(read_scope)) -> ProductOut:
    return ProductOut.of(catalog.get_product(s, product_id))


@router.patch("/products/{product_id}", response_model=ProductOut, responses=errors(403, 404, 409))
def update_product(product_id: PathId, body: ProductPatch, user: Writer, db: Database = Depends(get_db)) -> ProductOut:
    """Change the given fields; `components` replaces a kit's bill of materials."""
    given = changes(body, nullable=frozenset({"retail_price", "brand", "description"}))
    given.pop("components", None)
    with db.transaction() as s:
        product = catalog.get_product(s, product_id)
        if given:
            catalog.update_product(s, product_id, given)
        if body.components is not None:
            if product.type != ProductType.kit:
                raise Invalid("components", f"{product.code!r} is a {product.type} product; only kits have components.")
            catalog.set_kit_components(s, product.code, _components(body.components))
        s.flush()
        s.refresh(product)
        return ProductOut.of(product)


@router.delete("/products/{product_id}", status_code=204, responses=errors(403, 404, 409))
def delete_product(product_id: PathId, user: Writer, db: Database = Depends(get_db)) -> Response:
    """Delete a product that nothing references; otherwise 409 — deactivate it instead."""
    with db.transaction() as s:
        catalog.delete_product(s, product_id)
    return Response(status_code=204)


@router.post("/products/{product_id}/variants", status_code=201, response_model=SkuOut, responses=errors(403, 404, 409))
def add_variant(product_id: PathId, body: VariantIn, user: Writer, db: Database = Depends(get_db)) -> SkuOut:
    """Add a variant (a SKU) to a group product."""
    with db.transaction() as s:
        return SkuOut.of(catalog.add_variant(s, product_id, body.spec()))


# ---------------------------------------------------------------- SKUs


def _sku_path(code: SkuPath) -> str:
    if "\x00" in code:
        raise Invalid("code", "A SKU can't contain NUL characters.")
    return code


@router.get("/skus/{code:path}", response_model=SkuOut, responses=errors(404))
def get_sku(user: Reader, code: str = Depends(_sku_path), s: Session = Depends(read_scope)) -> SkuOut:
    """A SKU: its own and effective prices, active flags, axis values, kit components."""
    return SkuOut.of(catalog.get_sku(s, code))


@router.patch("/skus/{code:path}", response_model=SkuOut, responses=errors(403, 404, 409))
def update_sku(body: SkuPatch, user: Writer, code: str = Depends(_sku_path), db: Database = Depends(get_db)) -> SkuOut:
    """Change a SKU's own prices (null: inherit the product's), active flag, or a variant's axis values."""
    given = changes(body, nullable=frozenset({"selling_price", "retail_price"}))
    with db.transaction() as s:
        return SkuOut.of(catalog.update_sku(s, code, given))
