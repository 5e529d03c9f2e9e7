"""Inventory use cases: warehouses, receipts, adjustments, counts, transfers, reservations, availability, ledger.

Every change of stock goes through `_apply`, which changes a stock level with one conditional UPDATE (so
stock never goes below zero, even with two transactions racing) and writes the ledger entry; it also notes
the SKU for the stock outbox, so no stock change can miss a push to the shops.

SKUs are given by code. A kit SKU holds no stock of its own: receiving or adjusting it is refused, and
reserving it holds its components."""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kura.catalog.models import Product, ProductType, Sku
from kura.catalog.service import find_skus, get_sku
from kura.db import utcnow
from kura.errors import Conflict, InsufficientStock, Invalid, NotFound
from kura.inventory import channel_stock
from kura.inventory.models import Reservation, StockLevel, StockMovement, StockReason, Warehouse
from kura.paging import AnySelect, Page, check_window, count
from kura.sqlrows import among, insert_rows, update_rows

# ---------------------------------------------------------------- warehouses


def create_warehouse(session: Session, code: str, name: str) -> Warehouse:
    code, name = code.strip(), name.strip()
    if not code or len(code) > 50:
        raise Invalid("code", "A warehouse code of 1–50 characters is needed, e.g. TOKYO-1.")
    if not name:
        raise Invalid("name", "A warehouse name is needed.")
    if session.scalar(select(Warehouse.id).where(Warehouse.code == code)) is not None:
        raise Conflict(f"Warehouse {code!r} exists already.", field="code")
    warehouse = Warehouse(code=code, name=name)
    session.add(warehouse)
    session.flush()
    return warehouse


def list_warehouses(session: Session, *, active: bool | None = None) -> list[Warehouse]:
    stmt = select(Warehouse).order_by(Warehouse.id)
    if active is not None:
        stmt = stmt.where(Warehouse.active.is_(active))
    return list(session.scalars(stmt))


def get_warehouse(session: Session, warehouse_id: int) -> Warehouse:
    warehouse = session.get(Warehouse, warehouse_id)
    if warehouse is None:
        raise NotFound(f"No warehouse with id {warehouse_id}.")
    return warehouse


def get_warehouse_by_code(session: Session, code: str) -> Warehouse:
    warehouse = session.scalar(select(Warehouse).where(Warehouse.code == code.strip()))
    if warehouse is None:
        known = ", ".join(session.scalars(select(Warehouse.code).order_by(Warehouse.code))) or "none yet"
        raise NotFound(f"No warehouse with code {code!r}; known codes: {known}.")
    return warehouse


def update_warehouse(session: Session, warehouse_id: int, changes: Mapping[str, Any]) -> Warehouse:
    """Renames or (de)activates a warehouse; an inactive one is skipped when reserving."""
    warehouse = get_warehouse(session, warehouse_id)
    unknown = set(changes) - {"name", "active"}
    if unknown:
        raise Invalid(sorted(unknown)[0], f"Can't change {sorted(unknown)} of a warehouse; changeable: active, name.")
    if "name" in changes:
        name = str(changes["name"] or "").strip()
        if not name:
            raise Invalid("name", "A warehouse name is needed.")
        warehouse.name = name
    if "active" in changes and warehouse.active != bool(changes["active"]):
        warehouse.active = bool(changes["active"])
        channel_stock.warehouse_changed(session, warehouse)
    session.flush()
    return warehouse


# ---------------------------------------------------------------- the one door for stock changes


def _upsert_empty_level(session: Session, warehouse_id: int, sku_id: int) -> None:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(StockLevel)
        .values(warehouse_id=warehouse_id, sku_id=sku_id, on_hand=0, reserved=0, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["warehouse_id", "sku_id"])
    )


def _conditional_update(
    session: Session, warehouse_id: int, sku_id: int, d_on_hand: int, d_reserved: int
) -> tuple[int, int] | None:
    """Changes the level only if on-hand, reserved and available all stay ≥ 0; returns the new values.

    The condition is evaluated on the row as it is when the UPDATE takes its lock (PostgreSQL re-checks it
    after a concurrent writer commits; SQLite's BEGIN IMMEDIATE serialises writers), so two transactions
    can never both take the last unit."""
    new_on_hand = StockLevel.on_hand + d_on_hand
    new_reserved = StockLevel.reserved + d_reserved
    row = session.execute(
        update(StockLevel)
        .where(
            StockLevel.warehouse_id == warehouse_id,
            StockLevel.sku_id == sku_id,
            new_on_hand >= 0,
            new_reserved >= 0,
            new_on_hand - new_reserved >= 0,
        )
        .values(on_hand=new_on_hand, reserved=new_reserved, updated_at=utcnow())
        .returning(StockLevel.on_hand, StockLevel.reserved)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    return (row[0], row[1]) if row is not None else None


def _apply(
    session: Session,
    warehouse_id: int,
    sku_id: int,
    d_on_hand: int,
    d_reserved: int,
    reason: StockReason,
    *,
    reference: str | None,
    note: str | None,
    actor: str | None,
) -> StockMovement | None:
    """Applies one stock change and writes its ledger entry; None (nothing written) if it would go below zero."""
    after = _conditional_update(session, warehouse_id, sku_id, d_on_hand, d_reserved)
    if after is None and d_on_hand >= 0 and d_reserved >= 0 and d_on_hand >= d_reserved:
        # First stock of this SKU in this warehouse: create the empty level, then try once more.
        _upsert_empty_level(session, warehouse_id, sku_id)
        after = _conditional_update(session, warehouse_id, sku_id, d_on_hand, d_reserved)
    if after is None:
        return None
    movement = StockMovement(
        warehouse_id=warehouse_id,
        sku_id=sku_id,
        reason=reason,
        on_hand_change=d_on_hand,
        reserved_change=d_reserved,
        on_hand_after=after[0],
        reserved_after=after[1],
        reference=reference,
        note=note,
        actor=actor,
    )
    session.add(movement)
    session.flush()
    # The outbox: every (store, SKU) this affects, kits included, is marked dirty before this transaction
    # commits (kura.inventory.channel_stock); a rollback marks nothing.
    channel_stock.note_changed(session, [sku_id])
    return movement


class LineKind(enum.StrEnum):
    """What one line of a stock batch does."""

    receipt = "receipt"  # goods in: `quantity` ≥ 1 units added on hand
    adjustment = "adjustment"  # a correction: on hand changes by `quantity` (± , not 0)
    stock_count = "count"  # a stock count: on hand becomes `quantity` (≥ 0); no entry if it already was


@dataclass(frozen=True)
class StockLine:
    """One line of a stock batch (a goods receipt, a stock count, an upload)."""

    sku: str
    kind: LineKind
    quantity: int
    reference: str | None = None
    note: str | None = None
    line: int | None = None  # its line in the sheet it came from, for messages (else its place in the batch)


@dataclass(frozen=True)
class LineResult:
    sku: str
    on_hand: int  # after the line
    reserved: int
    change: int  # 0: a count that was already right (no ledger entry)


MAX_BATCH_LINES = 10_000
MAX_LINE_QUANTITY = 1_000_000_000
REFERENCE_MAX, NOTE_MAX = 200, 500  # the ledger's columns
_LINE_ERRORS_SHOWN = 20


@dataclass(frozen=True)
class _Change:
    sku_id: int
    kind: LineKind
    quantity: int
    reason: StockReason
    reference: str | None
    note: str | None


def _apply_many(session: Session, warehouse_id: int, changes: Sequence[_Change], *, actor: str | None,
                labels: Sequence[str] | None = None, numbers: Sequence[int] | None = None,
                create_first: bool = False) -> list[LineResult]:  # fmt: skip
    """`_apply` for many lines of one warehouse, in a handful of statements, all or nothing.

    The existing levels are locked (PostgreSQL: FOR UPDATE in SKU order; SQLite: the write transaction is the
    lock) and read once; missing ones start at zero. Every line is applied in order in Python, so a later line
    sees an earlier one. A line that would take on hand below zero or below what is reserved refuses the whole
    batch (nothing is written) and names the line. Then each level is written once (absolute values: they are
    locked; a missing one is inserted with its final value, which an import's new SKUs all are), one ledger
    entry per changing line, and the SKUs are noted for the stock outbox exactly as `_apply` notes them. If
    another transaction created one of the missing levels meanwhile, the batch starts again having created the
    missing levels empty first (`create_first`), so that it reads and locks them too."""
    ids = sorted({c.sku_id for c in changes})
    if not ids:
        return []
    now = utcnow()
    levels = cast(Table, StockLevel.__table__)
    if create_first:
        empty = [{"warehouse_id": warehouse_id, "sku_id": sku_id, "on_hand": 0, "reserved": 0, "updated_at": now}
                 for sku_id in ids]  # fmt: skip
        insert_rows(session, levels, empty,
                    conflict=lambda stmt: stmt.on_conflict_do_nothing(index_elements=["warehouse_id", "sku_id"]))
    level: dict[int, list[int]] = {}
    for i in range(0, len(ids), 500):
        for sku_id, on_hand, reserved in session.execute(
            select(StockLevel.sku_id, StockLevel.on_hand, StockLevel.reserved)
            .where(StockLevel.warehouse_id == warehouse_id, among(StockLevel.sku_id, ids[i : i + 500], session))
            .order_by(StockLevel.sku_id)
            .with_for_update()
        ):  # fmt: skip
            level[sku_id] = [on_hand, reserved]
    missing = [sku_id for sku_id in ids if sku_id not in level]
    for sku_id in missing:
        level[sku_id] = [0, 0]
    before = {sku_id: on_hand for sku_id, (on_hand, _) in level.items()}
    results: list[LineResult] = []
    rows: list[dict[str, Any]] = []
    for n, change in enumerate(changes):
        on_hand, reserved = level[change.sku_id]
        delta = change.quantity - on_hand if change.kind == LineKind.stock_count else change.quantity
        label = labels[n] if labels is not None else f"SKU id {change.sku_id}"
        number = numbers[n] if numbers is not None else n + 1
        if on_hand + delta < reserved:
            raise InsufficientStock(
                f"Line {number} ({label}, {change.kind.value} {change.quantity}) would leave {on_hand + delta} on "
                f"hand with {reserved} reserved; stock can't go below zero or below what is reserved. Nothing "
                "of this batch was applied.",
                line=number, sku=label, on_hand=on_hand, reserved=reserved, available=on_hand - reserved,
            )  # fmt: skip
        level[change.sku_id][0] = on_hand + delta
        results.append(LineResult(label, on_hand + delta, reserved, delta))
        if delta:
            rows.append({
                "warehouse_id": warehouse_id, "sku_id": change.sku_id, "reason": change.reason,
                "on_hand_change": delta, "reserved_change": 0, "on_hand_after": on_hand + delta,
                "reserved_after": reserved, "reference": change.reference,
                "note": change.note or (f"counted {change.quantity}" if change.kind == LineKind.stock_count else None),
                "actor": actor, "created_at": now,
            })  # fmt: skip
    if missing:
        created = [{"warehouse_id": warehouse_id, "sku_id": sku_id, "on_hand": level[sku_id][0], "reserved": 0,
                    "updated_at": now} for sku_id in missing]  # fmt: skip
        try:
            with session.begin_nested():
                insert_rows(session, levels, created)
        except IntegrityError:
            return _apply_many(session, warehouse_id, changes, actor=actor, labels=labels, numbers=numbers,
                               create_first=True)  # fmt: skip
    new = set(missing)
    changed = [sku_id for sku_id in ids if level[sku_id][0] != before[sku_id]]
    update_rows(session, levels, [{"sku_id": sku_id, "on_hand": level[sku_id][0]} for sku_id in changed
                                  if sku_id not in new],
                keys=["sku_id"], where=[levels.c.warehouse_id == warehouse_id], values={"updated_at": now})  # fmt: skip
    insert_rows(session, cast(Table, StockMovement.__table__), rows)
    channel_stock.note_changed(session, changed)
    return results


def receive_many(
    session: Session,
    warehouse_id: int,
    quantities: Sequence[tuple[int, int]],
    *,
    reason: StockReason = StockReason.receipt,
    reference: str | None = None,
    references: Mapping[int, str] | None = None,
    note: str | None = None,
    actor: str | None = None,
) -> int:
    """Adds stock to many SKUs of one warehouse at once (`quantities`: SKU id, units ≥ 1; a SKU may appear
    more than once, one ledger entry each), through `_apply_many`. Kits are refused. Returns the entries written."""
    if not quantities:
        return 0
    for _, units in quantities:
        _quantity(units)
    ids = sorted({sku_id for sku_id, _ in quantities})
    for i in range(0, len(ids), 500):
        kit = session.scalar(
            select(Sku.code)
            .join(Product, Product.id == Sku.product_id)
            .where(among(Sku.id, ids[i : i + 500], session), Product.type == ProductType.kit)
            .limit(1)
        )
        if kit is not None:
            raise Invalid("sku", f"{kit!r} is a kit; its stock derives from its components. Receive the components.")
    changes = [_Change(sku_id, LineKind.receipt, units, reason, (references or {}).get(sku_id, reference), note)
               for sku_id, units in quantities]  # fmt: skip
    return sum(1 for r in _apply_many(session, warehouse_id, changes, actor=actor) if r.change)


def apply_lines(
    session: Session,
    warehouse_id: int,
    lines: Sequence[StockLine],
    *,
    reference: str | None = None,
    note: str | None = None,
    actor: str | None = None,
) -> list[LineResult]:
    """A stock batch — a goods receipt, a stock count, an uploaded sheet — applied in order, all or nothing.

    Every line is checked before anything is written; the errors name each bad line (up to 20) and say what to
    fix. A line's own reference / note wins over the batch's. Returns each line's result, in order."""
    if not lines:
        raise Invalid("lines", "The batch has no lines; give at least one (sku, kind, quantity).")
    if len(lines) > MAX_BATCH_LINES:
        raise Invalid("lines", f"A batch has at most {MAX_BATCH_LINES:,} lines; got {len(lines):,}. Split it.")
    if len(reference or "") > REFERENCE_MAX or len(note or "") > NOTE_MAX:
        raise Invalid("reference", f"A reference has at most {REFERENCE_MAX} characters and a note {NOTE_MAX}.")
    get_warehouse(session, warehouse_id)
    codes = sorted({line.sku.strip() for line in lines if isinstance(line.sku, str)})
    found: dict[str, tuple[int, bool]] = {}
    for i in range(0, len(codes), 500):
        for sku_id, code, type_ in session.execute(
            select(Sku.id, Sku.code, Product.type).join(Product, Product.id == Sku.product_id)
            .where(Sku.code.in_(codes[i : i + 500]))
        ):  # fmt: skip
            found[code] = (sku_id, type_ == ProductType.kit)
    problems: list[str] = []
    changes: list[_Change] = []
    numbers = [line.line or n for n, line in enumerate(lines, start=1)]
    for n, line in zip(numbers, lines, strict=True):
        code = line.sku.strip() if isinstance(line.sku, str) else ""
        kind, qty = line.kind, line.quantity
        problem = None
        if code not in found:
            problem = f"SKU {line.sku!r} does not exist (SKUs are case-sensitive)"
        elif found[code][1]:
            problem = f"{code!r} is a kit; its stock derives from its components — change the components"
        elif isinstance(qty, bool) or not isinstance(qty, int):
            problem = f"quantity must be a whole number; got {qty!r}"
        elif kind == LineKind.receipt and qty < 1:
            problem = f"a receipt adds at least 1 unit; got {qty}"
        elif kind == LineKind.adjustment and qty == 0:
            problem = "an adjustment changes on hand by a non-zero number of units (+ or −); got 0"
        elif kind == LineKind.stock_count and qty < 0:
            problem = f"a count is the units on the shelf, ≥ 0; got {qty}"
        elif abs(qty) > MAX_LINE_QUANTITY:
            problem = f"quantity {qty} is beyond ±{MAX_LINE_QUANTITY:,}"
        elif len(line.reference or "") > REFERENCE_MAX or len(line.note or "") > NOTE_MAX:
            problem = f"a reference has at most {REFERENCE_MAX} characters and a note {NOTE_MAX}"
        if problem is not None:
            problems.append(f"line {n}: {problem}")
            continue
        reason = StockReason.receipt if kind == LineKind.receipt else StockReason.adjustment
        changes.append(_Change(found[code][0], kind, qty, reason, line.reference or reference, line.note or note))
    if problems:
        shown = "; ".join(problems[:_LINE_ERRORS_SHOWN])
        more = f" (and {len(problems) - _LINE_ERRORS_SHOWN} more)" if len(problems) > _LINE_ERRORS_SHOWN else ""
        raise Invalid("lines", f"{len(problems)} of {len(lines)} lines can't be applied, so none was: {shown}{more}.",
                      lines=problems[:100])  # fmt: skip
    labels = [line.sku.strip() for line in lines]
    return _apply_many(session, warehouse_id, changes, actor=actor, labels=labels, numbers=numbers)


def _level(session: Session, warehouse_id: int, sku_id: int) -> tuple[int, int]:
    row = session.execute(
        select(StockLevel.on_hand, StockLevel.reserved).where(
            StockLevel.warehouse_id == warehouse_id, StockLevel.sku_id == sku_id
        )
    ).one_or_none()
    return (row[0], row[1]) if row is not None else (0, 0)


def _refused(session: Session, warehouse: Warehouse, sku: Sku, what: str) -> InsufficientStock:
    on_hand, reserved = _level(session, warehouse.id, sku.id)
    return InsufficientStock(
        f"Can't {what} of SKU {sku.code!r} in warehouse {warehouse.code}: it has {on_hand} on hand, "
        f"{reserved} reserved, {on_hand - reserved} available. Stock can't go below zero.",
        sku=sku.code,
        warehouse=warehouse.code,
        on_hand=on_hand,
        reserved=reserved,
        available=on_hand - reserved,
    )


def _stocked_sku(session: Session, code: str) -> Sku:
    sku = get_sku(session, code)
    if sku.is_kit:
        raise Invalid(
            "sku",
            f"{sku.code!r} is a kit; its stock derives from its components. Receive or adjust the components.",
        )
    return sku


def _quantity(value: Any, field: str = "quantity") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Invalid(field, f"{field} must be a whole number ≥ 1; got {value!r}.")
    return value


# ---------------------------------------------------------------- receipts, adjustments, counts, transfers


def receive(
    session: Session,
    warehouse_id: int,
    sku: str,
    quantity: int,
    *,
    reference: str | None = None,
    note: str | None = None,
    actor: str | None = None,
) -> StockMovement:
    """Goods in: adds `quantity` on hand."""
    warehouse, row = get_warehouse(session, warehouse_id), _stocked_sku(session, sku)
    movement = _apply(session, warehouse.id, row.id, _quantity(quantity), 0, StockReason.receipt,
                      reference=reference, note=note, actor=actor)  # fmt: skip
    assert movement is not None  # adding stock can't go below zero
    return movement


def adjust(
    session: Session,
    warehouse_id: int,
    sku: str,
    change: int,
    *,
    reference: str | None = None,
    note: str | None = None,
    actor: str | None = None,
) -> StockMovement:
    """Corrects on-hand by `change` (±). Refused if on-hand would drop below zero or below what is reserved."""
    warehouse, row = get_warehouse(session, warehouse_id), _stocked_sku(session, sku)
    if isinstance(change, bool) or not isinstance(change, int) or change == 0:
        raise Invalid("change", f"change must be a non-zero whole number; got {change!r}.")
    movement = _apply(session, warehouse.id, row.id, change, 0, StockReason.adjustment,
                      reference=reference, note=note, actor=actor)  # fmt: skip
    if movement is None:
        raise _refused(session, warehouse, row, f"take {-change} off")
    return movement


def set_on_hand(
    session: Session,
    warehouse_id: int,
    sku: str,
    counted: int,
    *,
    reference: str | None = None,
    note: str | None = None,
    actor: str | None = None,
) -> StockMovement | None:
    """A stock count: sets on-hand to `counted` with an adjustment entry (None if it was already right)."""
    warehouse, row = get_warehouse(session, warehouse_id), _stocked_sku(session, sku)
    if isinstance(counted, bool) or not isinstance(counted, int) or counted < 0:
        raise Invalid("counted", f"counted must be a whole number ≥ 0; got {counted!r}.")
    # FOR UPDATE keeps a concurrent change from slipping between the read and the write on PostgreSQL.
    current = session.scalar(
        select(StockLevel.on_hand)
        .where(StockLevel.warehouse_id == warehouse.id, StockLevel.sku_id == row.id)
        .with_for_update()
    )
    change = counted - (current or 0)
    if change == 0:
        return None
    movement = _apply(session, warehouse.id, row.id, change, 0, StockReason.adjustment,
                      reference=reference, note=note or f"counted {counted}", actor=actor)  # fmt: skip
    if movement is None:
        raise _refused(session, warehouse, row, f"set on-hand to {counted} (below what is reserved)")
    return movement


def transfer(
    session: Session,
    sku: str,
    from_warehouse_id: int,
    to_warehouse_id: int,
    quantity: int,
    *,
    reference: str | None = None,
    note: str | None = None,
    actor: str | None = None,
) -> tuple[StockMovement, StockMovement]:
    """Moves available units between warehouses: one transfer_out and one transfer_in entry."""
    if from_warehouse_id == to_warehouse_id:
        raise Invalid("to_warehouse_id", "A transfer needs two different warehouses.")
    source, target = get_warehouse(session, from_warehouse_id), get_warehouse(session, to_warehouse_id)
    row, quantity = _stocked_sku(session, sku), _quantity(quantity)
    reference = reference or f"transfer:{source.code}->{target.code}"
    out = _apply(session, source.id, row.id, -quantity, 0, StockReason.transfer_out,
                 reference=reference, note=note, actor=actor)  # fmt: skip
    if out is None:
        raise _refused(session, source, row, f"transfer {quantity} out")
    into = _apply(session, target.id, row.id, quantity, 0, StockReason.transfer_in,
                  reference=reference, note=note, actor=actor)  # fmt: skip
    assert into is not None
    return out, into


# ---------------------------------------------------------------- reservations for order lines


class _Short(Exception):
    """A warehouse could not hold every unit; its savepoint is rolled back and the next one is tried."""


def _bill(sku: Sku, quantity: int) -> list[tuple[Sku, int]]:
    """What holding `quantity` of a SKU means in stocked SKUs: itself, or a kit's components × quantity."""
    if sku.is_kit:
        if not sku.components:
            raise Invalid("sku", f"Kit {sku.code!r} has no components; set them before selling it.")
        return [(c.component, c.quantity * quantity) for c in sku.components]
    return [(sku, quantity)]


def reserve(
    session: Session,
    sku: str,
    quantity: int,
    *,
    order_line_id: int,
    warehouse_ids: Sequence[int] | None = None,
    reference: str | None = None,
    actor: str | None = None,
) -> list[Reservation]:
    """Holds `quantity` of a SKU (a kit: its components) for an order line, all from one warehouse.

    Warehouses are tried in the given order (default: every active warehouse, oldest first); the first that
    can hold everything wins. Raises InsufficientStock, saying what each warehouse has, if none can."""
    row, quantity = get_sku(session, sku), _quantity(quantity)
    bill = _bill(row, quantity)
    candidates = (
        list(warehouse_ids) if warehouse_ids is not None else [w.id for w in list_warehouses(session, active=True)]
    )
    reference = reference or f"order_line:{order_line_id}"
    for warehouse_id in candidates:
        try:
            with session.begin_nested():
                held = []
                for part, units in bill:
                    if _apply(session, warehouse_id, part.id, 0, units, StockReason.reserve,
                              reference=reference, note=None, actor=actor) is None:  # fmt: skip
                        raise _Short
                    held.append(Reservation(order_line_id=order_line_id, warehouse_id=warehouse_id,
                                            sku_id=part.id, quantity=units))  # fmt: skip
                session.add_all(held)
                session.flush()
                channel_stock.note_order_line(session, order_line_id)
            return held
        except _Short:
            continue
    free = availability_by_warehouse(session, [row.code], candidates).get(row.code, {})
    where = ", ".join(f"{code} {units}" for code, units in free.items()) or "no warehouse to reserve from"
    raise InsufficientStock(
        f"Insufficient stock: {quantity} of SKU {row.code!r} wanted, available per warehouse: {where}.",
        sku=row.code,
        requested=quantity,
        available=free,
    )


def _take_reservations(
    session: Session, order_line_id: int, reason: StockReason, actor: str | None, reference: str | None
) -> int:
    held = list(session.scalars(select(Reservation).where(Reservation.order_line_id == order_line_id)))
    units = 0
    for r in held:
        d_on_hand = -r.quantity if reason == StockReason.consume else 0
        if _apply(session, r.warehouse_id, r.sku_id, d_on_hand, -r.quantity, reason,
                  reference=reference or f"order_line:{order_line_id}", note=None, actor=actor) is None:  # fmt: skip
            raise Conflict(
                f"Reservation {r.id} of SKU {r.sku.code!r} no longer matches the stock level in "
                f"{r.warehouse.code}; the stock levels need checking.",
            )
        units += r.quantity
        session.delete(r)
    session.flush()
    return units


def release(session: Session, order_line_id: int, *, reference: str | None = None, actor: str | None = None) -> int:
    """Gives back everything held for an order line (cancelled or re-allocated); returns the units released."""
    return _take_reservations(session, order_line_id, StockReason.release, actor, reference)


def consume(session: Session, order_line_id: int, *, reference: str | None = None, actor: str | None = None) -> int:
    """The held units left with the shipment: on-hand and reserved both drop; returns the units consumed."""
    return _take_reservations(session, order_line_id, StockReason.consume, actor, reference)


def reservations_for(session: Session, order_line_ids: Collection[int]) -> dict[int, list[Reservation]]:
    """The holds of the given order lines, by line id (lines with none are absent)."""
    found: dict[int, list[Reservation]] = defaultdict(list)
    if order_line_ids:
        stmt = select(Reservation).where(Reservation.order_line_id.in_(list(order_line_ids)))
        for r in session.scalars(stmt.order_by(Reservation.id)):
            found[r.order_line_id].append(r)
    return dict(found)


# ---------------------------------------------------------------- availability


def _free_by_warehouse(
    session: Session, sku_ids: Collection[int], warehouse_ids: Collection[int] | None
) -> dict[tuple[int, int], int]:
    """(warehouse_id, sku_id) → on_hand − reserved."""
    free: dict[tuple[int, int], int] = {}
    ids = list(sku_ids)
    for i in range(0, len(ids), 500):
        stmt = select(StockLevel.warehouse_id, StockLevel.sku_id, StockLevel.on_hand - StockLevel.reserved).where(
            among(StockLevel.sku_id, ids[i : i + 500], session)
        )
        if warehouse_ids is not None:
            stmt = stmt.where(StockLevel.warehouse_id.in_(list(warehouse_ids)))
        for warehouse_id, sku_id, units in session.execute(stmt):
            free[(warehouse_id, sku_id)] = units
    return free


def _sku_free(sku: Sku, warehouse_id: int, free: Mapping[tuple[int, int], int]) -> int:
    if not sku.is_kit:
        return free.get((warehouse_id, sku.id), 0)
    if not sku.components:
        return 0
    return min(free.get((warehouse_id, c.component_sku_id), 0) // c.quantity for c in sku.components)


def availability_by_warehouse(
    session: Session, skus: Iterable[str], warehouse_ids: Collection[int] | None = None
) -> dict[str, dict[str, int]]:
    """SKU code → {warehouse code → available units}; a kit's is min over components of ⌊available ÷ per kit⌋."""
    rows = find_skus(session, skus)
    warehouses = [w for w in list_warehouses(session) if warehouse_ids is None or w.id in set(warehouse_ids)]
    stocked = {s.id for s in rows.values() if not s.is_kit}
    stocked |= {c.component_sku_id for s in rows.values() if s.is_kit for c in s.components}
    free = _free_by_warehouse(session, stocked, [w.id for w in warehouses])
    return {code: {w.code: _sku_free(s, w.id, free) for w in warehouses} for code, s in rows.items()}


def availability(session: Session, skus: Iterable[str], warehouse_ids: Collection[int] | None = None) -> dict[str, int]:
    """SKU code → units available in the given warehouses (default: all); unknown SKUs are absent.

    A kit is assembled within one warehouse, so over several warehouses its availability is the sum of
    its per-warehouse availability (each min over components of ⌊available ÷ quantity per kit⌋)."""
    per = availability_by_warehouse(session, skus, warehouse_ids)
    return {code: sum(by_warehouse.values()) for code, by_warehouse in per.items()}


def available(session: Session, sku: str, warehouse_ids: Collection[int] | None = None) -> int:
    """Units of one SKU available in the given warehouses (default: all)."""
    get_sku(session, sku)
    return availability(session, [sku], warehouse_ids).get(sku.strip(), 0)


# ---------------------------------------------------------------- lists


@dataclass(frozen=True, slots=True)
class StockRow:
    """One (warehouse, SKU) line of the stock list."""

    sku: str
    product_name: str
    warehouse_id: int
    warehouse_code: str
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def list_stock(
    session: Session,
    *,
    q: str | None = None,
    warehouse_id: int | None = None,
    sku: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[StockRow]:
    """Stock per SKU per warehouse, ordered by SKU then warehouse; `q` matches part of the SKU or product name."""
    check_window(limit, offset)

    def filtered(stmt: AnySelect) -> AnySelect:
        stmt = stmt.join(Sku, Sku.id == StockLevel.sku_id).join(Product, Product.id == Sku.product_id)
        if q and q.strip():
            like = _like(q.strip())
            stmt = stmt.where(Sku.code.ilike(like, escape="\\") | Product.name.ilike(like, escape="\\"))
        if warehouse_id is not None:
            stmt = stmt.where(StockLevel.warehouse_id == warehouse_id)
        if sku is not None:
            stmt = stmt.where(Sku.code == sku.strip())
        return stmt

    total = count(session, filtered(select(StockLevel.id)))
    columns: AnySelect = select(
        Sku.code, Product.name, Warehouse.id, Warehouse.code, StockLevel.on_hand, StockLevel.reserved
    )
    rows = session.execute(
        filtered(columns)
        .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
        .order_by(Sku.code, Warehouse.code)
        .limit(limit)
        .offset(offset)
    ).all()
    return Page(items=[StockRow(*r) for r in rows], total=total, limit=limit, offset=offset)


def ledger(
    session: Session,
    *,
    sku: str | None = None,
    warehouse_id: int | None = None,
    reference: str | None = None,
    reason: StockReason | str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[StockMovement]:
    """Ledger entries, newest first, filtered by SKU, warehouse, reference and reason."""
    check_window(limit, offset)

    def filtered(stmt: AnySelect) -> AnySelect:
        if sku is not None:
            stmt = stmt.where(StockMovement.sku_id == get_sku(session, sku).id)
        if warehouse_id is not None:
            stmt = stmt.where(StockMovement.warehouse_id == warehouse_id)
        if reference is not None:
            stmt = stmt.where(StockMovement.reference == reference)
        if reason is not None:
            try:
                stmt = stmt.where(StockMovement.reason == StockReason(reason))
            except ValueError:
                raise Invalid(
                    "reason", f"Unknown reason {reason!r}; use one of {[r.value for r in StockReason]}."
                ) from None
        return stmt

    total = count(session, filtered(select(StockMovement.id)))
    items = session.scalars(
        filtered(select(StockMovement)).order_by(StockMovement.id.desc()).limit(limit).offset(offset)
    ).all()
    return Page(items=items, total=total, limit=limit, offset=offset)
