"""Order use cases: stores, creating orders, moving them through the status table, allocating stock, lists.

Every function takes the caller's Session; the caller owns the transaction."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kura import japan
from kura.catalog.service import find_skus
from kura.db import utcnow
from kura.errors import Conflict, IllegalTransition, InsufficientStock, Invalid, NotFound, StoreGone
from kura.inventory import service as inventory
from kura.inventory.models import Reservation
from kura.orders.models import Address, Channel, Order, OrderLine, OrderStatusChange, Store
from kura.orders.statuses import CONSUMES_STOCK, RELEASES_STOCK, TRANSITIONS, OrderStatus, allowed_next
from kura.paging import AnySelect, Page, check_window, count

# ---------------------------------------------------------------- stores


def create_store(session: Session, name: str, channel: Channel | str = Channel.manual) -> Store:
    name = name.strip()
    if not name or len(name) > 100:
        raise Invalid("name", "A store name of 1–100 characters is needed.")
    try:
        channel = Channel(channel)
    except ValueError:
        raise Invalid("channel", f"Unknown channel {channel!r}; use one of {[c.value for c in Channel]}.") from None
    if session.scalar(select(Store.id).where(Store.name == name)) is not None:
        raise Conflict(f"A store named {name!r} exists already.", field="name")
    store = Store(name=name, channel=channel)
    session.add(store)
    session.flush()
    return store


def list_stores(session: Session) -> list[Store]:
    return list(session.scalars(select(Store).order_by(Store.id)))


def get_store(session: Session, store_id: int) -> Store:
    store = session.get(Store, store_id)
    if store is None:
        raise StoreGone(f"No store with id {store_id}.")
    return store


# ---------------------------------------------------------------- input


@dataclass(frozen=True)
class LineSpec:
    """One ordered item. `sku` is kept as given even if the catalog does not know it."""

    sku: str
    name: str
    quantity: int
    unit_price: int  # yen, tax-inclusive
    tax_rate: int = 10  # percent


@dataclass(frozen=True)
class NewOrder:
    """An order to record. Totals left as None are computed from the lines; given ones (an import) are kept
    as the store sent them, so they can be reconciled rather than silently recomputed."""

    orderer: Address
    lines: Sequence[LineSpec]
    payment_method: str
    shipping: Address | None = None  # None: ship to the orderer
    order_number: str | None = None  # None: Kura numbers it (manual orders)
    ordered_at: dt.datetime | None = None  # None: now
    status: OrderStatus = OrderStatus.New
    shipping_fee: int = 0
    discount_total: int = 0
    points_used: int = 0
    goods_total: int | None = None
    tax_total: int | None = None
    total: int | None = None
    orderer_email: str | None = None
    note: str | None = None


def _required(value: str | None, field: str, max_len: int) -> str:
    text = (value or "").strip()
    if not text:
        raise Invalid(field, f"{field} is needed.")
    if len(text) > max_len:
        raise Invalid(field, f"{field} is {len(text)} characters long; the limit is {max_len}.")
    return text


def _optional(value: str | None, field: str, max_len: int) -> str | None:
    text = (value or "").strip()
    if len(text) > max_len:
        raise Invalid(field, f"{field} is {len(text)} characters long; the limit is {max_len}.")
    return text or None


def clean_address(address: Address, prefix: str) -> Address:
    """Checks a Japanese address and normalises it: postal code NNN-NNNN, the prefecture's full name,
    phone digits. Errors name the field as `<prefix>.<field>`, e.g. shipping.postal_code."""
    try:
        return Address(
            family_name=_required(address.family_name, "family_name", 100),
            given_name=_required(address.given_name, "given_name", 100),
            family_name_kana=_optional(address.family_name_kana, "family_name_kana", 100),
            given_name_kana=_optional(address.given_name_kana, "given_name_kana", 100),
            postal_code=japan.postal_code(address.postal_code or ""),
            prefecture=japan.prefecture(address.prefecture or "").name,
            address_line1=_required(address.address_line1, "address_line1", 255),
            address_line2=_optional(address.address_line2, "address_line2", 255),
            phone=japan.phone(address.phone or ""),
        )
    except Invalid as e:
        raise Invalid(f"{prefix}.{e.field}", e.message) from None


def _yen(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Invalid(field, f"{field} must be a whole number of yen ≥ 0; got {value!r}.")
    return value


def _lines(specs: Sequence[LineSpec]) -> list[OrderLine]:
    if not specs:
        raise Invalid("lines", "An order needs at least one line.")
    lines = []
    for i, spec in enumerate(specs, start=1):
        field = f"lines[{i - 1}]"
        if isinstance(spec.quantity, bool) or not isinstance(spec.quantity, int) or spec.quantity < 1:
            raise Invalid(f"{field}.quantity", f"Line {i}: quantity must be a whole number ≥ 1; got {spec.quantity!r}.")
        if spec.tax_rate not in (0, 8, 10):
            raise Invalid(
                f"{field}.tax_rate", f"Line {i}: tax rate must be 10, 8 or 0 (percent); got {spec.tax_rate!r}."
            )
        lines.append(
            OrderLine(
                line_no=i,
                sku=_required(spec.sku, f"{field}.sku", 100),
                name=_required(spec.name, f"{field}.name", 255),
                quantity=spec.quantity,
                unit_price=_yen(spec.unit_price, f"{field}.unit_price"),
                tax_rate=spec.tax_rate,
            )
        )
    return lines


def _tax(lines: Sequence[OrderLine]) -> int:
    """Consumption tax contained in the goods, rounded down once per rate (not per line)."""
    by_rate: dict[int, int] = defaultdict(int)
    for line in lines:
        by_rate[line.tax_rate] += line.amount
    return sum(japan.included_tax(amount, rate) for rate, amount in by_rate.items())


def _new_order_number(session: Session, store_id: int, at: dt.datetime) -> str:
    while True:
        number = f"K{at:%Y%m%d}-{secrets.token_hex(3).upper()}"
        if session.scalar(select(Order.id).where(Order.store_id == store_id, Order.order_number == number)) is None:
            return number


# ---------------------------------------------------------------- create and find


def create_order(session: Session, store_id: int, new: NewOrder, *, actor: str | None = None) -> Order:
    """Records an order. A second order with the same store and order number is refused with Conflict
    (the UNIQUE constraint decides, so two concurrent imports can't both insert it)."""
    store = get_store(session, store_id)
    ordered_at = new.ordered_at or utcnow()
    if ordered_at.tzinfo is None:
        raise Invalid("ordered_at", "ordered_at needs a time zone (e.g. +09:00 for JST).")
    number = (
        _required(new.order_number, "order_number", 64)
        if new.order_number is not None
        else _new_order_number(session, store.id, ordered_at)
    )
    existing = session.scalar(select(Order.id).where(Order.store_id == store.id, Order.order_number == number))
    if existing is not None:
        raise Conflict(f"Order {number!r} of store {store.name!r} exists already (id {existing}).",
                       field="order_number", order_id=existing)  # fmt: skip
    try:
        status = OrderStatus(new.status)
    except ValueError:
        raise Invalid(
            "status", f"Unknown status {new.status!r}; use one of {[s.value for s in OrderStatus]}."
        ) from None

    lines = _lines(new.lines)
    known = find_skus(session, [line.sku for line in lines])
    for line in lines:
        line.sku_id = known[line.sku].id if line.sku in known else None
    goods = sum(line.amount for line in lines) if new.goods_total is None else _yen(new.goods_total, "goods_total")
    fees = {k: _yen(getattr(new, k), k) for k in ("shipping_fee", "discount_total", "points_used")}
    total = goods + fees["shipping_fee"] - fees["discount_total"] - fees["points_used"]
    if new.total is not None:
        total = new.total
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise Invalid("total", f"The total comes to {total} yen; discounts and points can't exceed goods + shipping.")

    orderer = clean_address(new.orderer, "orderer")
    order = Order(
        store_id=store.id,
        order_number=number,
        status=status,
        ordered_at=ordered_at,
        payment_method=_required(new.payment_method, "payment_method", 100),
        goods_total=goods,
        tax_total=_tax(lines) if new.tax_total is None else _yen(new.tax_total, "tax_total"),
        total=total,
        orderer=orderer,
        shipping=clean_address(new.shipping, "shipping") if new.shipping is not None else dataclasses.replace(orderer),
        orderer_email=_optional(new.orderer_email, "orderer_email", 255),
        note=new.note,
        lines=lines,
        **fees,
    )
    order.history.append(OrderStatusChange(from_status=None, to_status=status, actor=actor, note="recorded"))
    try:
        with session.begin_nested():
            session.add(order)
            session.flush()
    except IntegrityError:
        raise Conflict(f"Order {number!r} of store {store.name!r} exists already.", field="order_number") from None
    return order


def get_order(session: Session, order_id: int, *, for_update: bool = False) -> Order:
    stmt = select(Order).where(Order.id == order_id)
    if for_update:  # PostgreSQL: serialise status changes of one order; SQLite's writers are serial anyway
        stmt = stmt.with_for_update(of=Order)
    order = session.scalar(stmt)
    if order is None:
        raise NotFound(f"No order with id {order_id}.")
    return order


def get_order_by_number(session: Session, store_id: int, order_number: str) -> Order:
    order = session.scalar(select(Order).where(Order.store_id == store_id, Order.order_number == order_number.strip()))
    if order is None:
        raise NotFound(f"Store {store_id} has no order {order_number!r}.")
    return order


# Until the parcel leaves, the address can still be corrected.
_EDITABLE = frozenset(
    {
        OrderStatus.MP_unpaid,
        OrderStatus.Approval_inprocess,
        OrderStatus.New,
        OrderStatus.Partial,
        OrderStatus.RFP,
        OrderStatus.Packed,
        OrderStatus.Ready_to_Ship,
    }
)


def update_shipping_address(session: Session, order_id: int, address: Address, *, actor: str | None = None) -> Order:
    """Changes where an order goes, while it has not left the warehouse."""
    order = get_order(session, order_id, for_update=True)
    if order.status not in _EDITABLE:
        raise Invalid("shipping", f"Order {order.order_number} is {order.status}; its address can't change any more.")
    order.shipping = clean_address(address, "shipping")
    session.flush()
    return order


# ---------------------------------------------------------------- status


def _move(session: Session, order: Order, to: OrderStatus, actor: str | None, note: str | None) -> None:
    if to not in TRANSITIONS[order.status]:
        allowed = allowed_next(order.status)
        nxt = ", ".join(allowed) if allowed else f"none ({order.status} is final)"
        raise IllegalTransition(
            f"Order {order.order_number} is {order.status}; it can't move to {to}. Allowed next: {nxt}.",
            current=order.status.value,
            requested=to.value,
            allowed=[s.value for s in allowed],
        )
    if to in RELEASES_STOCK:
        for line in order.lines:
            inventory.release(session, line.id, reference=f"order:{order.id}", actor=actor)
    if to in CONSUMES_STOCK:
        for line in order.lines:
            inventory.consume(session, line.id, reference=f"order:{order.id}", actor=actor)
    order.history.append(OrderStatusChange(from_status=order.status, to_status=to, actor=actor, note=note))
    order.status = to
    session.flush()


def change_status(
    session: Session, order_id: int, to: OrderStatus | str, *, actor: str | None = None, note: str | None = None
) -> Order:
    """Moves an order along the status table and records it in the history; stock follows (see statuses.py).

    Moving to the status it already has changes nothing. A move the table does not allow raises
    IllegalTransition naming the allowed next statuses."""
    try:
        target = OrderStatus(to)
    except ValueError:
        raise Invalid("status", f"Unknown status {to!r}; use one of {[s.value for s in OrderStatus]}.") from None
    order = get_order(session, order_id, for_update=True)
    if order.status != target:
        _move(session, order, target, actor, note)
    return order


def allocate(
    session: Session, order_id: int, *, warehouse_ids: Sequence[int] | None = None, actor: str | None = None
) -> Order:
    """Reserves stock for every line not yet held: RFP when all lines are held, Partial when some are, New
    when none are. Lines whose SKU the catalog does not know, or whose stock is short, stay unheld."""
    order = get_order(session, order_id, for_update=True)
    if order.status not in (OrderStatus.New, OrderStatus.Partial):
        raise IllegalTransition(f"Order {order.order_number} is {order.status}; only New or Partial orders are "
                                "allocated.", current=order.status.value)  # fmt: skip
    held = inventory.reservations_for(session, [line.id for line in order.lines])
    for line in order.lines:
        if line.id in held or line.sku_id is None:
            continue
        try:
            held[line.id] = inventory.reserve(session, line.sku, line.quantity, order_line_id=line.id,
                                              warehouse_ids=warehouse_ids, reference=f"order:{order.id}",
                                              actor=actor)  # fmt: skip
        except InsufficientStock:
            continue
    done = sum(1 for line in order.lines if line.id in held)
    target = OrderStatus.RFP if done == len(order.lines) else OrderStatus.Partial if done else OrderStatus.New
    if target != order.status:
        _move(session, order, target, actor, f"{done} of {len(order.lines)} lines allocated")
    return order


def deallocate(session: Session, order_id: int, *, actor: str | None = None) -> Order:
    """Gives back the stock held for a Partial or RFP order and returns it to New."""
    order = get_order(session, order_id, for_update=True)
    if order.status not in (OrderStatus.Partial, OrderStatus.RFP):
        raise IllegalTransition(f"Order {order.order_number} is {order.status}; only Partial or RFP orders hold "
                                "stock to give back.", current=order.status.value)  # fmt: skip
    for line in order.lines:
        inventory.release(session, line.id, reference=f"order:{order.id}", actor=actor)
    _move(session, order, OrderStatus.New, actor, "deallocated")
    return order


# ---------------------------------------------------------------- lists


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _order_filter(stmt: AnySelect, status: OrderStatus | str | None, store_id: int | None, q: str | None) -> AnySelect:
    if status is not None:
        try:
            stmt = stmt.where(Order.status == OrderStatus(status))
        except ValueError:
            raise Invalid(
                "status", f"Unknown status {status!r}; use one of {[s.value for s in OrderStatus]}."
            ) from None
    if store_id is not None:
        stmt = stmt.where(Order.store_id == store_id)
    if q and q.strip():
        text = q.strip()
        like = _like(text)
        name_like = _like("".join(text.split()))  # "山田 太郎" matches 山田 + 太郎
        stmt = stmt.where(
            or_(
                Order.order_number.ilike(like, escape="\\"),
                (Order.orderer_family_name + Order.orderer_given_name).ilike(name_like, escape="\\"),
                (
                    func.coalesce(Order.orderer_family_name_kana, "") + func.coalesce(Order.orderer_given_name_kana, "")
                ).ilike(name_like, escape="\\"),
                (Order.ship_family_name + Order.ship_given_name).ilike(name_like, escape="\\"),
                exists().where(OrderLine.order_id == Order.id, OrderLine.sku.ilike(like, escape="\\")),
            )
        )
    return stmt


def list_orders(
    session: Session,
    *,
    status: OrderStatus | str | None = None,
    store_id: int | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
    channel_status: int | None = None,
) -> Page[Order]:
    """Orders newest first; `q` matches part of the order number, orderer/recipient name (kanji or kana)
    or a line's SKU; `channel_status` keeps the orders the marketplace has at that status (Rakuten's
    orderProgress)."""
    check_window(limit, offset)
    total = count(session, _by_channel_status(_order_filter(select(Order.id), status, store_id, q), channel_status))
    items = session.scalars(
        _by_channel_status(_order_filter(select(Order), status, store_id, q), channel_status)
        .order_by(Order.ordered_at.desc(), Order.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return Page(items=items, total=total, limit=limit, offset=offset)


def _by_channel_status(stmt: AnySelect, channel_status: int | None) -> AnySelect:
    return stmt if channel_status is None else stmt.where(Order.channel_status == channel_status)


def count_by_status(
    session: Session, *, store_id: int | None = None, q: str | None = None, channel_status: int | None = None
) -> dict[OrderStatus, int]:
    """Orders per status (every status present, zeros included), for the status tabs of the order list."""
    stmt: AnySelect = select(Order.status, func.count())
    stmt = _by_channel_status(_order_filter(stmt, None, store_id, q), channel_status).group_by(Order.status)
    counts: dict[OrderStatus, int] = dict.fromkeys(OrderStatus, 0)
    for status, n in session.execute(stmt):
        counts[OrderStatus(status)] = n
    return counts


def count_by_channel_status(
    session: Session, *, status: OrderStatus | str | None = None, store_id: int | None = None, q: str | None = None
) -> dict[int, int]:
    """Orders per marketplace status (Rakuten's orderProgress; orders without one are left out), for the
    Rakuten-status filter of the order list."""
    stmt: AnySelect = select(Order.channel_status, func.count()).where(Order.channel_status.is_not(None))
    stmt = _order_filter(stmt, status, store_id, q).group_by(Order.channel_status)
    return {int(code): n for code, n in session.execute(stmt)}


def line_reservations(session: Session, order: Order) -> Mapping[int, list[Reservation]]:
    """The stock held for each line of an order, by line id, for the order page."""
    return inventory.reservations_for(session, [line.id for line in order.lines])


# ---------------------------------------------------------------- marketplace orders (channel sync)

# The main flow a marketplace can move an order along; side flows (returns, delivery problems, seller
# cancellation) are Kura's own and never entered because of a channel status.
_CHANNEL_FLOW = frozenset(
    {
        OrderStatus.MP_unpaid,
        OrderStatus.New,
        OrderStatus.Partial,
        OrderStatus.RFP,
        OrderStatus.Packed,
        OrderStatus.Ready_to_Ship,
        OrderStatus.In_transit,
        OrderStatus.Delivered,
        OrderStatus.Complete,
        OrderStatus.Cancel_in_progress,
        OrderStatus.Cancel,
    }
)
_PRE_SHIPMENT = frozenset(
    {OrderStatus.New, OrderStatus.Partial, OrderStatus.RFP, OrderStatus.Packed, OrderStatus.Ready_to_Ship}
)
_SHIPPED = frozenset(
    {
        OrderStatus.In_transit,
        OrderStatus.Delivered,
        OrderStatus.Complete,
        OrderStatus.Lost_in_transit,
        OrderStatus.Failed_delivery_initiated,
        OrderStatus.Failed_delivery_putaway,
        OrderStatus.Failed_delivery_complete,
        OrderStatus.Return_initiated,
        OrderStatus.Return_approved,
        OrderStatus.Return_Rejected,
        OrderStatus.Return_Putaway,
        OrderStatus.Return_completed,
    }
)
# A channel status is "reached" when Kura's order is there or further along the same road: Rakuten's
# "waiting for shipping" (New) is met by an order Kura has already allocated or packed.
_REACHED: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.MP_unpaid: frozenset({OrderStatus.MP_unpaid}),
    OrderStatus.New: _PRE_SHIPMENT,
    OrderStatus.In_transit: _SHIPPED,
    OrderStatus.Complete: _SHIPPED - {OrderStatus.In_transit, OrderStatus.Delivered, OrderStatus.Lost_in_transit},
    OrderStatus.Cancel_in_progress: frozenset({OrderStatus.Cancel_in_progress, OrderStatus.Cancel}),
    OrderStatus.Cancel: frozenset({OrderStatus.Cancel}),
}
_CANCELLING = frozenset({OrderStatus.Cancel_in_progress, OrderStatus.Cancel})
# Statuses whose order still holds (or should hold) stock for its lines.
HOLDS_STOCK = frozenset({OrderStatus.MP_unpaid, OrderStatus.Cancel_in_progress} | _PRE_SHIPMENT)
UNSHIPPED = frozenset({OrderStatus.MP_unpaid} | _PRE_SHIPMENT)


def is_shipped(status: OrderStatus) -> bool:
    return status in _SHIPPED


def channel_path(current: OrderStatus, target: OrderStatus) -> list[OrderStatus] | None:
    """The shortest walk through the status table, along the channel flow, from current to target (the
    statuses entered, in order); [] when the order is already there or beyond, None when no walk exists
    (e.g. a cancellation after shipping: a return that Kura handles itself)."""
    if current in _REACHED.get(target, frozenset({target})):
        return []
    previous: dict[OrderStatus, OrderStatus] = {}
    frontier = [current]
    seen = {current}
    while frontier:
        following = []
        for status in frontier:
            for nxt in allowed_next(status):
                if nxt in seen or nxt not in _CHANNEL_FLOW or (nxt in _CANCELLING and nxt != target):
                    continue
                seen.add(nxt)
                previous[nxt] = status
                if nxt == target:
                    path = [nxt]
                    while path[-1] in previous and previous[path[-1]] != current:
                        path.append(previous[path[-1]])
                    return list(reversed(path))
                following.append(nxt)
        frontier = following
    return None


def follow_channel(
    session: Session,
    order: Order,
    target: OrderStatus,
    *,
    actor: str,
    note: str,
    channel_status: int | None,
    channel_sub_status: str | None = None,
) -> bool:
    """Moves an order (the caller holds its row) to where its marketplace says it is, step by step through
    the status table so that every step's stock effect applies and is recorded; returns False, changing
    nothing, when the table has no such walk."""
    path = channel_path(order.status, target)
    if path is None:
        return False
    for step in path:
        _move(session, order, step, actor, note)
        order.history[-1].channel_status = channel_status
        order.history[-1].channel_sub_status = channel_sub_status
    return True


def record_channel_change(
    session: Session, order: Order, *, actor: str, note: str, channel_status: int | None,
    channel_sub_status: str | None = None,
) -> None:  # fmt: skip
    """A history row for a change on the marketplace's side only: the OMS status stays as it is."""
    order.history.append(OrderStatusChange(from_status=order.status, to_status=order.status, actor=actor,
                                           note=note[:500], channel_status=channel_status,
                                           channel_sub_status=channel_sub_status))  # fmt: skip
    session.flush()


def settle_stock(session: Session, order: Order, warehouse_ids: Sequence[int], *, actor: str | None) -> None:
    """Holds stock for an unshipped marketplace order: every known line not yet held reserves from the
    store's warehouses in priority order; a New or Partial order is then allocated (→ RFP / Partial). Lines
    whose SKU Kura does not know stay unheld and put the order on hold ("unknown_sku")."""
    unknown = any(line.sku_id is None for line in order.lines)
    order.hold = "unknown_sku" if unknown else (None if order.hold == "unknown_sku" else order.hold)
    if all(line.sku_id is None for line in order.lines):
        return  # nothing Kura could hold
    if order.status in (OrderStatus.New, OrderStatus.Partial):
        allocate(session, order.id, warehouse_ids=list(warehouse_ids), actor=actor)
        return
    if order.status not in (OrderStatus.MP_unpaid,):
        return
    held = inventory.reservations_for(session, [line.id for line in order.lines])
    for line in order.lines:
        if line.id in held or line.sku_id is None:
            continue
        try:
            inventory.reserve(session, line.sku, line.quantity, order_line_id=line.id,
                              warehouse_ids=list(warehouse_ids), reference=f"order:{order.id}",
                              actor=actor)  # fmt: skip
        except InsufficientStock:
            continue


def release_lines(session: Session, order: Order, lines: Sequence[OrderLine], *, actor: str | None) -> int:
    """Gives back what the given lines hold (an edit removed or changed them)."""
    return sum(inventory.release(session, line.id, reference=f"order:{order.id}", actor=actor) for line in lines)


def orders_with_unknown_skus(session: Session, *, store_id: int | None = None, limit: int = 500) -> list[int]:
    """Orders on hold for a SKU that the catalog knows by now (created or imported since)."""
    from kura.catalog.models import Sku

    stmt = (
        select(OrderLine.order_id)
        .join(Sku, Sku.code == OrderLine.sku)
        .join(Order, Order.id == OrderLine.order_id)
        .where(OrderLine.sku_id.is_(None))
        .distinct()
        .limit(limit)
    )
    if store_id is not None:
        stmt = stmt.where(Order.store_id == store_id)
    return list(session.scalars(stmt))


def resolve_unknown_skus(session: Session, order_id: int, warehouse_ids: Sequence[int], *, actor: str | None) -> bool:
    """Maps the order's lines to SKUs the catalog knows now and lets the order proceed (reserve, allocate);
    True if any line was mapped."""
    order = get_order(session, order_id, for_update=True)
    missing = [line for line in order.lines if line.sku_id is None]
    known = find_skus(session, [line.sku for line in missing])
    mapped = [line for line in missing if line.sku in known]
    for line in mapped:
        line.sku_id = known[line.sku].id
    if not mapped:
        return False
    session.flush()
    if order.status in UNSHIPPED:
        settle_stock(session, order, warehouse_ids, actor=actor)
    else:
        order.hold = None if all(line.sku_id is not None for line in order.lines) else order.hold
    still = sum(1 for line in order.lines if line.sku_id is None)
    note = f"{len(mapped)} line(s) matched to catalog SKUs" + (f"; {still} still unknown" if still else "")
    record_channel_change(session, order, actor=actor or "system", channel_status=order.channel_status,
                          channel_sub_status=order.channel_sub_status, note=note)  # fmt: skip
    return True
