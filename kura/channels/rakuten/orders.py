"""Order sync with Rakuten: the importer (history on connect, new orders, status changes, Sync Orders) and the
exporter (auto-confirm, cancellation from Kura, Packed → the shop's "Processed" sub-status).

Statuses. Every order keeps Rakuten's own status (orderProgress, sub-status) beside its OMS status, and
both are in its history. The OMS status follows the seed's table, kept as data in `statuses.py`:
200 → MP_unpaid, 300 → New, 500 → In_transit, 700 → Complete, 800 → Cancel_in_progress, 900 → Cancel.
The other three codes have no OMS status of their own, and this is the rule for them:

- 100 (waiting for the shop's confirmation), 400 (an edit waiting for confirmation) and 600 (payment in
  progress) never move an order's OMS status: the order stays where it is in Kura's flow and shows the
  Rakuten code beside it; the change is a history row of its own.
- An order first seen in one of them starts where the preceding Rakuten status would have put it
  (`FIRST_SEEN`): 100 → MP_unpaid (not yet released), 400 → New (400 follows 300), 600 → In_transit
  (600 follows 500). Its stock is reserved like any unshipped order's.
- Edits made on Rakuten are applied once they are confirmed (the order has left 400), and only while the
  order has not shipped; an allocated or packed order is taken back to New and allocated again.

Moving to a mapped status walks the status table step by step (e.g. RFP → Packed → In_transit when the
shop reported the shipment in RMS), so every step's stock effect happens: a cancellation releases, a
shipment consumes. A move the table has no road for (a cancellation after shipping is a return) is
recorded and left to a person. Lines with a SKU Kura does not know keep the order on hold ("unknown_sku")
until the SKU exists; the polls re-check them.

Rules kept here: getOrder/searchOrder calls happen outside database write transactions (a fetch thread
feeds a writer, fetching the next batches while one is written); a batch of 100 is written in one
transaction with bulk inserts, and only when that fails again with a savepoint per order, so one order's
failure is logged with a retry hint and never blocks its batch; the UNIQUE (store, order number) decides a
race between two workers (the loser updates instead); cursors move only
after a successful poll, which covers from the cursor minus the overlap to now; personal data never goes
to the log.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, TypeVar, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, undefer

from kura import japan
from kura.catalog.service import find_skus
from kura.channels.rakuten import mapping
from kura.channels.rakuten.client import OrderQuery, RmsClient
from kura.channels.rakuten.errors import RmsError, Suspended
from kura.channels.rakuten.statuses import ORDER_PROGRESS, PACKED_SUB_STATUS, PROGRESS_TO_OMS
from kura.db import Database, error_text, utcnow
from kura.errors import Invalid, KuraError, StoreGone
from kura.jobs import registry
from kura.jobs.leases import Lease
from kura.jobs.registry import Progress, job_kind
from kura.jobs.runs import JobRun, RunStatus, queue_run
from kura.jobs.schedules import ensure_schedule
from kura.orders import service as orders
from kura.orders.models import (
    Address,
    Order,
    OrderLine,
    OrderPackage,
    OrderStatusChange,
    OrderSyncRequest,
    OrderSyncState,
)
from kura.orders.statuses import OrderStatus
from kura.stores.models import Channel, SkuSource, Store, StoreStatus
from kura.stores.warehouses import reserving_warehouses

log = logging.getLogger(__name__)

ACTOR = "rakuten"
KIND_NEW = "rakuten.orders.new"
KIND_STATUS = "rakuten.orders.status"
KIND_SYNC = "rakuten.orders.sync"  # history on connect and Sync Orders (date ranges)
ALL_PROGRESS: tuple[int, ...] = tuple(sorted(ORDER_PROGRESS))
# The seed's list for the history ("Cancellation confirmed", "Payment procedure completed", "Paid",
# "Shipped", "Waiting for Shipping", "Waiting for Rakuten processing"); "Paid" is read as 600 (payment in
# progress), so both payment states come in.
HISTORY_PROGRESS: tuple[int, ...] = (200, 300, 500, 600, 700, 900)
# Orders Kura keeps asking Rakuten about: every status that can still change (700 and 900 are final but
# for a cancellation after shipping, which the 900 sweep catches).
ACTIVE_PROGRESS: tuple[int, ...] = (100, 200, 300, 400, 500, 600, 800)
_FIRST_SEEN_UNMAPPED = {100: OrderStatus.MP_unpaid, 400: OrderStatus.New, 600: OrderStatus.In_transit}
FIRST_SEEN: dict[int, OrderStatus] = {
    code: OrderStatus(oms) if (oms := PROGRESS_TO_OMS[code]) else _FIRST_SEEN_UNMAPPED[code] for code in ALL_PROGRESS
}
CANCEL_REASONS: dict[int, str] = {
    1: "customer: cancellation",
    2: "customer: return after receipt",
    3: "customer: not received (absence)",
    4: "customer: unpaid",
    5: "customer: COD refused",
    6: "customer: other",
    8: "shop: out of stock",
    10: "shop: other",
    13: "shop: shipping delay",
    14: "shop: caution-display customer",
    15: "shop: return (damaged / wrong item)",
}
MIN_INTERVAL_S = 30
MAX_HISTORY_DAYS = 730
_AGE_MARGIN = dt.timedelta(hours=1)  # stay clear of RMS's 730-day edge whatever the clocks say


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class OrderSyncSettings:
    """A store's order-sync settings (Store.settings["orders"]); every value has a default."""

    history_days: int = 90
    new_orders_interval_s: int = 300  # the seed: new orders every 5 minutes
    status_interval_s: int = 1800  # the seed: status changes every 30 minutes
    overlap_s: int = 600  # each poll re-reads this much of the previous window
    sweep_days: int = 14  # the status poll also looks for orders it never saw over this many days
    get_order_version: int | None = None  # None: the client's default (the newest)
    history_statuses: tuple[int, ...] = HISTORY_PROGRESS
    auto_confirm: bool = False  # confirmOrder for orders waiting at 100
    packed_sub_status: str | None = PACKED_SUB_STATUS  # None: don't push Packed to Rakuten

    @classmethod
    def of(cls, store: Store) -> OrderSyncSettings:
        raw = dict((store.settings or {}).get("orders") or {})
        known = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {k: (tuple(v) if k == "history_statuses" else v) for k, v in raw.items() if k in known}
        return cls(**values)

    def checked(self) -> OrderSyncSettings:
        def whole(name: str, low: int, high: int) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise Invalid(f"orders.{name}", f"{name} must be a whole number from {low} to {high}; got {value!r}.")

        whole("history_days", 1, MAX_HISTORY_DAYS)
        whole("new_orders_interval_s", MIN_INTERVAL_S, 86400)
        whole("status_interval_s", MIN_INTERVAL_S, 7 * 86400)
        whole("overlap_s", 0, 86400)
        whole("sweep_days", 1, 63)
        if self.get_order_version is not None:
            whole("get_order_version", 7, 99)  # ≥ 7: SkuModelList
        if not self.history_statuses or any(c not in ORDER_PROGRESS for c in self.history_statuses):
            raise Invalid("orders.history_statuses", f"history_statuses must be orderProgress codes {ALL_PROGRESS}.")
        if not isinstance(self.auto_confirm, bool):
            raise Invalid("orders.auto_confirm", "auto_confirm is true or false.")
        if self.packed_sub_status is not None and (
            not isinstance(self.packed_sub_status, str)
            or not self.packed_sub_status.strip()
            or len(self.packed_sub_status) > 100
            or "\x00" in self.packed_sub_status
        ):
            raise Invalid("orders.packed_sub_status", "Name the shop's sub-status (at most 100 characters), or null "
                                                      "to push nothing.")  # fmt: skip
        return self


def update_order_settings(session: Session, store_id: int, changes: Mapping[str, Any]) -> OrderSyncSettings:
    """Changes a store's order-sync settings and its two poll schedules (intervals down to 30 seconds)."""
    store = orders.get_store(session, store_id)
    known = {f.name for f in dataclasses.fields(OrderSyncSettings)}
    unknown = set(changes) - known
    if unknown:
        raise Invalid(
            f"orders.{sorted(unknown)[0]}", f"Unknown order setting(s) {sorted(unknown)}; known: {sorted(known)}."
        )
    current = dataclasses.asdict(OrderSyncSettings.of(store))
    merged = {**current, **changes}
    if not isinstance(merged["history_statuses"], list | tuple):  # null or a lone number: a message, not a 500
        raise Invalid("orders.history_statuses", f"history_statuses is a list of orderProgress codes {ALL_PROGRESS}.")
    merged["history_statuses"] = tuple(merged["history_statuses"])
    settings = OrderSyncSettings(**merged).checked()
    stored = {
        k: v
        for k, v in dataclasses.asdict(settings).items()
        if k in changes or k in (store.settings or {}).get("orders", {})
    }
    stored["history_statuses"] = list(settings.history_statuses) if "history_statuses" in stored else None
    stored = {k: v for k, v in stored.items() if v is not None or k in changes}
    store.settings = {**(store.settings or {}), "orders": stored}
    if store.channel == Channel.rakuten:
        _ensure_schedules(session, store, settings)
    session.flush()
    return settings


def _ensure_schedules(session: Session, store: Store, settings: OrderSyncSettings) -> None:
    enabled = store.status == StoreStatus.active
    ensure_schedule(session, KIND_NEW, store.id, settings.new_orders_interval_s, enabled=enabled)
    ensure_schedule(session, KIND_STATUS, store.id, settings.status_interval_s, enabled=enabled)


# ---------------------------------------------------------------- Rakuten → Kura: one order


def _digits(value: str | None) -> str:
    return "".join(ch for ch in value or "" if ch.isdigit())


def _address(person: mapping.Person | None) -> Address:
    """Kura's address from Rakuten's; normalised where Kura's rules accept the value, kept as sent where not
    (an import must not drop an order over an odd postal code)."""
    p = person or mapping.Person(None, None, None, None, None, None, None, None, None, None)
    try:
        postal = japan.postal_code(p.zip_code or "")
    except Invalid:
        postal = (p.zip_code or "")[:8]
    try:
        prefecture = japan.prefecture(p.prefecture or "").name
    except (Invalid, KeyError, ValueError):
        prefecture = (p.prefecture or "")[:10]
    try:
        phone = japan.phone(p.phone or "")
    except Invalid:
        phone = _digits(p.phone)[:20]
    return Address(
        family_name=(p.family_name or "")[:100],
        given_name=(p.first_name or "")[:100],
        family_name_kana=(p.family_name_kana or None) and p.family_name_kana[:100],
        given_name_kana=(p.first_name_kana or None) and p.first_name_kana[:100],
        postal_code=postal,
        prefecture=prefecture,
        address_line1=(p.city or "")[:255],
        address_line2=(p.sub_address or None) and p.sub_address[:255],
        phone=phone,
    )


def sku_code(line: mapping.OrderLine, source: SkuSource) -> str:
    """Kura's SKU code for a Rakuten line, by the store's rule (the product import uses the same one)."""
    first = (line.variant_id, line.sku) if source == SkuSource.variant_id else (line.sku, line.variant_id)
    for candidate in (*first, line.item_number, line.manage_number):
        if candidate and candidate.strip():
            return candidate.strip()[:100]
    return f"item-{line.item_id or line.item_detail_id or 'unknown'}"


def _tax_percent(rate: float | None) -> int:
    return 10 if rate is None else round(rate * 100)


@dataclass(frozen=True)
class _Content:
    """What an order holds, to tell whether a re-import changed it."""

    packages: tuple[tuple[int, tuple[tuple[str, int, int], ...]], ...]


def _content_of(ro: mapping.Order, source: SkuSource) -> _Content:
    return _Content(
        tuple(
            (p.basket_id, tuple((sku_code(x, source), x.quantity, _unit_price(x)) for x in p.lines if not x.deleted))
            for p in ro.packages
            if not p.deleted
        )
    )


def _content_of_order(order: Order) -> _Content:
    by_package: dict[int | None, list[tuple[str, int, int]]] = {}
    for line in order.lines:
        by_package.setdefault(line.package_id, []).append((line.sku, line.quantity, line.unit_price))
    return _Content(tuple((p.basket_id, tuple(by_package.get(p.id, []))) for p in order.packages))


def _unit_price(line: mapping.OrderLine) -> int:
    price = line.unit_price_tax_included if line.unit_price_tax_included is not None else line.unit_price
    return max(price or 0, 0)


@dataclass
class _PackageRows:
    """One package of an order and its lines, as column values (ORM objects or bulk rows are made of them)."""

    package: dict[str, Any]  # `recipient` is an Address
    lines: list[dict[str, Any]]


def _content_rows(ro: mapping.Order, source: SkuSource, known_skus: Mapping[str, int]) -> list[_PackageRows]:
    """Packages and lines of an order from Rakuten's, numbered 1.. over the order, SKUs matched."""
    out: list[_PackageRows] = []
    line_no = 0
    for p in ro.packages:
        if p.deleted:
            continue
        package = {
            "basket_id": p.basket_id,
            "goods_total": max(p.goods_price or 0, 0),
            "shipping_fee": max(p.postage_price or 0, 0),
            "cod_fee": max(p.cod_fee or 0, 0),
            "total": max(p.total_price or 0, 0),
            "carrier_code": p.default_carrier_code,
            "shipments": [_shipment(s) for s in p.shipments],
            "recipient": _address(p.recipient),
        }
        lines = []
        for x in p.lines:
            if x.deleted or x.quantity < 1:
                continue
            line_no += 1
            code = sku_code(x, source)
            lines.append(
                {
                    "line_no": line_no,
                    "sku": code,
                    "sku_id": known_skus.get(code),
                    "name": (x.name or x.item_number or "?")[:255],
                    "quantity": x.quantity,
                    "unit_price": _unit_price(x),
                    "tax_rate": _tax_percent(x.tax_rate),
                    "item_detail_id": x.item_detail_id,
                    "manage_number": x.manage_number,
                    "variant_id": x.variant_id,
                    "item_number": x.item_number,
                    "sku_info": x.sku_info,
                    "selected_choice": x.selected_choice,
                }
            )
        out.append(_PackageRows(package, lines))
    return out


def _line_codes(ro: mapping.Order, source: SkuSource) -> list[str]:
    return [sku_code(x, source) for p in ro.packages if not p.deleted for x in p.lines if not x.deleted]


def _build_content(
    order: Order, ro: mapping.Order, source: SkuSource, session: Session, known_skus: Mapping[str, int] | None = None
) -> None:
    """Packages and lines of the order from Rakuten's (the order has none at this point)."""
    if known_skus is None:
        known_skus = {code: sku.id for code, sku in find_skus(session, _line_codes(ro, source)).items()}
    all_lines: list[OrderLine] = []
    for rows in _content_rows(ro, source, known_skus):
        package = OrderPackage(**rows.package)
        order.packages.append(package)
        all_lines.extend(OrderLine(package=package, **line) for line in rows.lines)
    order.lines.extend(all_lines)
    session.flush()


def _shipment(s: mapping.Shipment) -> dict[str, Any]:
    return {
        "shipping_detail_id": s.shipping_detail_id,
        "carrier_code": s.carrier_code,
        "carrier_name": s.carrier_name,
        "tracking_number": s.tracking_number,
        "shipped_on": s.shipped_on.isoformat() if s.shipped_on else None,
    }


def _set_header(order: Order | SimpleNamespace, ro: mapping.Order, raw: Mapping[str, Any], *, addresses: bool) -> None:
    """Everything of the order but its status, lines and packages."""
    goods = (
        ro.goods_price
        if ro.goods_price is not None
        else sum(_unit_price(x) * x.quantity for p in ro.packages for x in p.lines if not x.deleted)
    )
    shipping, discount, points = ro.postage_price or 0, ro.coupon_total or 0, ro.used_points or 0
    tax = sum(t.billed_tax or 0 for t in ro.taxes)
    order.ordered_at = ro.ordered_at
    order.payment_method = (ro.settlement_name or (f"code {ro.settlement_code}" if ro.settlement_code else "-"))[:100]
    order.payment_code = ro.settlement_code
    order.goods_total = max(goods, 0)
    order.tax_total = max(tax, 0)
    order.shipping_fee = max(shipping, 0)
    order.discount_total = max(discount, 0)
    order.points_used = max(points, 0)
    order.cod_fee = max(ro.cod_fee or 0, 0)
    order.payment_charge = max(ro.payment_charge or 0, 0)
    billed = ro.request_price
    order.total = billed if billed is not None else max(goods + shipping + order.cod_fee - discount - points, 0)
    order.amounts_fixed = None not in (ro.postage_price, ro.total_price, ro.request_price)
    order.delivery_method = ro.delivery_name[:100] if ro.delivery_name else None
    order.delivery_class = ro.delivery_class
    order.delivery_date = ro.delivery_date
    order.time_slot = ro.shipping_term
    order.note = ro.remarks
    order.channel_sub_status_id = ro.sub_status_id
    order.channel_sub_status = ro.sub_status_name[:100] if ro.sub_status_name else None
    order.channel_payload = dict(raw)
    order.channel_synced_at = utcnow()
    if addresses:
        orderer = _address(ro.orderer)
        first = next((p for p in ro.packages if not p.deleted and p.recipient), None)
        order.orderer = orderer
        order.shipping = _address(first.recipient) if first else dataclasses.replace(orderer)
        order.orderer_email = ro.orderer.email[:255] if ro.orderer and ro.orderer.email else None


def _progress_note(before: int | None, after: int) -> str:
    name = ORDER_PROGRESS[after].name_ja
    return f"Rakuten {after} {name}" if before is None else f"Rakuten {before} → {after} {name}"


def _target(ro: mapping.Order, settings: OrderSyncSettings) -> OrderStatus | None:
    oms = PROGRESS_TO_OMS.get(ro.progress)
    return OrderStatus(oms) if oms else None


def _create(
    session: Session,
    store: Store,
    ro: mapping.Order,
    raw: Mapping[str, Any],
    known_skus: Mapping[str, int] | None = None,
) -> Order:
    status = FIRST_SEEN[ro.progress]
    order = Order(store_id=store.id, order_number=ro.order_number, status=status, channel_status=ro.progress)
    _set_header(order, ro, raw, addresses=True)
    order.history.append(
        OrderStatusChange(
            from_status=None,
            to_status=status,
            actor=ACTOR,
            note=f"imported; {_progress_note(None, ro.progress)}",
            channel_status=ro.progress,
            channel_sub_status=order.channel_sub_status,
        )
    )
    session.add(order)
    _build_content(order, ro, store.sku_source, session, known_skus)
    return order


_BACK_TO_NEW = {
    OrderStatus.Ready_to_Ship: OrderStatus.Packed,
    OrderStatus.Packed: OrderStatus.RFP,
    OrderStatus.RFP: OrderStatus.New,
    OrderStatus.Partial: OrderStatus.New,
}


def _apply_edit(session: Session, store: Store, order: Order, ro: mapping.Order) -> None:
    """Rakuten's confirmed edit replaces the lines and packages of an unshipped order; held stock is given
    back and taken again, and an allocated or packed order goes back to New first."""
    orders.release_lines(session, order, order.lines, actor=ACTOR)
    while order.status in _BACK_TO_NEW:
        orders.change_status(
            session,
            order.id,
            _BACK_TO_NEW[order.status],
            actor=ACTOR,
            note="Rakuten edit: lines changed, allocating again",
        )
    order.lines.clear()
    order.packages.clear()
    session.flush()
    _build_content(order, ro, store.sku_source, session)


def apply_order(
    session: Session,
    store: Store,
    raw: Mapping[str, Any],
    warehouse_ids: Sequence[int],
    *,
    existing: Mapping[str, Order | None] | None = None,
    known_skus: Mapping[str, int] | None = None,
) -> str:
    """Creates or updates one order from a getOrder OrderModel; returns created, updated or unchanged.

    Two workers importing one order at once: the UNIQUE (store, order number) lets one insert; the other's
    insert fails inside its savepoint and it applies the order as an update instead."""
    ro = mapping.order_from_rakuten(raw)
    order = existing.get(ro.order_number) if existing is not None else _locked(session, store.id, ro.order_number)
    if order is None:
        try:
            with session.begin_nested():
                order = _create(session, store, ro, raw, known_skus)
        except IntegrityError:
            order = _locked(session, store.id, ro.order_number)
            if order is None:
                raise
            return _update(session, store, order, ro, raw, warehouse_ids)
        orders.settle_stock(session, order, warehouse_ids, actor=ACTOR)
        return "created"
    return _update(session, store, order, ro, raw, warehouse_ids)


def _locked(session: Session, store_id: int, number: str) -> Order | None:
    stmt = select(Order).where(Order.store_id == store_id, Order.order_number == number)
    return session.scalar(stmt.with_for_update(of=Order).execution_options(populate_existing=True))


def _update(
    session: Session,
    store: Store,
    order: Order,
    ro: mapping.Order,
    raw: Mapping[str, Any],
    warehouse_ids: Sequence[int],
) -> str:
    if order.channel_payload == dict(raw):
        return "unchanged"
    before_progress, before_sub = order.channel_status, order.channel_sub_status
    rows_before = len(order.history)
    unshipped = order.status in orders.UNSHIPPED
    _set_header(order, ro, raw, addresses=unshipped)
    order.channel_status = ro.progress
    edited = False
    if unshipped and ro.progress != 400 and _content_of(ro, store.sku_source) != _content_of_order(order):
        _apply_edit(session, store, order, ro)
        edited = True
    else:  # shipments and charges per package change after shipping too
        for package, p in zip(order.packages, [p for p in ro.packages if not p.deleted], strict=False):
            if package.basket_id == p.basket_id:
                package.shipments = [_shipment(s) for s in p.shipments]
                package.carrier_code = p.default_carrier_code
    target = _target(ro, OrderSyncSettings())
    note = _progress_note(before_progress, ro.progress) if before_progress != ro.progress else "Rakuten update"
    if target is not None and not orders.follow_channel(
        session,
        order,
        target,
        actor=ACTOR,
        note=note,
        channel_status=ro.progress,
        channel_sub_status=order.channel_sub_status,
    ):
        orders.record_channel_change(
            session,
            order,
            actor=ACTOR,
            channel_status=ro.progress,
            channel_sub_status=order.channel_sub_status,
            note=f"{note}; Kura keeps {order.status} (no such move in the status "
            "table: handle it in Kura, e.g. as a return)",
        )
    if (
        ro.progress == 300
        and order.status == OrderStatus.RFP
        and order.channel_sub_status
        and order.channel_sub_status == (OrderSyncSettings.of(store).packed_sub_status or None)
    ):
        orders.follow_channel(
            session,
            order,
            OrderStatus.Packed,
            actor=ACTOR,
            channel_status=ro.progress,
            channel_sub_status=order.channel_sub_status,
            note=f"Rakuten sub-status {order.channel_sub_status}",
        )
    changed_on_rakuten = before_progress != ro.progress or before_sub != order.channel_sub_status or edited
    if len(order.history) == rows_before and changed_on_rakuten:
        extra = "; lines edited on Rakuten" if edited else ""
        sub = f" (sub-status {order.channel_sub_status})" if before_sub != order.channel_sub_status else ""
        orders.record_channel_change(
            session,
            order,
            actor=ACTOR,
            channel_status=ro.progress,
            channel_sub_status=order.channel_sub_status,
            note=f"{note}{sub}{extra}",
        )
    elif edited:
        orders.record_channel_change(
            session,
            order,
            actor=ACTOR,
            channel_status=ro.progress,
            channel_sub_status=order.channel_sub_status,
            note="Rakuten edit applied: lines, quantities or packages changed",
        )
    if order.status in orders.UNSHIPPED:
        orders.settle_stock(session, order, warehouse_ids, actor=ACTOR)
    session.flush()
    return "updated"


# ---------------------------------------------------------------- fetching (no transaction open) and writing

T = TypeVar("T")
_DONE = object()


def _prefetched(source: Iterator[T], depth: int = 3) -> Iterator[T]:
    """Runs `source` (network I/O) in a thread, `depth` items ahead of the consumer (database writes)."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    thread = threading.Thread(target=produce, name="kura-order-fetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _chunked(values: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass
class Tally:
    """What an import did, kept with its run."""

    found: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    confirmed: int = 0
    packed_pushed: int = 0
    skus_resolved: int = 0

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def counts(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def _batch_codes(models: Sequence[Mapping[str, Any]], source: SkuSource) -> set[str]:
    """The SKU codes of a batch, to look them up once (a model that does not parse is left to apply_order)."""
    codes: set[str] = set()
    for model in models:
        try:
            ro = mapping.order_from_rakuten(model)
        except (ValueError, KeyError, TypeError):
            continue
        codes.update(sku_code(x, source) for p in ro.packages for x in p.lines)
    return codes


# ---------------------------------------------------------------- writing a batch in bulk


def _kind(exc: BaseException) -> str:
    """An exception's type, and the driver's for a database error (never its text)."""
    orig = getattr(exc, "orig", None)
    return f"{type(exc).__name__}/{type(orig).__name__}" if orig is not None else type(exc).__name__


class _FastPathDeclined(Exception):
    """The batch is not for the fast path (the careful path writes it)."""


@dataclass(frozen=True)
class _Created:
    order_id: int
    holds_stock: bool  # a line has a known SKU: settle_stock reserves (and allocates) for it


def _flat(prefix: str, address: Address) -> dict[str, Any]:
    return {f"{prefix}{f.name}": getattr(address, f.name) for f in dataclasses.fields(Address)}


class _Row(SimpleNamespace):
    """Column values of an order being inserted in bulk (`_set_header` fills it like an Order)."""


def _existing_orders(session: Session, store_id: int, numbers: Sequence[str]) -> dict[str, Order]:
    """The store's orders among `numbers`, locked, with their payloads (compared to tell unchanged ones)."""
    found: dict[str, Order] = {}
    for i in range(0, len(numbers), 500):
        stmt = (
            select(Order)
            .where(Order.store_id == store_id, Order.order_number.in_(numbers[i : i + 500]))
            .options(undefer(Order.channel_payload))
            .with_for_update(of=Order)
            .execution_options(populate_existing=True)
        )
        found.update({o.order_number: o for o in session.scalars(stmt)})
    return found


def _dialect_insert(session: Session, table: Table) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(table)
    return sqlite_insert(table)


def _insert_orders(
    session: Session,
    store: Store,
    fresh: Sequence[tuple[str, Mapping[str, Any], mapping.Order]],
    known_skus: Mapping[str, int],
) -> dict[str, _Created]:
    """Inserts new orders with their packages, lines and first history row, four statements in all;
    returns the orders inserted by number. An order the UNIQUE (store, order number) refuses (another
    worker inserted it since the batch looked) is left out: the caller updates it instead."""
    if not fresh:
        return {}
    now = utcnow()
    rows: list[dict[str, Any]] = []
    contents: dict[str, list[_PackageRows]] = {}
    for number, raw, ro in sorted(fresh, key=lambda item: item[0]):  # one insert order for every writer
        header = _Row()
        _set_header(header, ro, raw, addresses=True)
        content = _content_rows(ro, store.sku_source, known_skus)
        lines = [line for p in content for line in p.lines]
        values = {k: v for k, v in vars(header).items() if k not in ("orderer", "shipping")}
        values.update(_flat("orderer_", header.orderer))
        values.update(_flat("ship_", header.shipping))
        values.update(
            store_id=store.id,
            order_number=number,
            status=FIRST_SEEN[ro.progress],
            channel_status=ro.progress,
            # what settle_stock decides for lines Kura does not know; known ones are settled afterwards
            hold="unknown_sku" if any(line["sku_id"] is None for line in lines) else None,
            created_at=now,
            updated_at=now,
        )
        rows.append(values)
        contents[number] = content
    orders_table = cast(Table, Order.__table__)
    stmt = (
        _dialect_insert(session, orders_table)
        .on_conflict_do_nothing(index_elements=["store_id", "order_number"])
        .returning(orders_table.c.id, orders_table.c.order_number)
    )
    ids: dict[str, int] = {number: order_id for order_id, number in session.execute(stmt, rows)}
    if not ids:
        return {}
    package_rows = [
        {
            "order_id": ids[number],
            **{k: v for k, v in p.package.items() if k != "recipient"},
            **_flat("", p.package["recipient"]),
        }
        for number, content in contents.items()
        if number in ids
        for p in content
    ]
    package_ids: dict[tuple[int, int], int] = {}
    if package_rows:
        packages_table = cast(Table, OrderPackage.__table__)
        returned = session.execute(
            insert(packages_table).returning(
                packages_table.c.id, packages_table.c.order_id, packages_table.c.basket_id
            ),
            package_rows,
        )
        package_ids = {(order_id, basket): package_id for package_id, order_id, basket in returned}
    line_rows = [
        {**line, "order_id": ids[number], "package_id": package_ids[(ids[number], p.package["basket_id"])]}
        for number, content in contents.items()
        if number in ids
        for p in content
        for line in p.lines
    ]
    if line_rows:
        session.execute(insert(cast(Table, OrderLine.__table__)), line_rows)
    history_rows = [
        {
            "order_id": ids[row["order_number"]],
            "from_status": None,
            "to_status": row["status"],
            "at": now,
            "actor": ACTOR,
            "note": f"imported; {_progress_note(None, row['channel_status'])}",
            "channel_status": row["channel_status"],
            "channel_sub_status": row["channel_sub_status"],
        }
        for row in rows
        if row["order_number"] in ids
    ]
    session.execute(insert(cast(Table, OrderStatusChange.__table__)), history_rows)
    return {
        number: _Created(ids[number], any(line["sku_id"] is not None for p in content for line in p.lines))
        for number, content in contents.items()
        if number in ids
    }


def _load_orders(session: Session, order_ids: Sequence[int]) -> dict[int, Order]:
    """Orders just inserted in bulk, as ORM objects with their lines (for settle_stock)."""
    found: dict[int, Order] = {}
    for i in range(0, len(order_ids), 500):
        found.update({o.id: o for o in session.scalars(select(Order).where(Order.id.in_(order_ids[i : i + 500])))})
    return found


class OrderImporter:
    """Imports orders of one store: getOrder in batches of 100 in a fetch thread (the next batches are
    fetched while one is written), each batch written in one transaction in bulk (`_write_fast`). If that
    fails, the batch is written again with a savepoint per order, so a failing order is logged alone; after
    a lock error, one order per transaction."""

    def __init__(
        self,
        db: Database,
        store_id: int,
        client: RmsClient,
        *,
        run_id: int | None = None,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> None:
        self.db = db
        self.store_id = store_id
        self.client = client
        self.run_id = run_id
        self.progress = progress
        self.tally = Tally()
        with db.reader() as s:
            store = orders.get_store(s, store_id)
            self.settings = OrderSyncSettings.of(store)

    def search(self, start: dt.datetime, end: dt.datetime, statuses: Sequence[int] = ()) -> Iterator[str]:
        oldest = utcnow() - dt.timedelta(days=MAX_HISTORY_DAYS) + _AGE_MARGIN
        query = OrderQuery(date_type=1, start=max(start, oldest), end=end, progress=tuple(statuses))
        return self.client.iter_order_numbers(query)

    def _fetch(self, numbers: Iterable[str]) -> Iterator[tuple[list[str], Any]]:
        for batch in _chunked(numbers, self.client.settings.order_batch):
            yield batch, self.client.get_orders(batch, version=self.settings.get_order_version)

    def run(self, numbers: Iterable[str], total: int | None = None) -> Tally:
        for batch, result in _prefetched(self._fetch(numbers)):
            self.tally.found += len(batch)
            self._write(result.orders)
            for number, error in result.failed.items():
                self.tally.failed += 1
                self._log_failure(number, f"getOrder refused this order: {error}", "fetch")
            if self.progress is not None:
                self.progress(self.tally.found, total)
        return self.tally

    def _write(self, models: Sequence[Mapping[str, Any]]) -> None:
        """Writes a getOrder batch: the fast path first (one transaction, bulk inserts); if anything in it
        fails, the whole batch again with a savepoint per order, and after a lock error one order at a time."""
        if not models:
            return
        # Logged by type only: a database error's text carries the statement's parameters (personal data).
        try:
            outcomes = self._write_fast(models)
        except Exception as exc:  # any failure: the careful path decides order by order
            log.warning(
                "store %s: bulk write of an order batch failed (%s); written order by order", self.store_id, _kind(exc)
            )
            try:
                outcomes = self._write_batch(models, one_by_one=False)
            except OperationalError as again:  # a deadlock or lock timeout with a concurrent writer
                log.warning("store %s: order batch retried one order per transaction (%s)", self.store_id, _kind(again))
                outcomes = self._write_batch(models, one_by_one=True)
        for outcome in outcomes:
            self.tally.add(outcome)

    def _write_fast(self, models: Sequence[Mapping[str, Any]]) -> list[str]:
        """The batch in one transaction without a savepoint per order: existing orders and SKUs loaded by one
        query each, new orders, packages, lines and first history rows inserted in bulk (ON CONFLICT DO
        NOTHING on (store, order number): an order another worker inserted meanwhile is updated instead),
        then, in the batch's order, stock for the new orders and Rakuten's changes to the known ones. Orders
        that do not parse fail alone; any other error raises and the caller falls back to `_write_batch`."""
        parsed: list[tuple[str, Mapping[str, Any], mapping.Order | None]] = []
        bad: dict[str, Exception] = {}
        for model in models:
            number = str(model.get("orderNumber"))
            try:
                parsed.append((number, model, mapping.order_from_rakuten(model)))
            except (KuraError, ValueError, KeyError, TypeError) as exc:
                parsed.append((number, model, None))
                bad[number] = exc
        numbers = [n for n, _, ro in parsed if ro is not None]
        if len(set(numbers)) != len(numbers):
            raise _FastPathDeclined("an order number appears twice in the batch")
        outcomes: list[str] = []
        with self.db.transaction() as s:
            store = orders.get_store(s, self.store_id)
            warehouses = reserving_warehouses(s, store.id)
            existing = _existing_orders(s, store.id, numbers)
            codes = {c for _, _, ro in parsed if ro is not None for c in _line_codes(ro, store.sku_source)}
            known = {code: sku.id for code, sku in find_skus(s, codes).items()}
            fresh = [(n, raw, ro) for n, raw, ro in parsed if ro is not None and n not in existing]
            created = _insert_orders(s, store, fresh, known)
            lost = [n for n, _, _ in fresh if n not in created]  # another worker inserted them meanwhile
            for number in lost:
                order = _locked(s, store.id, number)
                if order is None:
                    raise _FastPathDeclined(f"order {number} was neither inserted nor found")
                existing[number] = order
            to_settle = _load_orders(s, [c.order_id for c in created.values() if c.holds_stock])
            for number, raw, ro in parsed:
                if ro is None:
                    outcomes.append("failed")
                    kind = type(bad[number]).__name__
                    self._log_failure(number, f"could not apply the order ({kind})", "apply", session=s)
                    log.warning("store %s order %s not applied: %s", self.store_id, number, kind)
                elif number in created:
                    new = created[number]
                    if new.holds_stock:
                        orders.settle_stock(s, to_settle[new.order_id], warehouses, actor=ACTOR)
                    outcomes.append("created")
                else:
                    outcomes.append(_update(s, store, existing[number], ro, raw, warehouses))
            s.flush()
        return outcomes

    def _write_batch(self, models: Sequence[Mapping[str, Any]], *, one_by_one: bool) -> list[str]:
        outcomes: list[str] = []
        groups = [[m] for m in models] if one_by_one else [list(models)]
        for group in groups:
            with self.db.transaction() as s:
                store = orders.get_store(s, self.store_id)
                warehouses = reserving_warehouses(s, store.id)
                numbers = [str(m.get("orderNumber")) for m in group]
                existing: dict[str, Order | None] = dict.fromkeys(numbers)
                existing.update(
                    {
                        o.order_number: o
                        for o in s.scalars(
                            select(Order)
                            .where(Order.store_id == store.id, Order.order_number.in_(numbers))
                            .options(undefer(Order.channel_payload))
                            .with_for_update(of=Order)
                            .execution_options(populate_existing=True)
                        )
                    }
                )
                known = {code: sku.id for code, sku in find_skus(s, _batch_codes(group, store.sku_source)).items()}
                for model in group:
                    number = str(model.get("orderNumber"))
                    try:
                        with s.begin_nested():
                            outcomes.append(
                                apply_order(s, store, model, warehouses, existing=existing, known_skus=known)
                            )
                    except (KuraError, ValueError, KeyError, TypeError, IntegrityError) as exc:
                        outcomes.append("failed")
                        self._log_failure(
                            number, f"could not apply the order ({type(exc).__name__})", "apply", session=s
                        )
                        log.warning("store %s order %s not applied: %s", self.store_id, number, type(exc).__name__)
        return outcomes

    def _log_failure(self, number: str, message: str, stage: str, session: Session | None = None) -> None:
        from kura.stores.service import log_entry

        def write(s: Session) -> None:
            log_entry(
                s,
                self.store_id,
                kind="orders",
                level="error",
                message=f"Order {number}: {message}",
                run_id=self.run_id,
                entity_ref=number,
                hint="Retry this order alone with Sync Orders over its date, or `kura sync orders --store "
                f"{self.store_id} --order {number}`; if it keeps failing, the raw order is in the log.",
                retry={"kind": KIND_SYNC, "order_number": number, "stage": stage},
            )

        if session is not None:
            write(session)
        else:
            with self.db.transaction() as s:
                write(s)


# ---------------------------------------------------------------- store state, requests and the client


def _client(db: Database, store_id: int, run_id: int | None) -> RmsClient:
    from kura.stores.service import client_for

    with db.reader() as s:
        store = orders.get_store(s, store_id)
    return client_for(store, db, run_id=run_id)


ClientFactory = Callable[[Database, int, int | None], RmsClient]
client_factory: ClientFactory = _client
"""How the jobs get a store's client (tests may point it at a sandbox-specific factory)."""


def _store_ready(db: Database, store_id: int) -> Store | None:
    with db.reader() as s:
        store = s.get(Store, store_id)
        if store is None or store.channel != Channel.rakuten or store.status != StoreStatus.active:
            return None
        return store


def _state(session: Session, store_id: int) -> OrderSyncState:
    state = session.get(OrderSyncState, store_id, with_for_update=True)
    if state is None:
        state = OrderSyncState(store_id=store_id)
        session.add(state)
        session.flush()
    return state


def start_order_sync(db: Database, store_id: int, *, now: dt.datetime | None = None) -> int | None:
    """What connecting a shop starts: the two poll schedules, the new-orders cursor at now, and the
    history import (the last `history_days` days, the seed's statuses) as a queued run; returns its run
    id, or None when the store had been started before. The caller kicks KIND_SYNC after this returns."""
    now = now or utcnow()
    with db.transaction() as s:
        # The store row locked: a settings change committing meanwhile (intervals set right after connecting,
        # while the import runs) is read here, not overwritten in the schedules by the defaults read before it.
        store = s.get(Store, store_id, with_for_update=True)
        if store is None:
            raise StoreGone(f"No store with id {store_id}.")
        if store.channel != Channel.rakuten:
            raise Invalid("store", f"Store {store.name!r} is not a Rakuten shop.")
        settings = OrderSyncSettings.of(store)
        _ensure_schedules(s, store, settings)
        if s.get(OrderSyncState, store_id) is not None:
            return None
        state = _state(s, store_id)
        state.new_orders_cursor = now
        state.status_cursor = now
        state.history_requested_at = now
        run = queue_run(s, KIND_SYNC, store_id)
        s.add(
            OrderSyncRequest(
                store_id=store_id,
                start=now - dt.timedelta(days=settings.history_days),
                end=now,
                statuses=list(settings.history_statuses),
                reason="history",
                run_id=run.id,
            )
        )
        return run.id


def request_sync(
    db: Database,
    store_id: int,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    *,
    order_numbers: Sequence[str] = (),
) -> int:
    """Sync Orders: a queued run importing every order (any status) placed in [start, end] (default: the
    store's history days up to now); returns the run id. The caller kicks KIND_SYNC after this returns."""
    now = utcnow()
    with db.transaction() as s:
        store = orders.get_store(s, store_id)
        if store.channel != Channel.rakuten:
            raise Invalid("store", f"Store {store.name!r} is not a Rakuten shop; it has no orders to sync.")
        settings = OrderSyncSettings.of(store)
        begin = start or now - dt.timedelta(days=settings.history_days)
        for name, value in (("from", begin), ("to", end)):
            if value is not None and value.tzinfo is None:
                raise Invalid(name, f"{name} needs a time zone (e.g. 2025-05-01T00:00:00+09:00).")
        if end is not None and end < begin:
            raise Invalid("to", "to is before from.")
        if begin < now - dt.timedelta(days=MAX_HISTORY_DAYS):
            raise Invalid(
                "from",
                f"Rakuten keeps orders for {MAX_HISTORY_DAYS} days; start on or after "
                f"{(now - dt.timedelta(days=MAX_HISTORY_DAYS)).date()}.",
            )
        run = queue_run(s, KIND_SYNC, store_id)
        s.add(
            OrderSyncRequest(
                store_id=store_id,
                start=begin,
                end=end,
                statuses=None,
                reason="manual",
                run_id=run.id,
                counts={"order_numbers": list(order_numbers)} if order_numbers else None,
            )
        )
        return run.id


class _RunProgress:
    """Progress of a request's own run (when another run does the work), written at most twice a second."""

    def __init__(self, db: Database, run_id: int | None, also: Progress) -> None:
        self.db, self.run_id, self.also, self._last = db, run_id, also, 0.0

    def __call__(self, done: int, total: int | None = None) -> None:
        self.also(done, total)
        if self.run_id is None or time.monotonic() - self._last < 0.5:
            return
        self._last = time.monotonic()
        from kura.jobs.runs import update_progress

        with self.db.transaction() as s:
            update_progress(s, self.run_id, done, total)


def _mark_run(
    db: Database,
    run_id: int | None,
    own: int | None,
    status: RunStatus,
    counts: dict[str, Any],
    error: str | None = None,
) -> None:
    if run_id is None or run_id == own:
        return  # run_job records the job's own run
    from kura.jobs.runs import finish_run, start_run

    with db.transaction() as s:
        if s.get(JobRun, run_id) is None:
            return
        if status == RunStatus.running:
            start_run(s, KIND_SYNC, None, run_id)
        else:
            finish_run(s, run_id, status, counts=counts, error=error)


@contextmanager
def _store_client(db: Database, store_id: int, run_id: int | None) -> Iterator[RmsClient]:
    """The store's RMS client for one order job: closed at the end; a suspended key (401/403) pauses the
    store before the error goes on to the job layer."""
    client = client_factory(db, store_id, run_id)
    try:
        yield client
    except Suspended as exc:
        _suspend(db, store_id, exc)
        raise
    finally:
        client.close()


@job_kind(KIND_SYNC, lease_ttl_s=600)
def run_sync_requests(store_id: int | None, progress: Progress) -> dict[str, Any]:
    """Works through the store's pending order-sync requests (history, Sync Orders), oldest first."""
    assert store_id is not None
    db = registry.job_database()
    own = getattr(progress, "run_id", None)
    if _store_ready(db, store_id) is None:
        return {"skipped": "the store is not an active Rakuten shop"}
    totals = Tally()
    requests = 0
    with _store_client(db, store_id, own) as client:
        while True:
            with db.reader() as s:
                request = s.scalar(
                    select(OrderSyncRequest)
                    .where(OrderSyncRequest.store_id == store_id, OrderSyncRequest.status == "pending")
                    .order_by(OrderSyncRequest.id)
                    .limit(1)
                )
            if request is None:
                break
            requests += 1
            _mark_run(db, request.run_id, own, RunStatus.running, {})
            importer = OrderImporter(
                db,
                store_id,
                client,
                run_id=request.run_id or own,
                progress=_RunProgress(db, request.run_id if request.run_id != own else None, progress),
            )
            try:
                wanted = list((request.counts or {}).get("order_numbers") or [])
                numbers = (
                    iter(wanted)
                    if wanted
                    else importer.search(request.start, request.end or utcnow(), request.statuses or ())
                )
                tally = importer.run(numbers, len(wanted) or None)
            except BaseException as exc:
                reason = error_text(exc)  # a database error by its type: its text can quote a buyer's address
                _finish_request(db, request.id, "failed", importer.tally, reason)
                _mark_run(db, request.run_id, own, RunStatus.failed, importer.tally.counts(), reason)
                raise
            _finish_request(db, request.id, "done", tally, None)
            _mark_run(db, request.run_id, own, RunStatus.done, tally.counts())
            for key, value in tally.counts().items():
                setattr(totals, key, getattr(totals, key) + value)
    return {**totals.counts(), "requests": requests}


def _finish_request(db: Database, request_id: int, status: str, tally: Tally, error: str | None) -> None:
    with db.transaction() as s:
        request = s.get_one(OrderSyncRequest, request_id)
        request.status = status
        request.counts = {**(request.counts or {}), **tally.counts()}
        request.error = error[-2000:] if error else None
        request.finished_at = utcnow()
        if request.reason == "history" and status == "done":
            _state(s, request.store_id).history_done_at = request.finished_at


def _suspend(db: Database, store_id: int, exc: Suspended) -> None:
    from kura.stores.service import mark_needs_attention

    mark_needs_attention(db, store_id, f"Rakuten refused the licence key during the order sync ({exc.code or 401}).")


def _known(db: Database, store_id: int, numbers: Sequence[str]) -> dict[str, int | None]:
    """Order number → Rakuten status, for the given numbers Kura has."""
    found: dict[str, int | None] = {}
    with db.reader() as s:
        for i in range(0, len(numbers), 500):
            rows = s.execute(
                select(Order.order_number, Order.channel_status).where(
                    Order.store_id == store_id, Order.order_number.in_(numbers[i : i + 500])
                )
            )
            found.update({n: c for n, c in rows})
    return found


def _poll_window(cursor: dt.datetime | None, overlap_s: int, now: dt.datetime, floor: dt.timedelta) -> dt.datetime:
    start = (cursor or now) - dt.timedelta(seconds=overlap_s)
    return min(start, now - floor) if floor else start


@job_kind(KIND_NEW, lease_ttl_s=600)
def poll_new_orders(store_id: int | None, progress: Progress) -> dict[str, Any]:
    """New orders: every order placed since the last successful poll (minus the overlap), in any status;
    then auto-confirm, the Packed sub-status, and orders whose unknown SKUs Kura knows by now."""
    assert store_id is not None
    db = registry.job_database()
    if _store_ready(db, store_id) is None:
        return {"skipped": "the store is not an active Rakuten shop"}
    now = utcnow().replace(microsecond=0)
    with db.reader() as s:
        state = s.get(OrderSyncState, store_id)
        cursor = state.new_orders_cursor if state else None
    run_id = getattr(progress, "run_id", None)
    with _store_client(db, store_id, run_id) as client:
        importer = OrderImporter(db, store_id, client, run_id=run_id, progress=progress)
        start = _poll_window(cursor, importer.settings.overlap_s, now, dt.timedelta(0))
        importer.run(importer.search(start, now))
        _after_import(db, store_id, client, importer)
    with db.transaction() as s:
        _state(s, store_id).new_orders_cursor = now  # only after success
    return {**importer.tally.counts(), "from": start.isoformat(), "to": now.isoformat()}


@job_kind(KIND_STATUS, lease_ttl_s=900)
def poll_status_changes(store_id: int | None, progress: Progress) -> dict[str, Any]:
    """Status changes: every order Kura holds in a status that can still change, orders of the last
    `sweep_days` (or since the last successful poll, if longer) that Kura never saw, and recent
    cancellations of completed orders."""
    assert store_id is not None
    db = registry.job_database()
    if _store_ready(db, store_id) is None:
        return {"skipped": "the store is not an active Rakuten shop"}
    now = utcnow().replace(microsecond=0)
    with db.reader() as s:
        state = s.get(OrderSyncState, store_id)
        cursor = state.status_cursor if state else None
        active = list(
            s.scalars(
                select(Order.order_number)
                .where(Order.store_id == store_id, Order.channel_status.in_(ACTIVE_PROGRESS))
                .order_by(Order.ordered_at)
            )
        )
    run_id = getattr(progress, "run_id", None)
    with _store_client(db, store_id, run_id) as client:
        importer = OrderImporter(db, store_id, client, run_id=run_id, progress=progress)
        start = _poll_window(cursor, importer.settings.overlap_s, now, dt.timedelta(days=importer.settings.sweep_days))
        swept = list(importer.search(start, now))
        known = _known(db, store_id, swept)
        cancelled = list(importer.search(start, now, (900,)))
        known_cancelled = _known(db, store_id, cancelled)
        wanted = list(
            dict.fromkeys(
                active
                + [n for n in swept if n not in known]
                + [n for n in cancelled if known_cancelled.get(n, 0) != 900]
            )
        )
        importer.run(iter(wanted), len(wanted))
        _after_import(db, store_id, client, importer)
    with db.transaction() as s:
        _state(s, store_id).status_cursor = now
    return {**importer.tally.counts(), "from": start.isoformat(), "to": now.isoformat()}


def _after_import(db: Database, store_id: int, client: RmsClient, importer: OrderImporter) -> None:
    if importer.settings.auto_confirm:
        importer.tally.confirmed += auto_confirm(db, store_id, client, importer)
    if importer.settings.packed_sub_status:
        importer.tally.packed_pushed += push_packed(db, store_id, client, importer.settings.packed_sub_status)
    importer.tally.skus_resolved += resolve_unknown_skus(db, store_id)


# ---------------------------------------------------------------- unknown SKUs


def resolve_unknown_skus(db: Database, store_id: int | None = None) -> int:
    """Lets orders on hold for an unknown SKU proceed once the catalog has it; returns the orders resolved.
    The polls call it; the product import may call it after creating SKUs."""
    with db.reader() as s:
        order_ids = orders.orders_with_unknown_skus(s, store_id=store_id)
    resolved = 0
    for order_id in order_ids:
        with db.transaction() as s:
            order = orders.get_order(s, order_id)
            if orders.resolve_unknown_skus(s, order_id, reserving_warehouses(s, order.store_id), actor="system"):
                resolved += 1
    return resolved


# ---------------------------------------------------------------- Kura → Rakuten


def auto_confirm(db: Database, store_id: int, client: RmsClient, importer: OrderImporter | None = None) -> int:
    """confirmOrder for the store's orders waiting at 100 whose amounts are fixed; re-imports them."""
    with db.reader() as s:
        numbers = list(
            s.scalars(
                select(Order.order_number).where(
                    Order.store_id == store_id, Order.channel_status == 100, Order.amounts_fixed.is_(True)
                )
            )
        )
    confirmed: list[str] = []
    for batch in _chunked(numbers, client.settings.order_batch):
        result = client.confirm_orders(batch)
        confirmed.extend(result.succeeded(batch))
        for number, error in result.failed.items():
            log.info("store %s: confirmOrder refused %s (%s)", store_id, number, error.code)
    if confirmed:
        (importer or OrderImporter(db, store_id, client)).run(iter(confirmed))
    return len(confirmed)


def push_packed(db: Database, store_id: int, client: RmsClient, sub_status_name: str) -> int:
    """Packed (or Ready_to_Ship) orders still waiting for shipping on Rakuten get the shop's sub-status of
    that name, where the shop has one; returns the orders updated."""
    with db.reader() as s:
        rows = s.execute(
            select(Order.order_number).where(
                Order.store_id == store_id,
                Order.status.in_([OrderStatus.Packed, OrderStatus.Ready_to_Ship]),
                Order.channel_status == 300,
                (Order.channel_sub_status.is_(None)) | (Order.channel_sub_status != sub_status_name),
            )
        ).all()
    numbers = [r[0] for r in rows]
    if not numbers:
        return 0
    sub = next((x for x in client.get_sub_status_list() if x.progress == 300 and x.name == sub_status_name), None)
    if sub is None:
        log.info("store %s has no sub-status %r at 300; Packed is not pushed", store_id, sub_status_name)
        return 0
    done = 0
    for batch in _chunked(numbers, client.settings.order_batch):
        result = client.update_order_sub_status(sub.sub_status_id, batch)
        ok = result.succeeded(batch)
        with db.transaction() as s:
            for number in ok:
                order = _locked(s, store_id, number)
                if order is None:
                    continue
                order.channel_sub_status, order.channel_sub_status_id = sub.name[:100], sub.sub_status_id
                orders.record_channel_change(
                    s,
                    order,
                    actor="system",
                    channel_status=order.channel_status,
                    channel_sub_status=sub.name,
                    note=f"Rakuten sub-status set to {sub.name}",
                )
        done += len(ok)
    return done


def cancel_on_rakuten(
    db: Database, order_id: int, reason: int, *, actor: str | None = None, client: RmsClient | None = None
) -> Order:
    """Cancels an order on Rakuten (cancelOrder, allowed at 100/200/300) with a reason code, then reads it
    back: Rakuten answers with 800 (waiting for cancellation confirmation) → Cancel_in_progress."""
    if reason not in CANCEL_REASONS:
        raise Invalid("reason", f"Unknown cancel reason {reason}; use one of {CANCEL_REASONS}.")
    with db.reader() as s:
        order = orders.get_order(s, order_id)
        store = order.store
        number, progress = order.order_number, order.channel_status
        if store.channel != Channel.rakuten:
            raise Invalid("order", f"Order {number} is not a Rakuten order.")
    if progress not in (100, 200, 300):
        raise Invalid(
            "status",
            f"Rakuten cancels an order only before it ships (100, 200, 300); order {number} "
            f"is at {progress}. Cancel it in RMS after shipping (a return).",
        )
    own = client or client_factory(db, store.id, None)
    try:
        own.cancel_order(number, reason=reason, restore_inventory=0)
        with db.transaction() as s:
            locked = _locked(s, store.id, number)
            assert locked is not None
            orders.record_channel_change(
                s,
                locked,
                actor=actor or "system",
                channel_status=progress,
                note=f"cancellation sent to Rakuten ({reason}: {CANCEL_REASONS[reason]})",
            )
        OrderImporter(db, store.id, own).run(iter([number]))
    finally:
        if client is None:
            own.close()
    with db.reader() as s:
        return orders.get_order(s, order_id)


# ---------------------------------------------------------------- setup sweeper


@registry.sweep("rakuten.orders.setup")
def setup_sweep(db: Database, now: dt.datetime) -> list[tuple[str, int | None]]:
    """Each dispatcher tick: starts the order sync of newly connected shops (schedules, history) and re-kicks
    pending sync requests whose kick was lost (when no run holds their lease)."""
    kicks: list[tuple[str, int | None]] = []
    with db.reader() as s:
        fresh = list(
            s.scalars(
                select(Store.id)
                .outerjoin(OrderSyncState, OrderSyncState.store_id == Store.id)
                .where(
                    Store.channel == Channel.rakuten,
                    Store.status == StoreStatus.active,
                    Store.license_key_enc.is_not(None),
                    OrderSyncState.store_id.is_(None),
                )
            )
        )
        waiting = set(
            s.scalars(
                select(OrderSyncRequest.store_id).where(
                    OrderSyncRequest.status == "pending", OrderSyncRequest.created_at < now - dt.timedelta(seconds=30)
                )
            )
        )
        held = set(s.scalars(select(Lease.name).where(Lease.expires_at > now)))
    for store_id in fresh:
        try:
            if start_order_sync(db, store_id, now=now) is not None:
                kicks.append((KIND_SYNC, store_id))
        except KuraError:
            log.exception("could not start the order sync of store %s", store_id)
    for store_id in waiting:
        if f"{KIND_SYNC}:{store_id}" not in held:
            kicks.append((KIND_SYNC, store_id))
    return kicks


def sync_now(
    db: Database,
    store_id: int,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    *,
    progress: Progress | None = None,
    order_numbers: Sequence[str] = (),
) -> JobRun:
    """Sync Orders in the foreground (the CLI): queues the request and runs it here, under the job's lease."""
    from kura.jobs.runs import run_job

    run_id = request_sync(db, store_id, start, end, order_numbers=order_numbers)

    def job(sid: int | None, p: Progress) -> dict[str, Any]:
        def both(done: int, total: int | None = None) -> None:
            p(done, total)
            if progress is not None:
                progress(done, total)

        both.run_id = run_id  # type: ignore[attr-defined]
        return dict(run_sync_requests(sid, both) or {})

    return run_job(db, KIND_SYNC, store_id, job, lease_ttl_s=600, run_id=run_id)


__all__ = [
    "ACTIVE_PROGRESS",
    "FIRST_SEEN",
    "HISTORY_PROGRESS",
    "KIND_NEW",
    "KIND_STATUS",
    "KIND_SYNC",
    "OrderImporter",
    "OrderSyncSettings",
    "RmsError",
    "apply_order",
    "auto_confirm",
    "cancel_on_rakuten",
    "push_packed",
    "request_sync",
    "resolve_unknown_skus",
    "start_order_sync",
    "sync_now",
    "update_order_settings",
]
