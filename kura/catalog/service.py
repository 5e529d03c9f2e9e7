"""Catalog use cases: create and change single, kit and group products, look SKUs up, search the catalog.

Every function takes the caller's Session; the caller owns the transaction
(`with db.transaction() as s: create_single(s, ...)`)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from kura.catalog.models import SKU_MAX, KitComponent, Product, ProductType, Sku
from kura.errors import Conflict, Invalid, NotFound
from kura.paging import AnySelect, Page, check_window, count


@dataclass(frozen=True)
class VariantSpec:
    """One variant of a group: its SKU, its value on every axis, and optional own prices."""

    sku: str
    axis_values: Mapping[str, str]
    selling_price: int | None = None  # None: the group's price
    retail_price: int | None = None
    active: bool = True


@dataclass(frozen=True)
class ProductFields:
    """The fields every product type shares; prices are integer yen."""

    name: str
    selling_price: int
    retail_price: int | None = None
    brand: str | None = None
    description: str | None = None
    images: Sequence[str] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)
    active: bool = True


# ---------------------------------------------------------------- checks


def clean_sku(value: str, field: str = "sku") -> str:
    """Trims a SKU and refuses empty, over-long or control-character codes. Case is kept: SKUs are case-sensitive."""
    code = value.strip() if isinstance(value, str) else ""
    if not code:
        raise Invalid(field, "A SKU is needed.")
    if len(code) > SKU_MAX:
        raise Invalid(field, f"SKU {code[:20]!r}… is {len(code)} characters long; the limit is {SKU_MAX}.")
    if not (code.isascii() and code.isprintable()) and any(  # printable ASCII has none of these
        unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in code
    ):
        raise Invalid(field, f"SKU {code!r} contains control characters or line breaks; remove them.")
    return code


MAX_PRICE = 10**12  # yen; what a BIGINT column holds with room to spare (the API's bound too)


def _price(value: Any, field: str, *, required: bool) -> int | None:
    if value is None:
        if required:
            raise Invalid(field, f"{field} is needed (integer yen).")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(field, f"{field} must be a whole number of yen; got {value!r}.")
    if value < 0:
        raise Invalid(field, f"{field} can't be negative; got {value}.")
    if value > MAX_PRICE:
        raise Invalid(field, f"{field} can't be more than {MAX_PRICE:,} yen; got {value}.")
    return value


def _text(value: Any, field: str, max_len: int, *, required: bool = False) -> str | None:
    text = value.strip() if isinstance(value, str) else None
    if not text:
        if required:
            raise Invalid(field, f"{field} is needed.")
        return None
    if len(text) > max_len:
        raise Invalid(field, f"{field} is {len(text)} characters long; the limit is {max_len}.")
    if "\x00" in text:  # PostgreSQL can't store it: a message here, not a database error later
        raise Invalid(field, f"{field} contains a NUL character; remove it.")
    return text


def _images(urls: Iterable[str]) -> list[str]:
    cleaned = []
    for i, url in enumerate(urls):
        url = url.strip() if isinstance(url, str) else ""
        if not url.startswith(("https://", "http://")) or len(url) > 1000:
            raise Invalid("images", f"Image {i + 1} ({url!r}) must be an http(s) URL of at most 1000 characters.")
        cleaned.append(url)
    return cleaned


def _attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    attrs = dict(attributes or {})
    for key in attrs:
        if not isinstance(key, str) or not key.strip():
            raise Invalid("attributes", f"Attribute names must be non-empty text; got {key!r}.")
    return attrs


def _fields(fields: ProductFields) -> dict[str, Any]:
    return {
        "name": _text(fields.name, "name", 255, required=True),
        "selling_price": _price(fields.selling_price, "selling_price", required=True),
        "retail_price": _price(fields.retail_price, "retail_price", required=False),
        "brand": _text(fields.brand, "brand", 100),
        "description": _text(fields.description, "description", 100_000),
        "images": _images(fields.images),
        "attributes": _attributes(fields.attributes),
        "active": bool(fields.active),
    }


def _claim_sku(session: Session, code: str, field: str = "sku") -> str:
    code = clean_sku(code, field)
    if session.scalar(select(Sku.id).where(Sku.code == code)) is not None:
        raise Conflict(f"SKU {code!r} exists already; SKUs are unique (case-sensitive).", field=field)
    return code


def _claim_product_code(session: Session, code: str, field: str) -> str:
    code = clean_sku(code, field)
    if session.scalar(select(Product.id).where(Product.code == code)) is not None:
        raise Conflict(f"Product code {code!r} is taken by another product; choose another.", field=field)
    return code


# ---------------------------------------------------------------- create


def create_single(session: Session, sku: str, fields: ProductFields) -> Product:
    """A product with one SKU that holds its own stock."""
    code = _claim_product_code(session, _claim_sku(session, sku), "sku")
    product = Product(type=ProductType.single, code=code, axes=[], **_fields(fields))
    product.skus.append(Sku(code=code, axis_values={}))
    session.add(product)
    session.flush()
    return product


def create_kit(session: Session, sku: str, fields: ProductFields, components: Mapping[str, int]) -> Product:
    """A SKU made of component SKUs × quantities; its stock is never kept, only derived from the components."""
    code = _claim_product_code(session, _claim_sku(session, sku), "sku")
    parts = _components(session, code, components)
    product = Product(type=ProductType.kit, code=code, axes=[], **_fields(fields))
    kit = Sku(code=code, axis_values={})
    kit.components.extend(KitComponent(component_sku_id=part.id, quantity=qty) for part, qty in parts)
    product.skus.append(kit)
    session.add(product)
    session.flush()
    return product


def create_group(
    session: Session, code: str, fields: ProductFields, axes: Sequence[str], variants: Sequence[VariantSpec]
) -> Product:
    """A parent (its `code` is the manage number) with variation axes such as カラー × サイズ; each variant is a SKU."""
    code = _claim_product_code(session, code, "code")
    product = Product(type=ProductType.group, code=code, axes=_axes(axes), **_fields(fields))
    session.add(product)
    session.flush()
    for variant in variants:
        add_variant(session, product.id, variant)
    return product


def _axes(axes: Sequence[str]) -> list[str]:
    cleaned = [a.strip() for a in axes if isinstance(a, str)]
    if not cleaned or any(not a for a in cleaned) or len(cleaned) != len(axes):
        raise Invalid("axes", "A group needs at least one named variation axis, e.g. ['カラー', 'サイズ'].")
    if len(set(cleaned)) != len(cleaned):
        raise Invalid("axes", f"Axis names must differ; got {cleaned}.")
    return cleaned


def _axis_values(product: Product, values: Mapping[str, str]) -> dict[str, str]:
    cleaned = {str(k).strip(): str(v).strip() for k, v in values.items()}
    if set(cleaned) != set(product.axes) or any(not v for v in cleaned.values()):
        raise Invalid(
            "axis_values",
            f"Give a value for each axis of {product.code!r}: {product.axes}; got {dict(values)}.",
        )
    return {axis: cleaned[axis] for axis in product.axes}


def add_variant(session: Session, product_id: int, variant: VariantSpec) -> Sku:
    product = get_product(session, product_id)
    if product.type != ProductType.group:
        raise Invalid("product", f"{product.code!r} is a {product.type} product; only groups have variants.")
    code = _claim_sku(session, variant.sku)
    values = _axis_values(product, variant.axis_values)
    for other in product.skus:
        if other.axis_values == values:
            raise Conflict(
                f"{product.code!r} already has a variant {values} (SKU {other.code!r}); each combination once.",
                field="axis_values",
            )
    sku = Sku(
        code=code,
        axis_values=values,
        selling_price=_price(variant.selling_price, "selling_price", required=False),
        retail_price=_price(variant.retail_price, "retail_price", required=False),
        active=bool(variant.active),
    )
    product.skus.append(sku)
    session.flush()
    return sku


def _components(session: Session, kit_code: str, components: Mapping[str, int]) -> list[tuple[Sku, int]]:
    if not components:
        raise Invalid("components", f"Kit {kit_code!r} needs at least one component SKU.")
    found = find_skus(session, [clean_sku(c, "components") for c in components])
    parts = []
    for raw_code, quantity in components.items():
        code = raw_code.strip()
        part = found.get(code)
        if part is None:
            raise Invalid("components", f"Component SKU {code!r} does not exist; create it first.")
        if part.code == kit_code or part.is_kit:
            raise Invalid("components", f"Component {code!r} is a kit; a kit is made of single or variant SKUs.")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise Invalid("components", f"Quantity of {code!r} per kit must be a whole number ≥ 1; got {quantity!r}.")
        parts.append((part, quantity))
    return parts


def set_kit_components(session: Session, kit_sku: str, components: Mapping[str, int]) -> Sku:
    """Replaces a kit's bill of materials. Components are existing non-kit SKUs, each with quantity ≥ 1."""
    kit = get_sku(session, kit_sku)
    if not kit.is_kit:
        raise Invalid("sku", f"{kit.code!r} is not a kit; only kits have components.")
    parts = _components(session, kit.code, components)
    kit.components.clear()
    session.flush()
    kit.components.extend(KitComponent(component_sku_id=part.id, quantity=qty) for part, qty in parts)
    session.flush()
    return kit


# ---------------------------------------------------------------- change

_PRODUCT_CHANGES = {
    "name", "selling_price", "retail_price", "brand", "description", "images", "attributes", "active", "axes",
}  # fmt: skip


def update_product(session: Session, product_id: int, changes: Mapping[str, Any]) -> Product:
    """Changes the given fields (a PATCH: absent keys stay). The code/SKU of a product never changes."""
    product = get_product(session, product_id)
    unknown = set(changes) - _PRODUCT_CHANGES
    if unknown:
        raise Invalid(sorted(unknown)[0], f"Can't change {sorted(unknown)}; changeable: {sorted(_PRODUCT_CHANGES)}.")
    merged = ProductFields(
        name=changes.get("name", product.name),
        selling_price=changes.get("selling_price", product.selling_price),
        retail_price=changes.get("retail_price", product.retail_price),
        brand=changes.get("brand", product.brand),
        description=changes.get("description", product.description),
        images=changes.get("images", product.images),
        attributes=changes.get("attributes", product.attributes),
        active=changes.get("active", product.active),
    )
    for key, value in _fields(merged).items():
        if key in changes:
            setattr(product, key, value)
    if "axes" in changes:
        if product.type != ProductType.group:
            raise Invalid("axes", f"{product.code!r} is a {product.type} product; only groups have axes.")
        axes = _axes(changes["axes"])
        for sku in product.skus:
            if set(sku.axis_values) != set(axes):
                raise Invalid("axes", f"Variant {sku.code!r} has values for {list(sku.axis_values)}, not {axes}; "
                              "change the variants' axis values first.")  # fmt: skip
        product.axes = axes
    session.flush()
    return product


_SKU_CHANGES = {"selling_price", "retail_price", "active", "axis_values"}


def update_sku(session: Session, sku: str, changes: Mapping[str, Any]) -> Sku:
    """Changes a variant's own prices (None = the group's), active flag or axis values."""
    row = get_sku(session, sku)
    unknown = set(changes) - _SKU_CHANGES
    if unknown:
        raise Invalid(
            sorted(unknown)[0], f"Can't change {sorted(unknown)} of a SKU; changeable: {sorted(_SKU_CHANGES)}."
        )
    for key in ("selling_price", "retail_price"):
        if key in changes:
            setattr(row, key, _price(changes[key], key, required=False))
    if "active" in changes:
        row.active = bool(changes["active"])
    if "axis_values" in changes:
        if row.product.type != ProductType.group:
            raise Invalid("axis_values", f"{row.code!r} is not a variant; only variants have axis values.")
        values = _axis_values(row.product, changes["axis_values"])
        if any(o.id != row.id and o.axis_values == values for o in row.product.skus):
            raise Conflict(f"{row.product.code!r} already has a variant {values}.", field="axis_values")
        row.axis_values = values
    session.flush()
    return row


# ---------------------------------------------------------------- look up


def get_product(session: Session, product_id: int) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"No product with id {product_id}.")
    return product


def get_product_by_code(session: Session, code: str) -> Product:
    product = session.scalar(select(Product).where(Product.code == code.strip()))
    if product is None:
        raise NotFound(f"No product with code {code!r} (codes are case-sensitive).")
    return product


def get_sku(session: Session, code: str) -> Sku:
    sku = session.scalar(select(Sku).options(joinedload(Sku.product)).where(Sku.code == code.strip()))
    if sku is None:
        raise NotFound(f"No SKU {code!r} (SKUs are case-sensitive).")
    return sku


def find_skus(session: Session, codes: Iterable[str]) -> dict[str, Sku]:
    """The known SKUs among `codes`, by code; unknown codes are simply absent."""
    wanted = list({c for c in codes})
    found: dict[str, Sku] = {}
    for i in range(0, len(wanted), 500):  # stay under SQLite's bound-parameter limit
        chunk = wanted[i : i + 500]
        for sku in session.scalars(select(Sku).options(joinedload(Sku.product)).where(Sku.code.in_(chunk))):
            found[sku.code] = sku
    return found


def _like(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _product_filter(
    stmt: AnySelect, q: str | None, type: ProductType | str | None, brand: str | None, active: bool | None
) -> AnySelect:
    if q and q.strip():
        stmt = stmt.where(Product.search_text.like(_like(q.strip().lower()), escape="\\"))
    if type is not None:
        try:
            stmt = stmt.where(Product.type == ProductType(type))
        except ValueError:
            raise Invalid("type", f"Unknown product type {type!r}; use single, kit or group.") from None
    if brand:
        stmt = stmt.where(Product.brand == brand)
    if active is not None:
        stmt = stmt.where(Product.active.is_(active))
    return stmt


def search_products(
    session: Session,
    *,
    q: str | None = None,
    type: ProductType | str | None = None,
    brand: str | None = None,
    active: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[Product]:
    """Products newest first; `q` matches a substring of the code, the name or any variant SKU (any case)."""
    check_window(limit, offset)
    ids = _product_filter(select(Product.id), q, type, brand, active)
    total = count(session, ids)
    items = session.scalars(
        _product_filter(select(Product), q, type, brand, active).order_by(Product.id.desc()).limit(limit).offset(offset)
    ).all()
    return Page(items=items, total=total, limit=limit, offset=offset)


def brands(session: Session) -> list[str]:
    """The brands in use, for a filter list."""
    return list(
        session.scalars(select(Product.brand).where(Product.brand.is_not(None)).distinct().order_by(Product.brand))
    )


# ---------------------------------------------------------------- delete


def _references(session: Session, product: Product) -> list[str]:
    """What still points at a product's SKUs: stock, the ledger, holds, other kits, order lines."""
    # Imported here: inventory and orders build on the catalog, not the other way round.
    from kura.inventory.models import Reservation, StockLevel, StockMovement
    from kura.orders.models import OrderLine

    sku_ids = [s.id for s in product.skus]
    if not sku_ids:
        return []
    checks = {
        "stock levels": select(StockLevel.id).where(StockLevel.sku_id.in_(sku_ids)),
        "stock ledger entries": select(StockMovement.id).where(StockMovement.sku_id.in_(sku_ids)),
        "reservations": select(Reservation.id).where(Reservation.sku_id.in_(sku_ids)),
        "order lines": select(OrderLine.id).where(OrderLine.sku_id.in_(sku_ids)),
        "kits using it as a component": select(KitComponent.kit_sku_id).where(
            KitComponent.component_sku_id.in_(sku_ids), KitComponent.kit_sku_id.not_in(sku_ids)
        ),
    }
    return [what for what, stmt in checks.items() if session.scalar(stmt.limit(1)) is not None]


def delete_product(session: Session, product_id: int) -> None:
    """Deletes a product and its SKUs for good, only while nothing references them (no stock history, no
    orders, no kit made of them); otherwise Conflict, suggesting to deactivate it instead."""
    product = get_product(session, product_id)
    used = _references(session, product)
    if used:
        raise Conflict(
            f"Product {product.code!r} can't be deleted: it has {', '.join(used)}. "
            "Deactivate it instead (PATCH active=false); history stays intact.",
            references=used,
        )
    session.delete(product)
    session.flush()
