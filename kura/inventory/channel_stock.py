"""Stock as a sales channel store sees it: Σ over its warehouses of (on hand − reserved) − buffer, and the
outbox marks that keep every store's copy current.

Quantity of a SKU for a store (DESIGN "Push stock"):

- warehouses: the store's mapped warehouses (`kura.stores.warehouses`), else every active one;
- raw = Σ over them of (on hand − reserved); a kit is assembled within one warehouse, so its raw is
  Σ over warehouses of min over components of ⌊free ÷ per kit⌋ (as `kura.inventory.service` does);
- buffer: the SKU's own buffer for the store, else the store's default, else DEFAULT_BUFFER; either
  `units` held back or a `percent` of raw (rounded up);
- result clamped to 0..MAX_QUANTITY.

Marking (DESIGN rule 2): every stock change goes through `kura.inventory.service._apply`, which calls
`note_changed`; kit composition changes are seen by a flush hook. The changed SKUs collect on the session
and, just before the outermost commit, the affected (store, SKU) pairs — kits containing a changed
component included, and only stores where the SKU is bound — are marked dirty in the outbox, in the same
transaction. After the commit a pusher is woken: in-process when one is running here (embedded), else by a
queue message. A rollback marks and wakes nothing.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import math
import threading
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, UniqueConstraint, event, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from kura.catalog.models import KitComponent, Product, ProductType, Sku
from kura.db import Base, BigIntPK, UTCDateTime
from kura.inventory.models import StockLevel, Warehouse
from kura.jobs import outbox
from kura.sqlrows import among
from kura.stores.models import Binding, BindingEntity, Store

log = logging.getLogger(__name__)

OUTBOX_KIND = "stock"
PUSH_JOB = "rakuten.stock"  # the job that pushes this outbox kind (kura.channels.rakuten.stock)
MAX_QUANTITY = 99_999
_CHUNK = 500


outbox.register_kind(OUTBOX_KIND, PUSH_JOB)


class BufferMode(enum.StrEnum):
    units = "units"  # hold back this many units
    percent = "percent"  # hold back this share of the raw quantity, rounded up


@dataclass(frozen=True)
class Buffer:
    mode: BufferMode
    value: int

    def apply(self, raw: int) -> int:
        held = self.value if self.mode == BufferMode.units else math.ceil(raw * self.value / 100)
        return max(0, min(MAX_QUANTITY, raw - held))

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "value": self.value}


# Default buffer: units sold on Rakuten before Kura knows of them must be covered. They are the SKU's sale
# rate × (order import lag + push latency); at the default order poll and p99 push latency a SKU selling
# up to ~1 unit a minute needs 2 units (see bench/bench_stock.py and docs in the report). Stores override it.
DEFAULT_BUFFER = Buffer(BufferMode.units, 2)


class StockBuffer(Base):
    """A buffer for one SKU on one store, overriding the store's default (`settings["stock_buffer"]`)."""

    __tablename__ = "stock_buffers"
    __table_args__ = (
        UniqueConstraint("store_id", "sku_id"),
        CheckConstraint("value >= 0", name="value_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), index=True)
    mode: Mapped[BufferMode] = mapped_column(Enum(BufferMode, native_enum=False, length=10))
    value: Mapped[int] = mapped_column()


class ChannelStock(Base):
    """What a store was last told about a SKU (pushed quantity and time) and what the last reconciliation
    read back from it (checked quantity, time, drift = theirs − ours)."""

    __tablename__ = "channel_stock"
    __table_args__ = (
        UniqueConstraint("store_id", "sku_id"),
        Index("ix_channel_stock_store_drift", "store_id", "drift"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), index=True)
    pushed_qty: Mapped[int | None] = mapped_column()
    pushed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Kura's own quantity when it pushed (pushed_qty can be less: the sales guard held units back)
    basis_qty: Mapped[int | None] = mapped_column()
    checked_qty: Mapped[int | None] = mapped_column()  # Rakuten's quantity at the last reconciliation
    expected_qty: Mapped[int | None] = mapped_column()  # Kura's quantity at that moment
    drift: Mapped[int | None] = mapped_column()  # checked − expected; 0 or None = in step
    checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Units of this store's own orders for the SKU that Kura first held since the last push: Rakuten counted
    # those sales itself, so the next push must not take them off twice.
    order_units: Mapped[int] = mapped_column(default=0, server_default="0")


# ---------------------------------------------------------------- buffers


def _buffer(value: Any) -> Buffer | None:
    if not isinstance(value, Mapping):
        return None
    try:
        return Buffer(BufferMode(value.get("mode", "units")), int(value["value"]))
    except (KeyError, ValueError, TypeError):
        return None


def check_buffer(mode: str, value: int) -> Buffer:
    from kura.errors import Invalid

    try:
        parsed = BufferMode(mode)
    except ValueError:
        raise Invalid("mode", f"Buffer mode must be one of {[m.value for m in BufferMode]}; got {mode!r}.") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Invalid("value", f"A buffer is a whole number ≥ 0; got {value!r}.")
    if parsed == BufferMode.percent and value > 100:
        raise Invalid("value", "A percent buffer is 0–100.")
    if value > MAX_QUANTITY:
        raise Invalid("value", f"A buffer of more than {MAX_QUANTITY} units holds everything back.")
    return Buffer(parsed, value)


def store_buffer(store: Store) -> Buffer:
    return _buffer((store.settings or {}).get("stock_buffer")) or DEFAULT_BUFFER


def set_store_buffer(session: Session, store_id: int, mode: str, value: int) -> Buffer:
    """The store's default buffer; every listed SKU is pushed again."""
    buffer = check_buffer(mode, value)
    store = _store(session, store_id)
    store.settings = {**(store.settings or {}), "stock_buffer": buffer.to_dict()}
    session.flush()
    mark_store_dirty(session, store_id)
    return buffer


def set_sku_buffer(session: Session, store_id: int, sku_id: int, mode: str | None, value: int | None) -> None:
    """One SKU's buffer on a store (mode None: back to the store's default); that SKU is pushed again."""
    _store(session, store_id)
    row = session.scalar(select(StockBuffer).where(StockBuffer.store_id == store_id, StockBuffer.sku_id == sku_id))
    if mode is None:
        if row is not None:
            session.delete(row)
    else:
        buffer = check_buffer(mode, value if value is not None else -1)
        if row is None:
            row = StockBuffer(store_id=store_id, sku_id=sku_id)
            session.add(row)
        row.mode, row.value = buffer.mode, buffer.value
    session.flush()
    note_changed(session, [sku_id])


def sku_buffers(session: Session, store_id: int, sku_ids: Collection[int] | None = None) -> dict[int, Buffer]:
    stmt = select(StockBuffer.sku_id, StockBuffer.mode, StockBuffer.value).where(StockBuffer.store_id == store_id)
    found: dict[int, Buffer] = {}
    if sku_ids is None:
        for sku_id, mode, value in session.execute(stmt):
            found[sku_id] = Buffer(mode, value)
        return found
    ids = list(sku_ids)
    for i in range(0, len(ids), _CHUNK):
        for sku_id, mode, value in session.execute(stmt.where(StockBuffer.sku_id.in_(ids[i : i + _CHUNK]))):
            found[sku_id] = Buffer(mode, value)
    return found


def _store(session: Session, store_id: int) -> Store:
    from kura.errors import StoreGone

    store = session.get(Store, store_id)
    if store is None:
        raise StoreGone(f"No store with id {store_id}.")
    return store


# ---------------------------------------------------------------- the quantity


def store_warehouses(session: Session, store_id: int) -> list[int]:
    """The warehouses whose stock a store sells: its mapped active ones, else every active one."""
    from kura.stores.warehouses import reserving_warehouses

    return reserving_warehouses(session, store_id)


@dataclass(frozen=True)
class Quantity:
    sku_id: int
    raw: int  # Σ (on hand − reserved) over the store's warehouses (kits: assembled per warehouse)
    buffer: Buffer
    quantity: int  # what the store is told


def store_quantities(session: Session, store_id: int, sku_ids: Collection[int]) -> dict[int, Quantity]:
    """The quantity of each SKU for the store, computed for all of them with a handful of queries."""
    store = _store(session, store_id)
    warehouses = store_warehouses(session, store_id)
    ids = sorted(set(sku_ids))
    kits: dict[int, list[tuple[int, int]]] = {}
    is_kit: set[int] = set()
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        is_kit.update(session.scalars(
            select(Sku.id).join(Product, Product.id == Sku.product_id)
            .where(among(Sku.id, chunk, session), Product.type == ProductType.kit)
        ))  # fmt: skip
    kit_ids = sorted(is_kit)
    for i in range(0, len(kit_ids), _CHUNK):
        rows = session.execute(
            select(KitComponent.kit_sku_id, KitComponent.component_sku_id, KitComponent.quantity).where(
                among(KitComponent.kit_sku_id, kit_ids[i : i + _CHUNK], session)
            )
        )
        for kit_id, component_id, per_kit in rows:
            kits.setdefault(kit_id, []).append((component_id, per_kit))
    stocked = {s for s in ids if s not in is_kit} | {c for parts in kits.values() for c, _ in parts}
    free: dict[tuple[int, int], int] = {}
    stocked_ids = sorted(stocked)
    if warehouses:
        for i in range(0, len(stocked_ids), _CHUNK):
            rows = session.execute(
                select(StockLevel.warehouse_id, StockLevel.sku_id, StockLevel.on_hand - StockLevel.reserved).where(
                    among(StockLevel.sku_id, stocked_ids[i : i + _CHUNK], session),
                    StockLevel.warehouse_id.in_(warehouses),
                )
            )
            for warehouse_id, sku_id, units in rows:
                free[(warehouse_id, sku_id)] = units
    default = store_buffer(store)
    own = sku_buffers(session, store_id, ids)
    result: dict[int, Quantity] = {}
    for sku_id in ids:
        if sku_id in is_kit:
            parts = kits.get(sku_id, [])
            raw = sum(min(free.get((w, c), 0) // q for c, q in parts) for w in warehouses) if parts else 0
        else:
            raw = sum(free.get((w, sku_id), 0) for w in warehouses)
        buffer = own.get(sku_id, default)
        result[sku_id] = Quantity(sku_id, raw, buffer, buffer.apply(raw))
    return result


def store_quantity(session: Session, store_id: int, sku_id: int) -> int:
    return store_quantities(session, store_id, [sku_id])[sku_id].quantity


# ---------------------------------------------------------------- marking dirty

_PENDING = "kura_stock_changed"
_WAKE = "kura_stock_wake"
_ORDER_LINES = "kura_stock_order_lines"


def note_order_line(session: Session, order_line_id: int) -> None:
    """Kura holds an order line's units: the first time, they are counted on the line's own store and SKU (a
    kit's, not its components') for the sales guard of the next push (`kura.channels.rakuten.stock.guarded`):
    Rakuten took that sale off its count itself. Counted once per line: releasing and holding it again (a
    re-allocation) is not a new sale, and a cancellation gives Kura the units back but not Rakuten (a SKU's
    restockOnCancel is off unless the seller set it), so the next push offers them again.

    The line is flagged now; the count is added just before the commit, after the outbox marks, so every writer
    locks outbox rows before channel_stock rows (as the pusher and the reconciliation do)."""
    from kura.orders.models import OrderLine

    flipped = session.execute(
        update(OrderLine).where(OrderLine.id == order_line_id, OrderLine.stock_counted.is_(False),
                                OrderLine.sku_id.is_not(None))
        .values(stock_counted=True).execution_options(synchronize_session=False)
    )  # fmt: skip
    if getattr(flipped, "rowcount", 0):
        session.info.setdefault(_ORDER_LINES, set()).add(order_line_id)


def _count_order_lines(session: Session, line_ids: set[int]) -> None:
    """Adds the flagged lines' units to their (store, SKU) rows; a line whose flag a rolled-back savepoint undid
    is not counted."""
    from kura.orders.models import Order, OrderLine

    units: dict[tuple[int, int], int] = defaultdict(int)
    ids = sorted(line_ids)
    for i in range(0, len(ids), _CHUNK):
        for store_id, sku_id, quantity in session.execute(
            select(Order.store_id, OrderLine.sku_id, OrderLine.quantity).join(Order, Order.id == OrderLine.order_id)
            .where(OrderLine.id.in_(ids[i : i + _CHUNK]), OrderLine.stock_counted.is_(True))
        ):  # fmt: skip
            if sku_id is not None:
                units[(store_id, sku_id)] += quantity
    for (store_id, sku_id), n in sorted(units.items()):  # channel_stock rows in (store, SKU) order
        session.execute(
            update(ChannelStock).where(ChannelStock.store_id == store_id, ChannelStock.sku_id == sku_id)
            .values(order_units=ChannelStock.order_units + n).execution_options(synchronize_session=False)
        )  # fmt: skip


def note_changed(session: Session, sku_ids: Iterable[int]) -> None:
    """SKUs whose stock (or buffer, or kit composition) changed in this transaction; marked at commit."""
    session.info.setdefault(_PENDING, set()).update(sku_ids)


def mark_store_dirty(session: Session, store_id: int) -> int:
    """Every SKU bound on the store (its mapping or default buffer changed); returns how many."""
    codes = list(session.scalars(
        select(Sku.code).join(Binding, Binding.local_id == Sku.id)
        .where(Binding.store_id == store_id, Binding.entity == BindingEntity.sku)
    ))  # fmt: skip
    mark_skus_dirty(session, store_id, codes)
    return len(codes)


def mark_skus_dirty(session: Session, store_id: int, codes: Collection[str]) -> None:
    """These SKU codes of the store (just listed, say) are pushed after the commit."""
    if codes:
        outbox.mark_dirty(session, store_id, OUTBOX_KIND, sorted(set(codes)), kick=False)
        _wake_after_commit(session, [store_id])


def mark_dirty_skus(session: Session, sku_ids: Collection[int]) -> dict[int, list[str]]:
    """Marks (store, SKU) dirty for these SKUs and the kits containing them, on stores where each is bound."""
    ids = set(sku_ids)
    frontier = set(ids)
    while frontier:  # kits of kits are not allowed today, but a loop costs nothing
        chunk = sorted(frontier)
        found: set[int] = set()
        for i in range(0, len(chunk), _CHUNK):
            found.update(session.scalars(
                select(KitComponent.kit_sku_id)
                .where(among(KitComponent.component_sku_id, chunk[i : i + _CHUNK], session))
            ))  # fmt: skip
        frontier = found - ids
        ids |= found
    by_store: dict[int, list[str]] = defaultdict(list)
    wanted = sorted(ids)
    for i in range(0, len(wanted), _CHUNK):
        rows = session.execute(
            select(Binding.store_id, Sku.code)
            .join(Sku, Sku.id == Binding.local_id)
            .where(Binding.entity == BindingEntity.sku, among(Binding.local_id, wanted[i : i + _CHUNK], session))
        )
        for store_id, code in rows:
            by_store[store_id].append(code)
    for store_id in sorted(by_store):  # one lock order for every writer: stores, then keys, sorted
        outbox.mark_dirty(session, store_id, OUTBOX_KIND, sorted(by_store[store_id]), kick=False)
    _wake_after_commit(session, list(by_store))
    return dict(by_store)


@event.listens_for(Session, "before_commit")
def _mark_before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: the outer transaction marks everything at its own commit
    pending: set[int] = session.info.pop(_PENDING, set())
    if pending:
        mark_dirty_skus(session, pending)
    lines: set[int] = session.info.pop(_ORDER_LINES, set())
    if lines:  # after the outbox marks: the lock order of the pusher and the reconciliation
        _count_order_lines(session, lines)


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the outermost transaction rolled back
        session.info.pop(_PENDING, None)
        session.info.pop(_WAKE, None)
        session.info.pop(_ORDER_LINES, None)


@event.listens_for(Session, "after_flush")
def _kit_changes(session: Session, _context: Any) -> None:
    # after the flush: a component added through kit.components has its kit_sku_id only now
    kits = {o.kit_sku_id for o in (*session.new, *session.deleted, *session.dirty) if isinstance(o, KitComponent)}
    kits.discard(None)
    if kits:
        note_changed(session, kits)


# ---------------------------------------------------------------- waking a pusher after commit

_local_lock = threading.Lock()
_local: dict[int, threading.Event] = {}  # store id → the wake-up of a pusher running in this process


def register_local(store_id: int) -> threading.Event:
    """A pusher in this process serves the store: commits here wake it directly instead of via the queue."""
    with _local_lock:
        waker = _local.setdefault(store_id, threading.Event())
        return waker


def unregister_local(store_id: int, waker: threading.Event) -> None:
    with _local_lock:
        if _local.get(store_id) is waker:
            del _local[store_id]


def wake(store_id: int) -> bool:
    """Wakes this process's pusher of the store; False when none runs here."""
    with _local_lock:
        waker = _local.get(store_id)
    if waker is None:
        return False
    waker.set()
    return True


def _wake_after_commit(session: Session, store_ids: Iterable[int]) -> None:
    if not session.info.get(_WAKE + "_listening"):
        event.listen(session, "after_commit", _send_wakes)
        session.info[_WAKE + "_listening"] = True
    session.info.setdefault(_WAKE, set()).update(store_ids)


def _send_wakes(session: Session) -> None:
    stores: set[int] = session.info.pop(_WAKE, set())
    if not stores:
        return
    from kura.jobs.queue import enqueue, get_huey, load_kinds

    load_kinds()
    for store_id in sorted(stores):
        if wake(store_id):
            continue
        try:
            enqueue(get_huey(), outbox.job_for(OUTBOX_KIND), store_id)
        except Exception:
            log.exception("stock push kick for store %s lost; the sweeper re-sends it", store_id)


def warehouse_stores(session: Session, warehouse_id: int) -> list[int]:
    """Stores whose quantity counts this warehouse (mapped to it, or with no mapping at all)."""
    from kura.stores.warehouses import StoreWarehouse

    mapped = set(session.scalars(select(StoreWarehouse.store_id).where(StoreWarehouse.warehouse_id == warehouse_id)))
    unmapped = set(session.scalars(
        select(Store.id).where(~Store.id.in_(select(StoreWarehouse.store_id).distinct()))
    ))  # fmt: skip
    return sorted(mapped | unmapped)


def warehouse_changed(session: Session, warehouse: Warehouse) -> None:
    """A warehouse was (de)activated: every store counting it is pushed again."""
    for store_id in warehouse_stores(session, warehouse.id):
        mark_store_dirty(session, store_id)
