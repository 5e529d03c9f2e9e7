"""Listing Kura products on Rakuten (items.upsert) and keeping them in step: prices, hide/unhide, delete.

What is sent (ItemAPI 2.0, reference §2):

- manageNumber = the product code lower-cased; it must be `a-z 0-9 - _` and ≤ 32 bytes, or the listing is
  refused with field `code` (pass `manage_number=` to list under another one). variantId = the SKU code,
  checked the same way (case kept). merchantDefinedSkuId = the SKU code.
- single and kit products: one variant, no variantSelectors. Group products: one variantSelector per axis
  (displayName = the axis name) and one variant per SKU with its selectorValues; inactive variants go
  `hidden`, an inactive product goes with hideItem = true (listed, but in the warehouse).
- Prices, per the seed ("If only the Retail Price is entered in OMS, it syncs as the Reference Price. If a
  Selling Price is entered, it will sync as the Standard Price."):

  | Kura prices              | Rakuten                                                                       |
  |--------------------------|-------------------------------------------------------------------------------|
  | selling only             | standardPrice; no referencePrice                                              |
  | selling, retail > selling| standardPrice + referencePrice (REFERENCE_PRICE, type 2 メーカー希望小売価格;    |
  |                          | the store setting `reference_price_type` may choose 1 当店通常価格)            |
  | retail = selling         | standardPrice only: a struck-through price equal to the price is noise        |
  | retail < selling         | refused, field retail_price: a "reference" below the price misleads buyers    |
  |                          | (景品表示法, double pricing)                                                   |
  | retail only, no selling  | refused, field selling_price: Rakuten needs a standardPrice, and Kura never   |
  |                          | turns a retail (list) price into the price buyers pay                         |

  Refusing the last case keeps the seller out of trouble: listing at the retail price would silently sell at a
  price nobody entered as a selling price. In Kura's catalog the selling price is required, so this case comes
  from bulk-upload rows and variants; the row or product is reported with the field to fill.
- Stock: the listed SKUs are marked dirty in the stock outbox in the same transaction as their bindings, so
  the stock pusher (`kura.channels.rakuten.stock`) sends them like any other change: the store's quantity
  (`kura.inventory.channel_stock.store_quantities`: mapped warehouses, reservations, buffers, kits — a kit's
  min over components of ⌊free ÷ per kit⌋ — clamped 0..99,999), computed when it sends, ABSOLUTE, coalesced
  with other pushes (a bulk listing of many products costs ⌈SKUs / 400⌉ inventory calls, not one per product).
  `ListingResult.stock` is that quantity at listing time. One code path for every stock push.
- An item that already exists in RMS (imported, or listed before) is read first and Kura's fields are laid
  over it, so what Kura does not manage (shipping, genre, descriptions set in RMS) survives the full replace.

Price changes: a change of a listed product's or variant's price marks (store, "price", product id) dirty in
the outbox in the same transaction (an ORM flush hook, so the catalog never imports channels) and kicks the
job `rakuten.prices`, which sends items.patch with the variants' standardPrice/referencePrice.

Never inside a database write transaction: every RMS call here runs between short transactions.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session

from kura.catalog.models import Product, ProductType, Sku
from kura.channels.rakuten.client import JsonObject, RmsClient
from kura.channels.rakuten.errors import NotFound as RmsNotFound
from kura.channels.rakuten.errors import Permanent, RmsError, Suspended
from kura.db import Database, utcnow
from kura.errors import Conflict, Invalid, NotFound, StoreGone
from kura.inventory import channel_stock
from kura.jobs import outbox
from kura.jobs.registry import Progress, job_database, job_kind
from kura.stores.models import Binding, BindingEntity, Channel, Store, SyncLogEntry
from kura.stores.service import mark_needs_attention, store_client

log = logging.getLogger(__name__)

PRICE_JOB = "rakuten.prices"
LISTING_JOB = "rakuten.listing"
MAX_ID_BYTES = 32
MAX_YEN = 999_999_999
MAX_VARIANTS = 400
MAX_AXES = 6
MAX_AXIS_VALUES = 40
_MANAGE_NUMBER = re.compile(r"^[a-z0-9_-]+$")
_VARIANT_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_RAKUTEN_IMAGE = re.compile(r"^https?://image\.rakuten\.co\.jp/[^/]+/cabinet(/.+)$")
_GOLD_IMAGE = re.compile(r"^https?://www\.rakuten\.ne\.jp/gold/[^/]+(/.+)$")
_READ_ONLY = ("manageNumber", "created", "updated")

outbox.register_kind("price", PRICE_JOB)
outbox.register_kind("listing", LISTING_JOB)


# --------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Problem:
    """Why a product can't be listed as it stands: the Kura field, what is wrong, and what to do."""

    field: str
    message: str
    fix: str
    code: str | None = None  # the RMS message code (IE0003 …) when RMS said it
    property_path: str | None = None  # RMS's propertyPath, as RMS said it

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "message": self.message, "fix": self.fix, "code": self.code,
                "property_path": self.property_path}  # fmt: skip


@dataclass
class ListingResult:
    """What happened to one product: listed (created or updated), or the problems that stopped it."""

    product_id: int
    code: str
    manage_number: str | None
    listed: bool = False
    created: bool = False
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stock: dict[str, int] = field(default_factory=dict)  # variantId → the store's quantity, queued for the pusher

    def to_dict(self) -> dict[str, Any]:
        return {"product_id": self.product_id, "code": self.code, "manage_number": self.manage_number,
                "listed": self.listed, "created": self.created, "problems": [p.to_dict() for p in self.problems],
                "warnings": self.warnings, "stock": self.stock}  # fmt: skip


class ListingRefused(Invalid):
    """Kura or RMS refused the listing; `problems` names each field and its fix."""

    def __init__(self, result: ListingResult) -> None:
        first = result.problems[0]
        more = f" (and {len(result.problems) - 1} more)" if len(result.problems) > 1 else ""
        super().__init__(first.field, f"{result.code}: {first.message} — {first.fix}{more}",
                         problems=[p.to_dict() for p in result.problems])  # fmt: skip
        self.result = result


# --------------------------------------------------------------------------------------------- checks


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def manage_number_problem(manage_number: str, field: str = "code") -> Problem | None:
    """Rakuten's rule for the item URL key (reference §2.2): a-z 0-9 - _, at most 32 bytes."""
    if not _MANAGE_NUMBER.match(manage_number):
        return Problem(field, f"{manage_number!r} can't be a Rakuten manage number (the item URL key).",
                       "Use only a-z, 0-9, '-' and '_' (upper case becomes lower case); list it under another "
                       "manage number or give the product such a code.", "IE0220")  # fmt: skip
    if _bytes(manage_number) > MAX_ID_BYTES:
        return Problem(field, f"Manage number {manage_number!r} is {_bytes(manage_number)} bytes; Rakuten allows 32.",
                       "Choose a manage number of at most 32 characters (a-z, 0-9, '-', '_').")  # fmt: skip
    return None


def variant_id_problem(sku: str, field: str = "sku") -> Problem | None:
    """Rakuten's rule for a SKU管理番号 (variantId): A-Z a-z 0-9 - _, at most 32 bytes, case-sensitive."""
    if not _VARIANT_ID.match(sku):
        return Problem(field, f"SKU {sku!r} can't be a Rakuten SKU number (variantId).",
                       "Rakuten allows only letters, digits, '-' and '_' in a SKU number: use a SKU without "
                       "spaces, dots, slashes or Japanese characters.")  # fmt: skip
    if _bytes(sku) > MAX_ID_BYTES:
        return Problem(field, f"SKU {sku!r} is {_bytes(sku)} bytes; Rakuten allows 32 for a SKU number.",
                       "Use a SKU of at most 32 characters.")  # fmt: skip
    return None


def price_problems(selling: int | None, retail: int | None, field_prefix: str = "") -> list[Problem]:
    """The one-price rules of the module docstring, for one SKU."""
    problems = []
    if selling is None:
        shown = f" (the retail price {retail} is only shown struck through as the reference price)" if retail else ""
        problems.append(Problem(f"{field_prefix}selling_price", f"No selling price{shown}.",
                                "Enter the selling price: Rakuten needs a standard price, and Kura never sells at "
                                "the retail price on its own."))  # fmt: skip
    elif selling > MAX_YEN:
        problems.append(Problem(f"{field_prefix}selling_price", f"Selling price {selling} is above ¥999,999,999.",
                                "Enter a selling price of at most 999,999,999 yen."))  # fmt: skip
    if selling is not None and retail is not None and retail < selling:
        problems.append(Problem(f"{field_prefix}retail_price",
                                f"Retail price {retail} is below the selling price {selling}.",
                                "A reference price must be above the selling price (or leave it empty); a lower "
                                "'reference' misleads buyers."))  # fmt: skip
    if retail is not None and retail > MAX_YEN:
        problems.append(Problem(f"{field_prefix}retail_price", f"Retail price {retail} is above ¥999,999,999.",
                                "Enter a retail price of at most 999,999,999 yen, or leave it empty."))  # fmt: skip
    return problems


def default_manage_number(product: Product) -> str:
    return product.code.lower()


# --------------------------------------------------------------------------------------------- payload
# Rakuten's field names: this section and kura.channels.rakuten.mapping, nowhere else.


@dataclass(frozen=True)
class ListingSettings:
    """Store-level choices for what is sent (from Store.settings)."""

    genre_id: str | None = None  # default_genre_id: used when a product has no attributes["genre_id"]
    reference_price_type: int = 2  # 1 当店通常価格, 2 メーカー希望小売価格
    tax_rate: str | None = None

    @classmethod
    def of(cls, store: Store) -> ListingSettings:
        s = store.settings or {}
        return cls(
            genre_id=str(s["default_genre_id"]) if s.get("default_genre_id") else None,
            reference_price_type=int(s.get("reference_price_type") or 2),
            tax_rate=s.get("tax_rate"),
        )


def _reference_price(selling: int, retail: int | None, kind: int) -> JsonObject | None:
    if retail is None or retail <= selling:
        return None
    return {"displayType": "REFERENCE_PRICE", "type": kind, "value": str(retail)}


def price_fields(sku: Sku, settings: ListingSettings) -> JsonObject:
    """standardPrice and referencePrice of one variant (referencePrice None = none)."""
    selling = sku.effective_selling_price
    return {
        "standardPrice": str(selling),
        "referencePrice": _reference_price(selling, sku.effective_retail_price, settings.reference_price_type),
    }


def _image(url: str) -> JsonObject | None:
    """Rakuten takes images from its own cabinet (or GOLD) by path; other URLs can't be sent."""
    if match := _RAKUTEN_IMAGE.match(url):
        return {"type": "CABINET", "location": match.group(1)}
    if match := _GOLD_IMAGE.match(url):
        return {"type": "GOLD", "location": match.group(1)}
    return None


def _selector_keys(axes: Sequence[str], existing: Sequence[Mapping[str, Any]]) -> list[str]:
    """Reuses the keys RMS already has for an axis (a variant's selectorValues can't be re-keyed)."""
    known = {str(s.get("displayName")): str(s.get("key")) for s in existing if s.get("key")}
    keys: list[str] = []
    for i, axis in enumerate(axes):
        key = known.get(axis) or f"key{i}"
        while key in keys or (axis not in known and key in known.values()):
            key += "_"
        keys.append(key)
    return keys


def item_payload(product: Product, settings: ListingSettings, existing: JsonObject | None = None) -> JsonObject:
    """The items.upsert body for a product; laid over `existing` (items.get) so RMS-only fields survive."""
    base: JsonObject = {k: v for k, v in (existing or {}).items() if k not in _READ_ONLY}
    old_variants: Mapping[str, Any] = base.get("variants") or {}
    item = dict(base)
    item["title"] = product.name
    item["itemType"] = base.get("itemType") or "NORMAL"
    if _bytes(product.code) <= MAX_ID_BYTES:
        item["itemNumber"] = product.code
    genre = (product.attributes or {}).get("genre_id") or settings.genre_id or base.get("genreId")
    if genre:
        item["genreId"] = str(genre)
    item["hideItem"] = not product.active
    if product.description:
        item["productDescription"] = {"pc": product.description, "sp": product.description}
    images = [img for img in (_image(u) for u in product.images or []) if img]
    if images:
        item["images"] = [{**img, "alt": product.name[:80]} for img in images[:20]]
    if settings.tax_rate is not None and "payment" not in base:
        item["payment"] = {"taxRate": settings.tax_rate}
    keys: list[str] = []
    if product.type == ProductType.group:
        keys = _selector_keys(product.axes, base.get("variantSelectors") or [])
        item["variantSelectors"] = [
            {"key": key, "displayName": axis,
             "values": [{"displayValue": v} for v in dict.fromkeys(s.axis_values.get(axis, "") for s in product.skus)]}
            for key, axis in zip(keys, product.axes, strict=True)
        ]  # fmt: skip
    else:
        item.pop("variantSelectors", None)
    variants: JsonObject = {}
    jan = (product.attributes or {}).get("jan")
    for sku in product.skus:
        variant = dict(old_variants.get(sku.code) or {})
        variant["merchantDefinedSkuId"] = sku.code
        prices = price_fields(sku, settings)
        variant["standardPrice"] = prices["standardPrice"]
        if prices["referencePrice"] is None:
            variant.pop("referencePrice", None)
        else:
            variant["referencePrice"] = prices["referencePrice"]
        variant["hidden"] = not sku.active
        if product.type == ProductType.group:
            variant["selectorValues"] = {key: sku.axis_values.get(axis, "") for key, axis in zip(keys, product.axes,
                                                                                              strict=True)}  # fmt: skip
        else:
            variant.pop("selectorValues", None)
        if "articleNumber" not in variant:
            if jan and product.type == ProductType.single:
                variant["articleNumber"] = {"value": str(jan)}
            else:  # 1 = a set (kit); 5 = no JAN code
                variant["articleNumber"] = {"exemptionReason": 1 if product.type == ProductType.kit else 5}
        variants[sku.code] = variant
    item["variants"] = variants
    return item


def price_patch(product: Product, variant_ids: Mapping[int, str], settings: ListingSettings) -> JsonObject:
    """The items.patch body that sets every listed variant's prices (referencePrice null clears it)."""
    return {"variants": {variant_ids[sku.id]: price_fields(sku, settings) for sku in product.skus
                         if sku.id in variant_ids}}  # fmt: skip


# --------------------------------------------------------------------------------------------- RMS errors

# propertyPath's last meaningful segment → (Kura field, what to do). Data, not an if-chain.
_FIELD_FIXES: dict[str, tuple[str, str]] = {
    "title": ("name", "Give the product a name of at most 255 bytes (about 85 Japanese characters)."),
    "itemNumber": ("code", "Use a product code of at most 32 characters."),
    "genreId": (
        "genre_id",
        "Set a valid 6-digit Rakuten genre ID on the product (attribute genre_id) or as the "
        "store's default genre (settings default_genre_id).",
    ),
    "standardPrice": ("selling_price", "Enter a whole-yen selling price between 0 and 999,999,999."),
    "referencePrice": ("retail_price", "Enter a whole-yen retail price above the selling price, or leave it empty."),
    "value": ("retail_price", "Enter a whole-yen retail price above the selling price, or leave it empty."),
    "variantSelectors": ("axes", "Use at most 6 axes with at most 40 values each, names ≤ 32 bytes, all different."),
    "displayName": ("axes", "Shorten the axis name to at most 32 bytes."),
    "displayValue": ("axis_values", "Shorten the variation value to at most 32 bytes."),
    "selectorValues": ("axis_values", "Give each variant one value per axis, each combination once."),
    "images": ("images", "Use images from your Rakuten cabinet (jpg, jpeg, png or gif)."),
    "location": ("images", "Use images from your Rakuten cabinet (jpg, jpeg, png or gif)."),
    "productDescription": ("description", "Shorten the description to at most 10,240 bytes."),
    "pc": ("description", "Shorten the description to at most 10,240 bytes."),
    "sp": ("description", "Shorten the description to at most 10,240 bytes."),
    "articleNumber": ("jan", "Enter a JAN code of at most 30 characters (attribute jan), or leave it empty."),
    "variants": ("skus", "Give the product 1–400 SKUs; a product without variation axes has exactly one."),
    "merchantDefinedSkuId": ("sku", "Use a SKU of at most 96 bytes."),
}
_GENERIC_FIX = "Correct the value named here in Kura (or in RMS for fields Kura does not manage), then list again."


def problems_from_rms(error: RmsError) -> list[Problem]:
    """One Problem per entry of an ItemAPI error envelope, each with its propertyPath and a Kura field."""
    body = error.response if isinstance(error.response, Mapping) else {}
    found = []
    for entry in body.get("errors") or []:
        if not isinstance(entry, Mapping):
            continue
        path = str((entry.get("metadata") or {}).get("propertyPath") or "")
        segments = [re.sub(r"\[\d+\]$", "", p) for p in path.split(".") if p]
        kura_field, fix = "item", _GENERIC_FIX
        for segment in reversed(segments):
            if segment in _FIELD_FIXES:
                kura_field, fix = _FIELD_FIXES[segment]
                break
        if len(segments) >= 2 and segments[0] == "variants" and kura_field not in ("skus",):
            kura_field = f"sku {segments[1]}: {kura_field}"
        found.append(Problem(kura_field, str(entry.get("message") or error.message), fix,
                             str(entry.get("code") or "") or None, path or None))  # fmt: skip
    if not found:
        found.append(Problem("item", error.message, _GENERIC_FIX, error.code))
    return found


# --------------------------------------------------------------------------------------------- clients


@contextmanager
def _client(db: Database, store: Store, client: RmsClient | None) -> Iterator[RmsClient]:
    """The given client, or the store's own for the block (`kura.stores.service.store_client`, whose factory
    tests swap with `set_client_factory`). A 401 marks the store as needing attention."""
    try:
        with store_client(db, store, client) as rms:
            yield rms
    except Suspended as exc:
        mark_needs_attention(db, store.id, str(exc))
        raise


# --------------------------------------------------------------------------------------------- bindings


def _rakuten_store(session: Session, store_id: int) -> Store:
    store = session.get(Store, store_id)
    if store is None:
        raise StoreGone(f"No store with id {store_id}.")
    if store.channel != Channel.rakuten:
        raise Invalid("store_id", f"Store {store.name!r} is a {store.channel} store; only Rakuten stores list items.")
    return store


def product_binding(session: Session, store_id: int, product_id: int) -> Binding | None:
    return session.scalar(select(Binding).where(Binding.store_id == store_id, Binding.entity == BindingEntity.product,
                                                Binding.local_id == product_id))  # fmt: skip


def variant_ids(session: Session, store_id: int, product: Product) -> dict[int, str]:
    """SKU id → variantId of the product's listed SKUs on the store."""
    rows = session.execute(select(Binding.local_id, Binding.external_id).where(
        Binding.store_id == store_id, Binding.entity == BindingEntity.sku,
        Binding.local_id.in_([s.id for s in product.skus]))).all()  # fmt: skip
    return {local_id: external.split("/", 1)[1] for local_id, external in rows}


def _save_bindings(session: Session, store_id: int, product: Product, manage_number: str, hidden: bool) -> None:
    """Records product ↔ manageNumber and each SKU ↔ manageNumber/variantId; SKUs no longer sent are unbound."""
    now = utcnow()
    taken = session.scalar(select(Binding).where(Binding.store_id == store_id, Binding.entity == BindingEntity.product,
                                                 Binding.external_id == manage_number))  # fmt: skip
    if taken is not None and taken.local_id != product.id:
        raise Conflict(f"Manage number {manage_number!r} is bound to another product (id {taken.local_id}) on this "
                       "store; list this one under another manage number.", field="manage_number")  # fmt: skip
    binding = product_binding(session, store_id, product.id)
    if binding is None:
        binding = Binding(store_id=store_id, entity=BindingEntity.product, local_id=product.id)
        session.add(binding)
    binding.external_id = manage_number
    binding.data = {"manage_number": manage_number, "hidden": hidden}
    binding.synced_at = now
    sku_ids = [s.id for s in product.skus]
    session.execute(delete(Binding).where(
        Binding.store_id == store_id, Binding.entity == BindingEntity.sku,
        (Binding.local_id.in_(sku_ids)) | (Binding.external_id.like(f"{manage_number}/%"))))  # fmt: skip
    session.flush()
    for sku in product.skus:
        session.add(Binding(store_id=store_id, entity=BindingEntity.sku, local_id=sku.id,
                            external_id=f"{manage_number}/{sku.code}",
                            data={"manage_number": manage_number, "variant_id": sku.code}, synced_at=now))  # fmt: skip
    session.flush()


def _log(session: Session, store_id: int, level: str, function: str | None, ref: str, message: str,
         hint: str | None = None, response: Any = None, retry: dict[str, Any] | None = None) -> None:  # fmt: skip
    session.add(SyncLogEntry(store_id=store_id, kind="listing", level=level, function=function, entity_ref=ref,
                             message=message[:4000], hint=hint, response=response, retry=retry))  # fmt: skip


# --------------------------------------------------------------------------------------------- use cases


@dataclass
class _Prepared:
    store: Store
    product: Product
    manage_number: str
    settings: ListingSettings
    problems: list[Problem]


def _prepare(db: Database, store_id: int, product_id: int, manage_number: str | None) -> _Prepared:
    from kura.stores.service import require_active

    with db.reader() as s:
        store = _rakuten_store(s, store_id)
        require_active(store)
        product = s.get(Product, product_id)
        if product is None:
            raise NotFound(f"No product with id {product_id}.")
        bound = product_binding(s, store_id, product_id)
        chosen = (manage_number or "").strip().lower() or (
            bound.external_id if bound else default_manage_number(product)
        )
        problems = check_listable(
            product, chosen, ListingSettings.of(store), "manage_number" if manage_number else "code"
        )
        if bound is not None and bound.external_id != chosen:
            problems.append(Problem("manage_number", f"{product.code!r} is listed as {bound.external_id!r} already.",
                                    "Keep that manage number, or delete that listing first."))  # fmt: skip
        taken = s.scalar(select(Binding.local_id).where(Binding.store_id == store_id, Binding.external_id == chosen,
                                                        Binding.entity == BindingEntity.product))  # fmt: skip
        if taken is not None and taken != product_id:
            problems.append(
                Problem(
                    "manage_number",
                    f"Manage number {chosen!r} belongs to another product (id {taken}) on this store.",
                    "List this product under another manage number.",
                )
            )
        for sku in product.skus:  # load what is read after the session closes
            _ = (sku.product, [c.component.code for c in sku.components])
        s.expunge_all()
    return _Prepared(store, product, chosen, ListingSettings.of(store), problems)


def check_listable(
    product: Product, manage_number: str, settings: ListingSettings, field: str = "code"
) -> list[Problem]:
    """Everything Kura can check before asking RMS (RMS checks the rest and answers per field)."""
    problems: list[Problem] = []
    if (p := manage_number_problem(manage_number, field)) is not None:
        problems.append(p)
    if not product.skus:
        problems.append(Problem("skus", f"{product.code!r} has no SKUs.", "Add at least one variant first."))
    if len(product.skus) > MAX_VARIANTS:
        problems.append(Problem("skus", f"{product.code!r} has {len(product.skus)} SKUs; Rakuten allows 400 per item.",
                                "Split the group into items of at most 400 variants."))  # fmt: skip
    if not ((product.attributes or {}).get("genre_id") or settings.genre_id):
        problems.append(
            Problem(
                "genre_id",
                "No Rakuten genre for this product.",
                "Set attribute genre_id (6 digits) on the product, or a default genre on the store.",
            )
        )
    if product.type == ProductType.group:
        if len(product.axes) > MAX_AXES:
            problems.append(Problem("axes", f"{len(product.axes)} variation axes; Rakuten allows 6.",
                                    "Merge axes until there are at most 6."))  # fmt: skip
        for axis in product.axes:
            values = {s.axis_values.get(axis) for s in product.skus}
            if _bytes(axis) > MAX_ID_BYTES:
                problems.append(Problem("axes", f"Axis name {axis!r} is longer than 32 bytes.", "Shorten it."))
            if len(values) > MAX_AXIS_VALUES:
                problems.append(Problem("axes", f"Axis {axis!r} has {len(values)} values; Rakuten allows 40.",
                                        "Split the group or use fewer values."))  # fmt: skip
    if product.type == ProductType.kit and product.skus and not product.skus[0].components:
        problems.append(Problem("components", "The kit has no components, so its stock is 0.", "Add components."))
    for sku in product.skus:
        prefix = f"sku {sku.code}: " if product.type == ProductType.group else ""
        if (p := variant_id_problem(sku.code, f"{prefix}sku")) is not None:
            problems.append(p)
        problems.extend(price_problems(sku.effective_selling_price, sku.effective_retail_price, prefix))
    return problems


def list_product(db: Database, store_id: int, product_id: int, *, manage_number: str | None = None,
                 client: RmsClient | None = None, send_stock: bool = True) -> ListingResult:  # fmt: skip
    """Lists (or re-lists) one product on a Rakuten store: items.upsert, bindings, sync log, and (unless
    `send_stock` is False) its SKUs marked for the stock pusher, which sends the store's quantity.

    Kura's own checks and RMS's validation errors come back as `problems` (nothing changes then);
    Retryable and Suspended errors propagate (the job layer retries; the store needs attention)."""
    prep = _prepare(db, store_id, product_id, manage_number)
    product, mn = prep.product, prep.manage_number
    result = ListingResult(product.id, product.code, mn, problems=prep.problems)
    if result.problems:
        _record_refusal(db, store_id, result)
        return result
    with _client(db, prep.store, client) as rms:
        try:
            existing: JsonObject | None = rms.get_item(mn)
        except RmsNotFound:
            existing = None
        payload = item_payload(product, prep.settings, existing)
        try:
            result.created = rms.upsert_item(mn, payload)
        except Permanent as exc:
            result.problems = problems_from_rms(exc)
            _record_refusal(db, store_id, result, exc)
            return result
        result.listed = True
    with db.transaction() as s:
        fresh = s.get_one(Product, product.id)
        _save_bindings(s, store_id, fresh, mn, hidden=not product.active)
        if send_stock:  # with the bindings, so a stock change committed from now on is pushed as well
            channel_stock.mark_skus_dirty(s, store_id, [sku.code for sku in fresh.skus])
            quantities = channel_stock.store_quantities(s, store_id, [sku.id for sku in fresh.skus])
            result.stock = {sku.code: quantities[sku.id].quantity for sku in fresh.skus}
        outbox.drop(s, store_id, "price", [str(product.id)])  # the upsert carried the current prices
        _log(
            s,
            store_id,
            "info",
            "items.upsert",
            mn,
            f"{'Listed' if result.created else 'Updated'} {product.code} as {mn} ({len(product.skus)} SKU(s)).",
        )
    return result


def _record_refusal(db: Database, store_id: int, result: ListingResult, error: RmsError | None = None) -> None:
    text = "; ".join(f"{p.field}: {p.message}" for p in result.problems)
    with db.transaction() as s:
        _log(s, store_id, "error", "items.upsert" if error else None, result.manage_number or result.code,
             f"{result.code} was not listed: {text}", hint="; ".join(dict.fromkeys(p.fix for p in result.problems)),
             response=error.response if error else None, retry={"listing": result.product_id})  # fmt: skip


def list_product_or_raise(db: Database, store_id: int, product_id: int, **kw: Any) -> ListingResult:
    result = list_product(db, store_id, product_id, **kw)
    if result.problems:
        raise ListingRefused(result)
    return result


def _bound(db: Database, store_id: int, product_id: int) -> tuple[Store, str]:
    with db.reader() as s:
        store = _rakuten_store(s, store_id)
        binding = product_binding(s, store_id, product_id)
        if binding is None:
            raise NotFound(f"Product {product_id} is not listed on store {store.name!r}; list it first.")
        s.expunge(store)
        return store, binding.external_id


def set_hidden(db: Database, store_id: int, product_id: int, hidden: bool, *, client: RmsClient | None = None) -> str:
    """Deactivates (hideItem = true: in the warehouse, not on sale) or activates a listed item."""
    store, mn = _bound(db, store_id, product_id)
    with _client(db, store, client) as rms:
        rms.patch_item(mn, {"hideItem": hidden})
    with db.transaction() as s:
        binding = product_binding(s, store_id, product_id)
        if binding is not None:
            binding.data = {**(binding.data or {}), "hidden": hidden}
            binding.synced_at = utcnow()
        _log(s, store_id, "info", "items.patch", mn, f"{'Deactivated' if hidden else 'Activated'} {mn} on Rakuten.")
    return mn


def delete_listing(db: Database, store_id: int, product_id: int, *, client: RmsClient | None = None) -> str:
    """Deletes the item from Rakuten (items.delete) and unbinds it; the Kura product stays."""
    store, mn = _bound(db, store_id, product_id)
    # An item already gone in RMS: unbinding is all that is left to do.
    with _client(db, store, client) as rms, contextlib.suppress(RmsNotFound):
        rms.delete_item(mn)
    with db.transaction() as s:
        product = s.get(Product, product_id)
        sku_ids = [sku.id for sku in product.skus] if product else []
        s.execute(delete(Binding).where(Binding.store_id == store_id, (
            (Binding.entity == BindingEntity.product) & (Binding.local_id == product_id)
        ) | ((Binding.entity == BindingEntity.sku) & Binding.local_id.in_(sku_ids))))  # fmt: skip
        outbox.drop(s, store_id, "price", [str(product_id)])
        outbox.drop(s, store_id, "listing", [str(product_id)])
        _log(s, store_id, "info", "items.delete", mn, f"Deleted {mn} from Rakuten.")
    return mn


def queue_listing(session: Session, store_id: int, product_ids: Sequence[int]) -> None:
    """Asks the listing job to list these products (inside the caller's transaction; kicked after commit)."""
    _rakuten_store(session, store_id)
    outbox.mark_dirty(session, store_id, "listing", [str(p) for p in product_ids])


# --------------------------------------------------------------------------------------------- jobs


def push_prices(db: Database, store_id: int, *, client: RmsClient | None = None,
                progress: Progress | None = None) -> dict[str, int]:  # fmt: skip
    """Sends the current prices of every product marked dirty for this store (items.patch, one per item)."""
    counts = {"pushed": 0, "failed": 0, "gone": 0}
    rows = outbox.claim(db, store_id, "price")
    if not rows:
        return counts
    with db.reader() as s:
        store = _rakuten_store(s, store_id)
        settings = ListingSettings.of(store)
        work = []
        for row in rows:
            product = s.get(Product, int(row.key))
            binding = product_binding(s, store_id, int(row.key)) if product else None
            for sku in product.skus if product else []:
                _ = sku.product  # read after the session closes
            work.append((row, product, binding.external_id if binding else None,
                         variant_ids(s, store_id, product) if product else {}))  # fmt: skip
        s.expunge_all()
    with _client(db, store, client) as rms:
        for done, (row, product, mn, vids) in enumerate(work, 1):
            if product is None or mn is None or not vids:
                with db.transaction() as s:
                    outbox.complete(s, [row])
                counts["gone"] += 1
                continue
            try:
                rms.patch_item(mn, price_patch(product, vids, settings))
            except Suspended:
                raise
            except RmsError as exc:
                counts["failed"] += 1
                with db.transaction() as s:
                    if isinstance(exc, RmsNotFound):  # deleted in RMS: nothing to push to until listed again
                        outbox.complete(s, [row])
                    else:
                        outbox.fail(s, row, str(exc))
                    problems = problems_from_rms(exc) if isinstance(exc, Permanent) else []
                    _log(s, store_id, "error", "items.patch", mn, f"Price of {product.code} not sent: {exc}",
                         hint="; ".join(p.fix for p in problems) or None, response=exc.response,
                         retry={"price": product.id})  # fmt: skip
                continue
            with db.transaction() as s:
                outbox.complete(s, [row])
                _log(s, store_id, "info", "items.patch", mn, f"Prices of {product.code} sent.")
            counts["pushed"] += 1
            if progress is not None:
                progress(done, len(work))
    return counts


@job_kind(PRICE_JOB)
def _price_job(store_id: int | None, progress: Progress) -> dict[str, int]:
    if store_id is None:
        raise ValueError(f"{PRICE_JOB} runs per store")
    return push_prices(job_database(), store_id, progress=progress)


def run_listing_queue(db: Database, store_id: int, *, client: RmsClient | None = None,
                      progress: Progress | None = None) -> dict[str, int]:  # fmt: skip
    """Lists the products queued for this store (bulk upload's "list on store"), one by one."""
    counts = {"listed": 0, "refused": 0}
    rows = outbox.claim(db, store_id, "listing", limit=200)
    with db.reader() as s:
        store = _rakuten_store(s, store_id)
        s.expunge(store)
    with _client(db, store, client) as rms:
        for done, row in enumerate(rows, 1):
            try:
                result = list_product(db, store_id, int(row.key), client=rms)
            except NotFound:
                result = None
            except Suspended:
                raise
            except RmsError as exc:
                with db.transaction() as s:
                    outbox.fail(s, row, str(exc))
                continue
            with db.transaction() as s:
                if result is not None and result.problems:  # a data problem: fixing it re-queues nothing by itself
                    outbox.fail(s, row, "; ".join(f"{p.field}: {p.message}" for p in result.problems))
                    counts["refused"] += 1
                else:
                    outbox.complete(s, [row])
                    counts["listed"] += result is not None
            if progress is not None:
                progress(done, len(rows))
    if len(rows) == 200:
        with db.transaction() as s:
            from kura.jobs.queue import kick

            kick(s, LISTING_JOB, store_id)  # more are waiting
    return counts


@job_kind(LISTING_JOB, lease_ttl_s=600)
def _listing_job(store_id: int | None, progress: Progress) -> dict[str, int]:
    if store_id is None:
        raise ValueError(f"{LISTING_JOB} runs per store")
    return run_listing_queue(job_database(), store_id, progress=progress)


# --------------------------------------------------------------------------------------------- catalog hook

_PRICE_ATTRS = ("selling_price", "retail_price")
_CHANGED = "kura_listing_price_changed"


def _price_changed(obj: Any) -> bool:
    from sqlalchemy import inspect

    state = inspect(obj)
    return any(state.attrs[a].history.has_changes() for a in _PRICE_ATTRS)


@event.listens_for(Session, "before_flush")
def _collect_price_changes(session: Session, flush_context: Any, instances: Any) -> None:
    changed: set[int] = session.info.setdefault(_CHANGED, set())
    for obj in session.dirty:
        if isinstance(obj, Product) and _price_changed(obj):
            changed.add(obj.id)
        elif isinstance(obj, Sku) and obj.product_id is not None and _price_changed(obj):
            changed.add(obj.product_id)


@event.listens_for(Session, "after_flush_postexec")
def _mark_listed_prices_dirty(session: Session, flush_context: Any) -> None:
    changed: set[int] = session.info.pop(_CHANGED, set())
    if not changed:
        return
    rows = session.execute(select(Binding.store_id, Binding.local_id).where(
        Binding.entity == BindingEntity.product, Binding.local_id.in_(sorted(changed)))).all()  # fmt: skip
    by_store: dict[int, list[str]] = {}
    for store_id, product_id in rows:
        by_store.setdefault(store_id, []).append(str(product_id))
    for store_id, keys in by_store.items():
        outbox.mark_dirty(session, store_id, "price", keys)
