"""Rakuten → Kura products: the importer (every item, one item, or every group item), its bindings, first
stock, a cursor to resume from, and the sync log of what it could not import.

One product per SKU: a single-SKU item becomes a single product, an item with variation axes a group
product with its variants. The SKU is merchantDefinedSkuId (else variantId) or always variantId, as the
store says. Where two items of one store carry one SKU the first wins and the log names both. Bindings
(product ↔ manageNumber, SKU ↔ "manageNumber/variantId") make a re-run update instead of duplicate.

Several stores, one catalog: an item whose SKU Kura has already (imported from another store, or made in
Kura) is linked, not duplicated: this store's variant is bound to that SKU and its item to the SKU's product.
So is an item whose product code (the manageNumber of a variation item, the SKU of a single one) is taken by
a Kura group product: its SKUs that Kura lacks are added to that group as variants. Each link is logged (info)
with the product and where it came from. Who owns a product's values: an import writes a product's name,
prices, brand, images, active flag and its SKUs' prices and active flags only when an import from this
same store created the product (its product binding says `created`); a product linked to the store, or
listed from Kura, keeps Kura's values, whatever this store's item says. A code Kura cannot link (a
single item whose SKU is the code of a group product) fails that item with the reason.

Pages of 100 items are fetched (items.search, then inventories.bulk.get for their SKUs) by a producer
thread while the previous page is written, each page in one short transaction that also records the
cursor of the next page in the run; a crashed import resumes from there. RMS is never called inside a
write transaction, and one bad item is logged with its payload and can be retried alone.

Imports of several stores run at the same time and may create the same codes (PostgreSQL; SQLite has one writer
at a time). A page that creates codes holds the importers' code lock: shared when its bulk write creates them —
new products, then new SKUs, each in code order, so two such pages wait for each other and never deadlock — and
alone when items written one by one create some. A page that finds a SKU it read as new created meanwhile by
another, or that the database aborts (a deadlock, a serialization failure), is written again from a fresh read
after a short pause, and links what the other created.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, cast

from psycopg import errors as pg_errors
from sqlalchemy import Table, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from kura.catalog.models import Product, ProductType, Sku, product_search_text
from kura.catalog.service import (
    ProductFields,
    VariantSpec,
    add_variant,
    clean_sku,
    create_group,
    create_single,
    update_product,
)
from kura.catalog.service import _fields as validate_fields
from kura.channels.rakuten.client import JsonObject, RmsClient
from kura.channels.rakuten.errors import NotFound as RmsNotFound
from kura.channels.rakuten.errors import Permanent, RmsError, Suspended
from kura.channels.rakuten.mapping import Listing, ListingVariant, item_brand, listing_from_rakuten
from kura.db import Database, utcnow
from kura.errors import KuraError
from kura.inventory import channel_stock
from kura.inventory.models import StockLevel, StockMovement, StockReason
from kura.inventory.service import _apply, receive_many
from kura.jobs import outbox
from kura.jobs.leases import LeaseHeld, lease
from kura.jobs.outbox import OutboxRow
from kura.jobs.registry import Progress, job_database, job_kind
from kura.jobs.runs import JobRun, RunStatus, queue_run
from kura.sqlrows import among, insert_rows
from kura.stores.models import Binding, BindingEntity, Channel, SkuSource, Store
from kura.stores.service import (
    GROUP_KIND,
    IMPORT_KIND,
    client_for,
    ensure_import_warehouse,
    get_store,
    log_entry,
    mark_needs_attention,
    require_active,
    resolve_entries,
)

log = logging.getLogger(__name__)

PAGE_HITS = 100
MAX_PAGES = 3  # pages in memory at once: fetched ahead, waiting for stock, being written
CHUNK = 500  # bound parameters per IN (…), well under SQLite's limit
PAGE_ATTEMPTS = 5  # tries of a page that another import overtook or that the database aborted
RETRY_PAUSE_S = 0.05  # before the second try; doubled before each further one, ±50 % at random
# What a page writes grows: their planner statistics are kept in step (`Database.refresh_statistics`).
GROWN_TABLES = tuple(str(t.__tablename__) for t in (Product, Sku, Binding, StockLevel, StockMovement, OutboxRow))
CODES_LOCK = 0x4B5552_4F4D53  # PostgreSQL advisory lock key of the pages that create product and SKU codes
DUPLICATE_HINT = (
    "Kura keeps one product per SKU and imported the first item. Give the SKU a unique "
    "merchantDefinedSkuId in RMS (or set the store's SKU field to variantId), then retry this item."
)


class StoreNeedsAttention(KuraError):
    """RMS refused the store's key during a sync: the store now needs attention and its jobs are paused."""

    code = "store_needs_attention"
    status = 409


class SyncBusy(KuraError):
    """Another product sync of the same store is running."""

    code = "sync_busy"
    status = 409


@dataclass(frozen=True)
class SyncRequest:
    """What a product sync covers: one item, every group item, or (default) every item."""

    manage_number: str | None = None
    groups_only: bool = False

    @property
    def kind(self) -> str:
        return GROUP_KIND if self.manage_number or self.groups_only else IMPORT_KIND

    @classmethod
    def of(cls, data: Mapping[str, Any] | None) -> SyncRequest:
        data = data or {}
        manage_number = str(data.get("manage_number") or "").strip().lower() or None
        return cls(manage_number=manage_number, groups_only=bool(data.get("groups_only")))


@dataclass
class Counts:
    items: int = 0
    products_created: int = 0
    products_updated: int = 0
    skus_created: int = 0
    skus_linked: int = 0
    products_linked: int = 0
    duplicates: int = 0
    errors: int = 0
    stock_set: int = 0
    skipped_singles: int = 0
    deleted: int = 0
    pages: int = 0

    def add(self, other: Counts) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass
class _Context:
    store_id: int
    shop_code: str
    sku_source: SkuSource
    warehouse_id: int
    run_id: int | None
    groups_only: bool


@dataclass
class _Fetched:
    """One page as fetched from RMS, ready to be written."""

    cursor: str
    next_cursor: str | None
    items: list[JsonObject]
    quantities: dict[tuple[str, str], int]
    num_found: int
    inventory_error: RmsError | None = None

    @property
    def last(self) -> bool:
        return not self.items or not self.next_cursor or self.next_cursor == self.cursor


@dataclass
class _Note:
    level: str
    manage_number: str
    message: str
    hint: str | None = None
    request: Any = None
    response: Any = None


@dataclass
class _PageState:
    """What one page transaction knows about the records it may touch, loaded in a few queries."""

    product_bindings: dict[str, tuple[int, int]]  # manageNumber → (binding id, product id)
    sku_bindings: dict[str, int]  # "manageNumber/variantId" → Kura SKU id
    skus: dict[str, int]  # SKU code → Kura SKU id, for the page's codes that Kura has
    sku_owner: dict[int, str]  # Kura SKU id → the "manageNumber/variantId" it is bound to
    not_owned: set[str] = field(default_factory=set)  # manageNumbers bound to products this store did not create
    claimed: dict[str, str] = field(default_factory=dict)  # SKU code → first "mn/vid" in this page
    stocked: set[int] = field(default_factory=set)  # SKU ids that have a stock record


@dataclass
class _Item:
    """One item of a page and what the page decided about its variants (see `_decide`)."""

    listing: Listing
    raw: JsonObject
    notes: list[_Note] = field(default_factory=list)
    fresh: list[tuple[ListingVariant, str]] = field(default_factory=list)  # new SKUs (code)
    bound: list[tuple[ListingVariant, int]] = field(default_factory=list)  # bound SKUs (id)
    linked: list[tuple[ListingVariant, int]] = field(default_factory=list)  # unbound Kura SKUs to bind (id)
    failed: bool = False
    bulk: _NewProduct | _ProductUpdate | None = None  # None: written row by row (the general path)


@dataclass
class _NewProduct:
    """A new product with all its SKUs, written by the page's bulk INSERTs."""

    product: dict[str, Any]
    skus: list[dict[str, Any]]
    variants: list[ListingVariant]


@dataclass
class _ProductUpdate:
    """A bound product whose SKUs are all bound already, updated by the page's bulk UPDATEs."""

    product_id: int
    changes: dict[str, Any]  # columns to write (empty: nothing changed)
    counted: bool  # counts as an updated product (the item differs from it)
    sku_changes: list[dict[str, Any]]
    prices_changed: bool
    skus: list[tuple[ListingVariant, int]]


# ---------------------------------------------------------------- requesting a sync


def request_sync(db: Database, store_id: int, request: SyncRequest = SyncRequest()) -> tuple[str, int]:
    """Records a queued run (what to sync is kept with it); the caller enqueues (kind, store_id, run_id)."""
    with db.transaction() as s:
        store = get_store(s, store_id)
        if store.channel != Channel.rakuten:
            raise KuraError(f"Store {store.name!r} is not a Rakuten shop; there is nothing to sync.")
        require_active(store)
        run = queue_run(s, request.kind, store_id)
        run.counts = {"request": asdict(request)}
        return request.kind, run.id


def _run_id(progress: Progress) -> int | None:
    run_id = getattr(progress, "run_id", None)
    return int(run_id) if run_id is not None else None


def _queued_request(db: Database, run_id: int | None) -> SyncRequest | None:
    if run_id is None:
        return None
    with db.reader() as s:
        run = s.get(JobRun, run_id)
        counts = (run.counts or {}) if run is not None else {}
    return SyncRequest.of(counts.get("request")) if "request" in counts else None


@job_kind(IMPORT_KIND, lease_ttl_s=600.0)
def import_products_job(store_id: int | None, progress: Progress) -> dict[str, Any]:
    """Every item of the store (on connect, on demand, or on its schedule)."""
    assert store_id is not None, "a product import belongs to a store"
    db = job_database()
    request = _queued_request(db, _run_id(progress)) or SyncRequest()
    return import_products(db, store_id, progress, request=request)


@job_kind(GROUP_KIND, lease_ttl_s=600.0)
def sync_group_job(store_id: int | None, progress: Progress) -> dict[str, Any]:
    """Group (variation) products on demand: one item by manage number, or every group item."""
    assert store_id is not None, "a product sync belongs to a store"
    db = job_database()
    request = _queued_request(db, _run_id(progress)) or SyncRequest(groups_only=True)
    return import_products(db, store_id, progress, request=request)


# ---------------------------------------------------------------- the importer


def import_products(
    db: Database,
    store_id: int,
    progress: Progress,
    *,
    request: SyncRequest = SyncRequest(),
    run_id: int | None = None,
    client: RmsClient | None = None,
    on_page: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Imports the items `request` names; returns the counts kept with the run.

    `on_page(n)` is called after page n is committed (tests use it to simulate a crash)."""
    run_id = run_id if run_id is not None else _run_id(progress)
    with db.reader() as s:
        store = get_store(s, store_id)
        if store.channel != Channel.rakuten:
            raise KuraError(f"Store {store.name!r} is not a Rakuten shop.")
        require_active(store)
        s.expunge(store)
    warehouse_id = store.import_warehouse_id or ensure_import_warehouse(db, store_id)
    ctx = _Context(store_id, store.shop_code or "", store.sku_source, warehouse_id, run_id, request.groups_only)
    try:
        with lease(db, f"rakuten.products:{store_id}", 600.0):
            own_client = client is None
            rms = client if client is not None else client_for(store, db, run_id=run_id)
            try:
                if request.manage_number:
                    counts = _import_one(db, rms, ctx, request.manage_number, progress)
                    resumed = None
                else:
                    counts, resumed = _import_all(db, rms, ctx, request, progress, on_page)
            finally:
                if own_client:
                    rms.close()
    except LeaseHeld:
        raise SyncBusy(
            f"Another product sync of store {store.name!r} is running; this one was not started. "
            "Try again when it has finished."
        ) from None
    except Suspended as exc:
        mark_needs_attention(db, store_id, f"RMS refused the licence key during a product sync: {exc}")
        raise StoreNeedsAttention(
            f"RMS refused the key of store {store.name!r} (HTTP 401); the store needs attention and its jobs "
            "are paused. Update the key to resume."
        ) from exc
    result: dict[str, Any] = {"request": asdict(request), **asdict(counts)}
    if resumed:
        result["resumed_from"] = resumed
    if counts.skus_created or counts.skus_linked:
        resolved = _resolve_waiting_orders(db, store_id)
        if resolved:
            result["orders_resolved"] = resolved
    return result


def _resolve_waiting_orders(db: Database, store_id: int) -> int:
    """Orders held for a SKU Kura did not know may proceed now that the import created it."""
    try:
        from kura.channels.rakuten.orders import resolve_unknown_skus

        return resolve_unknown_skus(db, store_id)
    except Exception:  # the order polls resolve them too; the import itself has succeeded
        log.exception("store %s: resolving orders with unknown SKUs after the product import failed", store_id)
        return 0


def _import_one(db: Database, rms: RmsClient, ctx: _Context, manage_number: str, progress: Progress) -> Counts:
    progress(0, 1)
    try:
        item = rms.get_item(manage_number)
    except RmsNotFound as exc:
        with db.transaction() as s:
            log_entry(s, ctx.store_id, kind="products", level="error", run_id=ctx.run_id, entity_ref=manage_number,
                      function="items.get", message=f"RMS has no item {manage_number!r}.",
                      hint="Check the manage number (商品管理番号) in RMS; it may have been deleted.",
                      response=exc.response)  # fmt: skip
        raise KuraError(f"RMS has no item with manage number {manage_number!r}.") from None
    listing = listing_from_rakuten(item, ctx.shop_code)
    keys = [(listing.manage_number, v.variant_id) for v in listing.variants]
    fetched = _Fetched("*", None, [item], {}, 1)
    _fetch_stock(rms, fetched, keys)
    counts = _write_page(db, ctx, fetched, single=True)
    progress(1, 1)
    return counts


def _import_all(
    db: Database,
    rms: RmsClient,
    ctx: _Context,
    request: SyncRequest,
    progress: Progress,
    on_page: Callable[[int], None] | None,
) -> tuple[Counts, str | None]:
    kind = request.kind
    start, done, total = _resume_point(db, kind, ctx.store_id, ctx.run_id)
    resumed = start if start != "*" else None
    counts = Counts()
    pages = _Prefetcher(rms, ctx, start)
    _load_job_modules()  # while the first page is being fetched, not inside its write transaction
    try:
        for n, fetched in enumerate(pages, start=1):
            total = fetched.num_found
            page_counts = _write_page(db, ctx, fetched, cursor_state={"cursor": fetched.next_cursor,
                                                                     "done": done + len(fetched.items),
                                                                     "total": total, "request": asdict(request)})
            counts.add(page_counts)
            done += len(fetched.items)
            db.refresh_statistics(GROWN_TABLES)
            del fetched  # written: the prefetcher may fetch another page in its place
            progress(done, max(total, done))
            if on_page is not None:
                on_page(n)
    finally:
        pages.stop()
    progress(max(done, total), max(total, done))
    return counts, resumed


def _load_job_modules() -> None:
    """The first commit that marks the stock outbox wakes its pusher, which imports every job module (a worker
    has them already); a fresh process would do that inside the first page's write transaction."""
    try:
        from kura.jobs.queue import load_kinds

        load_kinds()
    except Exception:  # the commit imports them again and reports a real problem there
        log.debug("job modules could not be imported ahead of the first page", exc_info=True)


def _resume_point(db: Database, kind: str, store_id: int, run_id: int | None) -> tuple[str, int, int]:
    """Where the last unfinished full import of this kind stopped: (cursorMark, items done, total)."""
    with db.reader() as s:
        query = select(JobRun).where(JobRun.kind == kind, JobRun.store_id == store_id,
                                     JobRun.status.in_([RunStatus.running, RunStatus.failed, RunStatus.done]))
        if run_id is not None:
            query = query.where(JobRun.id != run_id)
        previous = s.scalars(query.order_by(JobRun.id.desc()).limit(1)).first()
        if previous is None or previous.status == RunStatus.done:
            return "*", 0, 0
        counts = previous.counts or {}
    request = SyncRequest.of(counts.get("request"))
    cursor = counts.get("cursor")
    if not cursor or request.manage_number:
        return "*", 0, 0
    return str(cursor), int(counts.get("done") or 0), int(counts.get("total") or 0)


class _Prefetcher:
    """Fetches the next pages in two threads while the current one is written: one thread pages through
    items.search, the other reads each page's stock (inventories.bulk.get), so both APIs' rate limits are
    used in parallel. At most MAX_PAGES pages (being fetched, waiting, or being written) are in memory."""

    _END = object()

    def __init__(self, rms: RmsClient, ctx: _Context, cursor: str) -> None:
        self.rms = rms
        self.ctx = ctx
        self.cursor = cursor
        self._slots = threading.Semaphore(MAX_PAGES)  # taken before a search, given back once a page is written
        self._searched: queue.Queue[Any] = queue.Queue()
        self.pages: queue.Queue[Any] = queue.Queue()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._search, name="rakuten-product-search", daemon=True),
            threading.Thread(target=self._stock, name="rakuten-product-stock", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _take_slot(self) -> bool:
        while not self._stop.is_set():
            if self._slots.acquire(timeout=0.2):
                return True
        return False

    def _search(self) -> None:
        cursor = self.cursor
        try:
            while self._take_slot():
                try:
                    page = self.rms.search_items(hits=PAGE_HITS, cursor_mark=cursor)
                except Permanent as exc:
                    if cursor == self.cursor and cursor != "*" and "cursorMark" in str(exc):
                        log.warning("saved cursorMark refused (%s); starting the import from the beginning", exc)
                        cursor = self.cursor = "*"
                        self._slots.release()
                        continue
                    raise
                fetched = _Fetched(cursor, page.next_cursor_mark, page.results, {}, page.num_found)
                del page
                last, cursor = fetched.last, fetched.next_cursor or cursor
                self._searched.put(fetched)
                del fetched  # the page is the writer's now; holding it here would keep one more in memory
                if last:
                    break
        except BaseException as exc:
            self._searched.put(exc)
            return
        self._searched.put(self._END)

    def _stock(self) -> None:
        while not self._stop.is_set():
            try:
                value = self._searched.get(timeout=0.2)
            except queue.Empty:
                continue
            if isinstance(value, _Fetched):
                try:
                    _fetch_stock(self.rms, value, _stock_keys(value.items, self.ctx))
                except BaseException as exc:
                    self.pages.put(exc)
                    return
            self.pages.put(value)
            if not isinstance(value, _Fetched):
                return
            del value

    def __iter__(self) -> Iterator[_Fetched]:
        while True:
            value = self.pages.get()
            if value is self._END:
                return
            if isinstance(value, BaseException):
                raise value
            yield value
            value = None  # written: let it go before the next page is fetched
            self._slots.release()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def _stock_keys(items: Sequence[JsonObject], ctx: _Context) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    for result in items:
        item = result.get("item") or {}
        variants = item.get("variants") or {}
        if ctx.groups_only and not item.get("variantSelectors") and len(variants) <= 1:
            continue
        keys.extend((str(item["manageNumber"]), str(vid)) for vid in variants)
    return keys


def _fetch_stock(rms: RmsClient, fetched: _Fetched, keys: list[tuple[str, str]]) -> None:
    """Stock of a page's SKUs; a refused request leaves the page without stock (logged) instead of failing it."""
    if not keys:
        return
    try:
        for record in rms.bulk_get_inventories(keys):
            fetched.quantities[(str(record["manageNumber"]).lower(), str(record["variantId"]))] = int(
                record.get("quantity") or 0
            )
    except Permanent as exc:
        fetched.inventory_error = exc


# ---------------------------------------------------------------- writing one page


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), CHUNK):
        yield values[i : i + CHUNK]


def _sku_code(variant: ListingVariant, source: SkuSource) -> str:
    if source == SkuSource.merchant_defined and variant.sku:
        return variant.sku
    return variant.variant_id


def _load_state(s: Session, store_id: int, listings: Sequence[Listing], source: SkuSource) -> _PageState:
    mns = [listing.manage_number for listing in listings]
    exts = [f"{listing.manage_number}/{v.variant_id}" for listing in listings for v in listing.variants]
    codes = list({c for listing in listings for v in listing.variants
                  for c in (_sku_code(v, source), _sku_code(v, source).strip())})  # fmt: skip
    product_bindings: dict[str, tuple[int, int]] = {}
    not_owned: set[str] = set()
    for chunk in _chunks(mns):
        for binding_id, external_id, local_id, data in s.execute(
                select(Binding.id, Binding.external_id, Binding.local_id, Binding.data).where(
                    Binding.store_id == store_id, Binding.entity == BindingEntity.product,
                    among(Binding.external_id, chunk, s))):  # fmt: skip
            product_bindings[external_id] = (binding_id, local_id)
            if not _created_here(data):
                not_owned.add(external_id)
    sku_bindings: dict[str, int] = {}
    for chunk in _chunks(exts):
        for external_id, local_id in s.execute(select(Binding.external_id, Binding.local_id).where(
                Binding.store_id == store_id, Binding.entity == BindingEntity.sku,
                among(Binding.external_id, chunk, s))):  # fmt: skip
            sku_bindings[external_id] = local_id
    skus: dict[str, int] = {}
    for chunk in _chunks(codes):
        found = s.execute(select(Sku.id, Sku.code).where(among(Sku.code, chunk, s)))
        skus.update((code, sku_id) for sku_id, code in found)
    sku_owner: dict[int, str] = {}
    ids = sorted(set(skus.values()))
    for chunk in _chunks(ids):
        for local_id, external_id in s.execute(select(Binding.local_id, Binding.external_id).where(
                Binding.store_id == store_id, Binding.entity == BindingEntity.sku, among(Binding.local_id, chunk, s))):
            sku_owner[local_id] = external_id
    stocked: set[int] = set()
    bound_ids = sorted(set(sku_bindings.values()) | set(ids))
    for chunk in _chunks(bound_ids):
        stocked.update(s.scalars(select(StockLevel.sku_id).where(among(StockLevel.sku_id, chunk, s)).distinct()))
    return _PageState(product_bindings, sku_bindings, skus, sku_owner, not_owned, stocked=stocked)


def _created_here(data: Mapping[str, Any] | None) -> bool:
    """Whether a product binding's product was created by an import from its store (so the import owns its
    values). Bindings written before the flag existed: an import's own carried item_number; a link did not."""
    data = data or {}
    if "created" in data:
        return bool(data["created"])
    return "item_number" in data and not data.get("linked")


class _TryAlone(Exception):
    """The page is read and written again, holding the importers' code lock alone from its start (`_lock_codes`):
    another writer created SKUs that it read as new (its items would fail instead of linking to them), or its
    bulk write failed and its items would create codes one by one while it holds the lock shared."""


def _write_page(db: Database, ctx: _Context, fetched: _Fetched, *, single: bool = False,
                cursor_state: dict[str, Any] | None = None) -> Counts:  # fmt: skip
    """Writes one page in one transaction: products, SKUs, bindings, first stock, the log, the cursor.

    The page's records are loaded in a few queries; then items that only create new products, or only update
    bound ones, are written together (bulk INSERTs and UPDATEs, stock through `receive_many`), and the rest
    one by one through the catalog's services, each in a savepoint. If the bulk write fails, its items are
    written one by one too, so one bad record never blocks the page.

    A page that another import overtook (`_TryAlone`) or that the database aborted (a deadlock, a serialization
    failure) is tried again, up to PAGE_ATTEMPTS times, after a short pause; the last try holds the importers'
    code lock alone. That is safe: the failed try's transaction was rolled back whole (with the stock outbox marks
    it noted), and a try starts afresh from what was fetched — it reads the page's records again and keeps
    nothing of the try before (counts, notes, the decisions per item). Any other error propagates at once."""
    counts, listings, notes = _read_page(ctx, fetched, single)
    attempt, alone = 1, False
    while True:
        last = attempt == PAGE_ATTEMPTS
        try:
            return _write_page_once(db, ctx, fetched, listings, replace(counts), list(notes), single=single,
                                    cursor_state=cursor_state, alone=alone or last, last=last)  # fmt: skip
        except (DBAPIError, _TryAlone) as exc:
            if last or not (isinstance(exc, _TryAlone) or _transient(exc)):
                raise
            alone = alone or isinstance(exc, _TryAlone)
            pause = RETRY_PAUSE_S * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
            why = exc if isinstance(exc, _TryAlone) else f"the database aborted it ({type(exc.orig).__name__})"
            log.warning("store %s: a page write was not done: %s; writing it again in %.2f s (try %d of %d)",
                        ctx.store_id, why, pause, attempt + 1, PAGE_ATTEMPTS)  # fmt: skip
            time.sleep(pause)
            attempt += 1


def _transient(exc: BaseException) -> bool:
    """A PostgreSQL deadlock or serialization failure: the database rolled the transaction back, and the same
    transaction tried again may well succeed."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    return isinstance(orig, (pg_errors.DeadlockDetected, pg_errors.SerializationFailure))


def _read_page(ctx: _Context, fetched: _Fetched, single: bool) -> tuple[Counts, list[tuple[Listing, JsonObject]],
                                                                          list[_Note]]:  # fmt: skip
    """The page's items as listings, with what needs no database: unreadable, deleted and skipped items."""
    counts = Counts(pages=1)
    listings: list[tuple[Listing, JsonObject]] = []
    notes: list[_Note] = []
    for result in fetched.items:
        raw = result.get("item", result) if not single else result
        counts.items += 1
        try:
            listing = listing_from_rakuten(raw, ctx.shop_code)
        except (KeyError, ValueError, TypeError) as exc:
            counts.errors += 1
            notes.append(_Note("error", str(raw.get("manageNumber") or "?"), f"Unreadable item: {exc!r}.",
                               "RMS returned an item Kura cannot read; check it in RMS, then retry it.", raw))
            continue
        if listing.deleted:
            counts.deleted += 1
            continue
        if ctx.groups_only and not single and not _is_group(listing):
            counts.skipped_singles += 1
            continue
        listings.append((listing, raw))
    if fetched.inventory_error is not None:
        notes.append(_Note("error", ",".join(sorted({x.manage_number for x, _ in listings}))[:200],
                           f"The stock of this page could not be read: {fetched.inventory_error}",
                           "Products were imported without stock; retry the items to import their stock.",
                           response=fetched.inventory_error.response))  # fmt: skip
    return counts, listings, notes


def _write_page_once(db: Database, ctx: _Context, fetched: _Fetched, listings: Sequence[tuple[Listing, JsonObject]],
                     counts: Counts, notes: list[_Note], *, single: bool, cursor_state: dict[str, Any] | None,
                     alone: bool, last: bool) -> Counts:  # fmt: skip
    """One try of `_write_page` (`alone`: holding the importers' code lock alone from its start); raises `_TryAlone`
    (unless `last`) when another writer created SKUs this page read as new, since items of the page failed or
    its bulk write did for that."""
    with db.transaction() as s:
        lock = _lock_codes(s, None) if alone else None
        state = _load_state(s, ctx.store_id, [x for x, _ in listings], ctx.sku_source)
        items = [_Item(listing, raw) for listing, raw in listings]
        for item in items:
            try:
                _decide(ctx, state, item, counts)
            except (KuraError, ValueError, TypeError) as exc:
                _fail(item, exc, counts)
        _plan(s, ctx, state, items)
        lock = lock or _lock_codes(s, items)
        bulk = [x for x in items if x.bulk is not None]
        if bulk:
            try:
                with s.begin_nested():
                    bulk_counts, stocked = _write_bulk(s, ctx, state, bulk, fetched.quantities)
                counts.add(bulk_counts)
                state.stocked |= stocked
            except (KuraError, ValueError, TypeError, SQLAlchemyError) as exc:
                if _transient(exc):
                    raise
                why = str(exc).splitlines()[0]
                if not last:
                    _check_not_overtaken(s, bulk)
                if lock == "shared":  # trading it for the lock alone could deadlock with a page doing the same
                    raise _TryAlone(f"its bulk write failed ({why}); its items are written one by one") from exc
                log.warning("store %s: the bulk write of a page failed (%s); writing its items one by one",
                            ctx.store_id, why)  # fmt: skip
                for item in items:
                    item.bulk = None
                lock = lock or _lock_codes(s, items)
            s.expire_all()  # Core wrote behind the ORM's back: the row-by-row path below must read afresh
        for item in items:
            if item.failed or item.bulk is not None:
                continue
            savepoint = s.begin_nested()
            try:
                _write_listing(s, ctx, state, item, fetched.quantities, counts)
                savepoint.commit()
            except (KuraError, ValueError, TypeError, IntegrityError) as exc:
                savepoint.rollback()
                if not last:
                    _check_not_overtaken(s, [item])
                _fail(item, exc, counts)
        processed = [item.listing.manage_number for item in items]
        for item in items:
            notes.extend(item.notes)
        resolve_entries(s, ctx.store_id, processed)
        for note in notes:
            retry = {"action": "import_item", "manage_number": note.manage_number} \
                if "," not in note.manage_number and note.level != "info" else None  # fmt: skip
            log_entry(s, ctx.store_id, kind="products", level=note.level, run_id=ctx.run_id,
                      entity_ref=note.manage_number, message=note.message, hint=note.hint,
                      function="items.search" if not single else "items.get",
                      request=note.request, response=note.response, retry=retry)  # fmt: skip
        if cursor_state is not None and ctx.run_id is not None:
            s.execute(update(JobRun).where(JobRun.id == ctx.run_id).values(counts=cursor_state))
    return counts


def _lock_codes(s: Session, items: Sequence[_Item] | None) -> str | None:
    """PostgreSQL: a page that creates products or SKUs takes the importers' code lock before its first write —
    shared when it creates them all in the bulk write (in code order, so such pages can't deadlock one another),
    alone when items of the row-by-row path create some (the catalog's services write them item after item, in
    an order two pages need not share); `items` None: alone, before the page reads anything (no other import
    can then create codes between its read and its writes). Returns the mode taken, if any. SQLite has one
    writer at a time."""
    if s.get_bind().dialect.name != "postgresql":
        return None
    alone = True
    if items is not None:
        creating = [x for x in items if not x.failed and x.fresh]
        if not creating:
            return None
        alone = any(x.bulk is None for x in creating)
    take = func.pg_advisory_xact_lock if alone else func.pg_advisory_xact_lock_shared
    s.execute(select(take(CODES_LOCK)))
    return "alone" if alone else "shared"


def _check_not_overtaken(s: Session, items: Sequence[_Item]) -> None:
    """Raises `_TryAlone` if a SKU these items were to create exists now: another store's import created it
    after this page read Kura's SKUs (PostgreSQL reads what others committed meanwhile; SQLite's one writer
    never sees that happen)."""
    codes = sorted({code for item in items for _, code in item.fresh})
    for chunk in _chunks(codes):
        taken = s.scalars(select(Sku.code).where(among(Sku.code, chunk, s)).limit(1)).first()
        if taken is not None:
            raise _TryAlone(f"SKU {taken!r}, new when the page was read, was created meanwhile by another writer")


def _fail(item: _Item, exc: Exception, counts: Counts) -> None:
    """The item was not imported: its notes become one error naming why (it can be retried alone)."""
    counts.errors += 1
    item.failed = True
    message = exc.message if isinstance(exc, KuraError) else str(exc).splitlines()[0]
    mn = item.listing.manage_number
    item.notes = [_Note("error", mn, f"Item {mn!r} was not imported: {message}", _hint_for(exc), item.raw,
                        {"error": message})]  # fmt: skip


def _hint_for(exc: Exception) -> str:
    if isinstance(exc, IntegrityError):
        return "Another change to the same product or SKU happened at the same moment; retry this item."
    return "Correct the item in RMS (or the conflicting product in Kura), then retry this item alone."


def _is_group(listing: Listing) -> bool:
    return listing.has_variations or len(listing.variants) > 1


def _axes(listing: Listing) -> tuple[list[str], Callable[[ListingVariant], dict[str, str]]]:
    if listing.selectors:
        names = [sel.display_name for sel in listing.selectors]
        if len(set(names)) != len(names):
            names = [sel.key for sel in listing.selectors]
        keys = [sel.key for sel in listing.selectors]

        def values(v: ListingVariant) -> dict[str, str]:
            return {name: v.selector_values.get(key, "") for name, key in zip(names, keys, strict=True)}

        return names, values
    return ["バリエーション"], lambda v: {"バリエーション": v.variant_id}


def _price(variant: ListingVariant, listing: Listing) -> int:
    price = variant.standard_price
    if price is None or price < 0:
        raise KuraError(
            f"SKU {variant.variant_id!r} of item {listing.manage_number!r} has no selling price (standardPrice)"
            + (f"; {listing.item_type} items carry none" if listing.item_type not in (None, "NORMAL") else "")
            + ". Kura needs one per product."
        )
    return price


def _retail(variant: ListingVariant) -> int | None:
    ref = variant.reference_price
    if ref is None or ref.amount is None or ref.amount < 0 or ref.display_type != "REFERENCE_PRICE":
        return None
    return ref.amount


def _decide(ctx: _Context, state: _PageState, item: _Item, counts: Counts) -> None:
    """Which Kura SKU each variant is: bound already, new, linked to an unbound Kura SKU, or a duplicate of
    an earlier variant (the first wins; the item skipping it is reported with both items named)."""
    listing = item.listing
    mn = listing.manage_number
    if not listing.variants:
        raise KuraError(f"Item {mn!r} has no SKUs (variants) in RMS.")
    for variant in listing.variants:
        ext = f"{mn}/{variant.variant_id}"
        sku_id = state.sku_bindings.get(ext)
        if sku_id is not None:
            item.bound.append((variant, sku_id))
            continue
        code = clean_sku(_sku_code(variant, ctx.sku_source))
        first = state.claimed.get(code)
        existing = state.skus.get(code)
        owner = state.sku_owner.get(existing) if existing is not None else None
        if first is None and owner is not None:
            first = owner
        if first is not None and first != ext:
            counts.duplicates += 1
            item.notes.append(_Note("warning", mn, f"Duplicate SKU {code!r}: item {first} has it already (kept); "
                                    f"item {ext} was skipped.", DUPLICATE_HINT,
                                    {"sku": code, "kept": first, "skipped": ext}))  # fmt: skip
            continue
        state.claimed[code] = ext
        if existing is not None:
            item.linked.append((variant, existing))
        else:
            item.fresh.append((variant, code))


# ---------------------------------------------------------------- the bulk path


def _plan(s: Session, ctx: _Context, state: _PageState, items: Sequence[_Item]) -> None:
    """Picks the items the bulk path writes: new products whose SKUs are all new, and bound products whose
    SKUs are all bound to them. Anything else (linked SKUs, a stale binding, a taken product code, a value
    the catalog would refuse) is left to the row-by-row path, which reports it exactly as before."""
    live = [x for x in items if not x.failed and (x.fresh or x.bound or x.linked)]
    product_ids = sorted({state.product_bindings[x.listing.manage_number][1] for x in live
                          if x.listing.manage_number in state.product_bindings})  # fmt: skip
    products: dict[int, Any] = {}
    product_skus: dict[int, list[Any]] = defaultdict(list)
    for chunk in _chunks(product_ids):
        products.update((row.id, row) for row in s.execute(select(
            Product.id, Product.type, Product.code, Product.name, Product.selling_price, Product.retail_price,
            Product.brand, Product.description, Product.images, Product.attributes, Product.active,
            Product.search_text).where(among(Product.id, chunk, s))))  # fmt: skip
        for row in s.execute(select(Sku.id, Sku.product_id, Sku.code, Sku.selling_price, Sku.retail_price,
                                    Sku.active).where(among(Sku.product_id, chunk, s)).order_by(Sku.id)):  # fmt: skip
            product_skus[row.product_id].append(row)
    # Product codes the page may create: taken ones, or one wanted twice, go row by row (first wins there).
    creating: dict[int, str] = {}
    for i, item in enumerate(live):
        binding = state.product_bindings.get(item.listing.manage_number)
        if item.fresh and (binding is None or binding[1] not in products):
            creating[i] = item.listing.manage_number.strip() if _is_group(item.listing) else item.fresh[0][1]
    wanted = Counter(creating.values())
    taken: set[str] = set()
    for chunk in _chunks(sorted(wanted)):
        taken.update(s.scalars(select(Product.code).where(among(Product.code, chunk, s))))
    for i, item in enumerate(live):
        binding = state.product_bindings.get(item.listing.manage_number)
        try:
            if binding is None and item.fresh and not item.bound and not item.linked:
                code = creating[i]
                if wanted[code] == 1 and code not in taken:
                    item.bulk = _new_product(ctx, item, code)
            elif binding is not None and binding[1] in products and item.bound and not item.fresh \
                    and not item.linked:  # fmt: skip
                owned = item.listing.manage_number not in state.not_owned
                item.bulk = _product_update(item, products[binding[1]], product_skus[binding[1]], owned)
        except (KuraError, ValueError, TypeError):
            item.bulk = None  # the row-by-row path raises it again and logs it


def _new_product(ctx: _Context, item: _Item, code: str) -> _NewProduct | None:
    listing, fresh = item.listing, item.fresh
    group = _is_group(listing)
    variants = [v for v, _ in fresh]
    values = validate_fields(_fields(listing, variants[0], group, item_brand(item.raw), variants))
    code = clean_sku(code, "code")  # as the catalog checks a new product's code
    now = utcnow()
    skus: list[dict[str, Any]] = []
    if group:
        names, axis_values = _axes(listing)
        axes = [a.strip() for a in names]
        if not axes or any(not a for a in axes) or len(set(axes)) != len(axes):
            return None
        seen: list[dict[str, str]] = []
        for variant, sku_code in fresh:
            cleaned = {str(k).strip(): str(v).strip() for k, v in axis_values(variant).items()}
            if set(cleaned) != set(axes) or any(not v for v in cleaned.values()):
                return None
            ordered = {axis: cleaned[axis] for axis in axes}
            if ordered in seen:
                return None
            seen.append(ordered)
            selling, retail = _variant_prices_for(variant, values["selling_price"], values["retail_price"])
            skus.append({"code": sku_code, "axis_values": ordered, "selling_price": selling, "retail_price": retail,
                         "active": not variant.hidden, "created_at": now})  # fmt: skip
    else:
        axes = []
        variant, sku_code = fresh[0]
        skus.append({"code": sku_code, "axis_values": {}, "selling_price": None, "retail_price": None,
                     "active": not variant.hidden, "created_at": now})  # fmt: skip
    product = {"type": ProductType.group if group else ProductType.single, "code": code, "axes": axes,
               "search_text": product_search_text(code, values["name"], [x["code"] for x in skus]),
               "created_at": now, "updated_at": now, **values}  # fmt: skip
    return _NewProduct(product, skus, variants)


def _product_update(item: _Item, product: Any, skus: Sequence[Any], owned: bool = True) -> _ProductUpdate | None:
    listing = item.listing
    if product.type == ProductType.kit:
        return None
    by_id = {row.id: row for row in skus}
    if any(sku_id not in by_id for _, sku_id in item.bound):
        return None
    if not owned:  # linked (or listed from Kura): Kura's values stay; only first stock is left to do
        return _ProductUpdate(product.id, {}, False, [], False, item.bound)
    group = _is_group(listing)
    variants = [v for v, _ in item.bound]
    wanted = _field_values(_fields(listing, variants[0], group, item_brand(item.raw), variants))
    differing = {k: v for k, v in wanted.items() if getattr(product, k) != v}
    current = {k: getattr(product, k) for k in ("name", "selling_price", "retail_price", "brand", "description",
                                                "images", "attributes", "active")}  # fmt: skip
    merged = validate_fields(ProductFields(**{**current, **differing}))  # as update_product checks a change
    changes = {k: merged[k] for k in differing if merged[k] != current[k]}
    selling = changes.get("selling_price", product.selling_price)
    retail = changes.get("retail_price", product.retail_price)
    sku_changes: list[dict[str, Any]] = []
    prices_changed = "selling_price" in changes or "retail_price" in changes
    for variant, sku_id in item.bound:
        row = by_id[sku_id]
        change: dict[str, Any] = {}
        if group:
            own_selling, own_retail = _variant_prices_for(variant, selling, retail)
            if row.selling_price != own_selling:
                change["selling_price"] = own_selling
            if row.retail_price != own_retail:
                change["retail_price"] = own_retail
            prices_changed = prices_changed or bool(change)
        if row.active == variant.hidden:
            change["active"] = not variant.hidden
        if change:
            sku_changes.append({"id": sku_id, **change})
    if changes or sku_changes:  # what the catalog's flush hook does for a changed product or SKU
        text = product_search_text(product.code, changes.get("name", product.name), [row.code for row in skus])
        if text != product.search_text:
            changes["search_text"] = text
    if changes:
        changes["updated_at"] = utcnow()
    return _ProductUpdate(product.id, changes, bool(differing), sku_changes, prices_changed, item.bound)


def _write_bulk(s: Session, ctx: _Context, state: _PageState, items: Sequence[_Item],
                quantities: Mapping[tuple[str, str], int]) -> tuple[Counts, set[int]]:  # fmt: skip
    """Writes the planned items with a few executemany statements; returns their counts and the SKUs stocked."""
    counts = Counts()
    new = [x for x in items if isinstance(x.bulk, _NewProduct)]
    updates = [x for x in items if isinstance(x.bulk, _ProductUpdate)]
    now = utcnow()
    stock: list[tuple[int, int]] = []
    references: dict[int, str] = {}

    def stock_of(mn: str, variant: ListingVariant, sku_id: int) -> None:
        quantity = quantities.get((mn, variant.variant_id))
        if quantity is not None and quantity > 0 and sku_id not in references:
            stock.append((sku_id, quantity))
            references[sku_id] = f"rakuten:{mn}/{variant.variant_id}"

    if new:
        plans = [x.bulk for x in new if isinstance(x.bulk, _NewProduct)]
        product_id = _insert_new(s, Product, [p.product for p in plans])
        sku_rows = [{**sku, "product_id": product_id[p.product["code"]]} for p in plans for sku in p.skus]
        sku_id_of = _insert_new(s, Sku, sku_rows)
        bindings: list[dict[str, Any]] = []
        ids = iter([sku_id_of[row["code"]] for row in sku_rows])
        for item, plan in zip(new, plans, strict=True):
            pid = product_id[plan.product["code"]]
            mn = item.listing.manage_number
            bindings.append({"store_id": ctx.store_id, "entity": BindingEntity.product, "local_id": pid,
                             "external_id": mn, "data": {"manage_number": mn, "item_number": item.listing.item_number,
                                                         "created": True},
                             "synced_at": now, "created_at": now})  # fmt: skip
            for variant in plan.variants:
                sku_id = next(ids)
                bindings.append({"store_id": ctx.store_id, "entity": BindingEntity.sku, "local_id": sku_id,
                                 "external_id": f"{mn}/{variant.variant_id}",
                                 "data": {"manage_number": mn, "variant_id": variant.variant_id,
                                          "hidden": variant.hidden},
                                 "synced_at": now, "created_at": now})  # fmt: skip
                stock_of(mn, variant, sku_id)
            counts.products_created += 1
            counts.skus_created += len(plan.skus)
        insert_rows(s, _table(Binding), bindings)
    if updates:
        plans_u = [x.bulk for x in updates if isinstance(x.bulk, _ProductUpdate)]
        product_changes = [{"id": p.product_id, **p.changes} for p in plans_u if p.changes]
        if product_changes:
            s.execute(update(Product), product_changes)
        sku_changes = [change for p in plans_u for change in p.sku_changes]
        if sku_changes:
            s.execute(update(Sku), sku_changes)
        counts.products_updated += sum(p.counted for p in plans_u)
        bound = [(x.listing.manage_number, v, sku_id) for x in updates if isinstance(x.bulk, _ProductUpdate)
                 for v, sku_id in x.bulk.skus]  # fmt: skip
        for mn, variant, sku_id in bound:
            if sku_id not in state.stocked:  # first stock only where Kura has no stock record yet
                stock_of(mn, variant, sku_id)
        _mark_prices(s, [p.product_id for p in plans_u if p.prices_changed])
    if stock:  # first stock, through the inventory's bulk door (levels, ledger, outbox marks)
        receive_many(s, ctx.warehouse_id, stock, reason=StockReason.adjustment, references=references,
                     note="imported from Rakuten", actor="system")  # fmt: skip
        counts.stock_set += len(stock)
    return counts, {sku_id for sku_id, _ in stock}


def _table(entity: type[Product] | type[Sku] | type[Binding]) -> Table:
    return cast(Table, entity.__table__)


def _insert_new(s: Session, entity: type[Product] | type[Sku], rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Inserts new products or SKUs (plain executemany INSERTs); returns their ids by code.

    PostgreSQL: the rows go in code order, so that every import takes the unique index's locks on the codes it
    creates in one order (two imports creating the same codes wait for each other; they can't deadlock). Their
    ids are drawn from the table's sequence first and given in the page's order, so ids still follow RMS's
    order (a group's variants are ordered by id). SQLite has one writer at a time: the rows go in the page's
    order and their ids are read back by code (INSERT … RETURNING in parameter order would make SQLAlchemy send
    one INSERT per row there: no sentinel on these tables)."""
    table = _table(entity)
    if s.get_bind().dialect.name != "postgresql":
        s.execute(insert(table), rows)
        return _ids_by_code(s, entity, [row["code"] for row in rows])
    ids = sorted(s.scalars(text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
                           {"table": table.name, "n": len(rows)}))  # fmt: skip
    numbered = [{**row, "id": row_id} for row, row_id in zip(rows, ids, strict=True)]
    insert_rows(s, table, sorted(numbered, key=lambda row: row["code"]))
    return {row["code"]: row["id"] for row in numbered}


def _ids_by_code(s: Session, entity: type[Product] | type[Sku], codes: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(codes):
        found.update((code, row_id) for row_id, code in s.execute(select(entity.id, entity.code)
                                                                  .where(entity.code.in_(chunk))))  # fmt: skip
    return found


def _mark_prices(s: Session, product_ids: Sequence[int]) -> None:
    """What the listing's price hook does for a price changed through the ORM: every store the product is
    listed on gets a price push queued."""
    by_store: dict[int, list[str]] = defaultdict(list)
    for chunk in _chunks(sorted(product_ids)):
        for store_id, product_id in s.execute(select(Binding.store_id, Binding.local_id).where(
                Binding.entity == BindingEntity.product, among(Binding.local_id, chunk, s))):  # fmt: skip
            by_store[store_id].append(str(product_id))
    for store_id, keys in sorted(by_store.items()):
        outbox.mark_dirty(s, store_id, "price", keys)


# ---------------------------------------------------------------- the row-by-row path


def _write_listing(s: Session, ctx: _Context, state: _PageState, item: _Item,
                   quantities: Mapping[tuple[str, str], int], counts: Counts) -> None:  # fmt: skip
    """Writes one item through the catalog's services (the general path: every case, one row at a time)."""
    listing, raw = item.listing, item.raw
    mn = listing.manage_number
    fresh, bound = item.fresh, item.bound
    linked = [(variant, sku) for variant, sku_id in item.linked if (sku := s.get(Sku, sku_id)) is not None]
    if not (fresh or bound or linked):
        return
    group = _is_group(listing)
    axes, axis_values = _axes(listing) if group else ([], lambda v: {})
    brand = item_brand(raw)
    product = _product_for(s, ctx, state, listing, group, axes, axis_values, brand, fresh, bound, linked, counts,
                           item.notes)  # fmt: skip
    if product is None:
        return
    owned = mn not in state.not_owned
    # SKUs: update the bound ones (of a product this store owns), add the fresh ones, bind fresh and linked ones.
    skus_by_variant: list[tuple[ListingVariant, Sku]] = []
    by_id = {sku.id: sku for sku in product.skus}
    for variant, sku_id in bound:
        sku = by_id.get(sku_id) or s.get(Sku, sku_id)
        if sku is None:
            continue
        if owned and sku.product_id == product.id:
            _update_sku(sku, variant, product, group)
        skus_by_variant.append((variant, sku))
    for variant, code in fresh:
        sku = by_id.get(state.skus[code]) if code in state.skus else None
        if sku is None:
            sku = next((x for x in product.skus if x.code == code), None)
        if sku is None:
            sku = add_variant(s, product.id, VariantSpec(code, axis_values(variant), *_variant_prices(variant, product),
                                                         active=not variant.hidden))  # fmt: skip
        counts.skus_created += 1
        state.skus[code] = sku.id
        skus_by_variant.append((variant, sku))
        _bind(s, ctx, BindingEntity.sku, sku.id, f"{mn}/{variant.variant_id}",
              {"manage_number": mn, "variant_id": variant.variant_id, "hidden": variant.hidden})
    newly_linked: list[Sku] = []
    for variant, sku in linked:
        if s.scalar(select(Binding.id).where(Binding.store_id == ctx.store_id, Binding.entity == BindingEntity.sku,
                                             Binding.local_id == sku.id)) is not None:  # fmt: skip
            continue
        counts.skus_linked += 1
        newly_linked.append(sku)
        skus_by_variant.append((variant, sku))
        _bind(s, ctx, BindingEntity.sku, sku.id, f"{mn}/{variant.variant_id}",
              {"manage_number": mn, "variant_id": variant.variant_id, "hidden": variant.hidden})
    if newly_linked:
        # Kura's stock is the master once a SKU is bound: the store gets Kura's quantity for it, which no
        # stock change would otherwise send (the first stock below is only for SKUs Kura has none of).
        channel_stock.mark_skus_dirty(s, ctx.store_id, [sku.code for sku in newly_linked])
    if newly_linked and not any(n.message.startswith(f"Item {mn!r} linked") for n in item.notes):
        products = sorted({sku.product_id for sku in newly_linked})
        origins = "; ".join(f"product {code!r} {_origin(s, ctx, pid)}" for pid, code in
                            s.execute(select(Product.id, Product.code).where(Product.id.in_(products))))  # fmt: skip
        item.notes.append(_Note("info", mn, f"Item {mn!r}: SKUs {_codes(newly_linked)} were in Kura already "
                                f"({origins}); this store's variants are bound to them, not duplicated."))
    # First stock: only where Kura has no stock record of the SKU yet.
    for variant, sku in skus_by_variant:
        quantity = quantities.get((mn, variant.variant_id))
        if quantity is None or quantity <= 0 or sku.id in state.stocked or sku.is_kit:
            continue
        # Through the inventory's one door (ledger entry, outbox mark), without looking the SKU up again.
        _apply(s, ctx.warehouse_id, sku.id, quantity, 0, StockReason.adjustment,
               reference=f"rakuten:{mn}/{variant.variant_id}", note="imported from Rakuten", actor="system")
        state.stocked.add(sku.id)
        counts.stock_set += 1


def _variant_prices_for(variant: ListingVariant, selling: int, retail: int | None) -> tuple[int | None, int | None]:
    """A variant's own prices: None where it has the product's."""
    price = variant.standard_price
    own_selling = price if price is not None and price >= 0 and price != selling else None
    own_retail = _retail(variant)
    return own_selling, (own_retail if own_retail != retail else None)


def _variant_prices(variant: ListingVariant, product: Product) -> tuple[int | None, int | None]:
    return _variant_prices_for(variant, product.selling_price, product.retail_price)


def _update_sku(sku: Sku, variant: ListingVariant, product: Product, group: bool) -> None:
    if group:
        selling, retail = _variant_prices(variant, product)
        if sku.selling_price != selling:
            sku.selling_price = selling
        if sku.retail_price != retail:
            sku.retail_price = retail
    if sku.active == variant.hidden:
        sku.active = not variant.hidden


def _fields(listing: Listing, first: ListingVariant, group: bool, brand: str | None,
            variants: Iterable[ListingVariant]) -> ProductFields:  # fmt: skip
    prices = [_price(v, listing) for v in variants] if group else [_price(first, listing)]
    return ProductFields(
        name=(listing.title or listing.manage_number)[:255],
        selling_price=min(prices),
        retail_price=None if group else _retail(first),
        brand=brand,
        images=list(dict.fromkeys(listing.images or first.images))[:20],
        active=not listing.hidden,
    )


def _product_for(
    s: Session,
    ctx: _Context,
    state: _PageState,
    listing: Listing,
    group: bool,
    axes: list[str],
    axis_values: Callable[[ListingVariant], dict[str, str]],
    brand: str | None,
    fresh: list[tuple[ListingVariant, str]],
    bound: list[tuple[ListingVariant, int]],
    linked: list[tuple[ListingVariant, Sku]],
    counts: Counts,
    notes: list[_Note],
) -> Product | None:
    """The Kura product of an item: the bound one (updated if this store created it), a linked one (an existing
    Kura product, left as it is), or a new one."""
    mn = listing.manage_number
    variants = [v for v, _ in bound] + [v for v, _ in fresh] + [v for v, _ in linked]
    fields = _fields(listing, variants[0], group, brand, variants)
    binding = state.product_bindings.get(mn)
    product = s.get(Product, binding[1]) if binding is not None else None
    if product is not None:
        if mn in state.not_owned:  # linked or listed from Kura: Kura's values stay
            return product
        changes = {k: v for k, v in _field_values(fields).items() if getattr(product, k) != v}
        if changes:
            update_product(s, product.id, changes)
            counts.products_updated += 1
        return product
    if binding is not None:  # the product was deleted in Kura: forget the stale binding
        s.execute(delete(Binding).where(Binding.id == binding[0]))
    product = _link_target(s, listing, group, fresh, bound, linked)
    if product is not None:
        state.not_owned.add(mn)
        if s.scalar(select(Binding.id).where(Binding.store_id == ctx.store_id, Binding.entity == BindingEntity.product,
                                             Binding.local_id == product.id)) is None:  # fmt: skip
            _bind(s, ctx, BindingEntity.product, product.id, mn,
                  {"manage_number": mn, "item_number": listing.item_number, "linked": True})
            counts.products_linked += 1
            skus = _codes([sku for _, sku in linked])
            notes.append(_Note("info", mn, f"Item {mn!r} linked to Kura product {product.code!r} (id {product.id}), "
                               f"{_origin(s, ctx, product.id)}"
                               + (f"; SKUs {skus} bound to this store's variants" if skus else "")
                               + "; Kura's name and prices are kept.",
                               "Kura keeps one product per SKU: the product now carries this store too. Change "
                               "its name and prices in Kura.", {"product": product.code, "skus": skus}))  # fmt: skip
        return product
    if group:
        specs = [VariantSpec(code, axis_values(v), active=not v.hidden) for v, code in fresh]
        product = create_group(s, mn, fields, axes, [])
        for spec, (variant, _) in zip(specs, fresh, strict=True):
            selling, retail = _variant_prices(variant, product)
            add_variant(s, product.id, VariantSpec(spec.sku, spec.axis_values, selling, retail, spec.active))
    else:
        variant, code = fresh[0]
        product = create_single(s, code, fields)
        product.skus[0].active = not variant.hidden
    counts.products_created += 1
    _bind(s, ctx, BindingEntity.product, product.id, mn,
          {"manage_number": mn, "item_number": listing.item_number, "created": True})
    return product


def _link_target(
    s: Session,
    listing: Listing,
    group: bool,
    fresh: list[tuple[ListingVariant, str]],
    bound: list[tuple[ListingVariant, int]],
    linked: list[tuple[ListingVariant, Sku]],
) -> Product | None:
    """The existing Kura product an unbound item links to, or None for a new one: the product of its first SKU
    that Kura has when it brings no new SKU; else, for a variation item, the group product holding its manage
    number as code, to which its new SKUs are added. Any other taken code can't be linked: the item fails."""
    if not fresh:
        sku = linked[0][1] if linked else s.get(Sku, bound[0][1]) if bound else None
        return sku.product if sku is not None else None
    code = listing.manage_number.strip() if group else fresh[0][1]
    product = s.scalars(select(Product).where(Product.code == code)).first()
    if product is None:
        return None
    if not group or product.type != ProductType.group:
        raise KuraError(
            f"Product code {code!r} is taken by the {product.type.value} product {product.name!r} in Kura, which "
            f"does not carry SKU {fresh[0][1]!r}; Kura can't link this {'variation' if group else 'single'} item to it."
        )
    return product


def _origin(s: Session, ctx: _Context, product_id: int) -> str:
    """Where a Kura product came from, for the log: the first other store bound to it, else Kura's catalog."""
    name = s.scalar(select(Store.name).join(Binding, Binding.store_id == Store.id).where(
        Binding.entity == BindingEntity.product, Binding.local_id == product_id, Binding.store_id != ctx.store_id)
        .order_by(Binding.id).limit(1))  # fmt: skip
    return f"already in Kura from store {name!r}" if name is not None else "already in Kura's catalog"


def _codes(skus: Sequence[Sku]) -> str:
    codes = [sku.code for sku in skus]
    return ", ".join(codes[:10]) + (f" and {len(codes) - 10} more" if len(codes) > 10 else "")


def _field_values(fields: ProductFields) -> dict[str, Any]:
    return {"name": fields.name, "selling_price": fields.selling_price, "retail_price": fields.retail_price,
            "brand": fields.brand, "images": list(fields.images), "active": fields.active}  # fmt: skip


def _bind(s: Session, ctx: _Context, entity: BindingEntity, local_id: int, external_id: str,
          data: dict[str, Any]) -> None:  # fmt: skip
    s.add(Binding(store_id=ctx.store_id, entity=entity, local_id=local_id, external_id=external_id, data=data,
                  synced_at=utcnow()))  # fmt: skip
    s.flush()


# ---------------------------------------------------------------- retry one record


def retry_request(entry_retry: Mapping[str, Any] | None) -> SyncRequest:
    """The sync that retries a logged record alone."""
    if not entry_retry or entry_retry.get("action") != "import_item" or not entry_retry.get("manage_number"):
        raise KuraError("This log entry can't be retried on its own; run Sync Products instead.")
    return SyncRequest(manage_number=str(entry_retry["manage_number"]))


def store_of(db: Database, store_id: int) -> Store:
    with db.reader() as s:
        store = get_store(s, store_id)
        s.expunge(store)
        return store
