"""Stock batches (a goods receipt, a stock count, an uploaded sheet): in order, all or nothing, one ledger
entry per changing line, clear errors naming each bad line."""

from __future__ import annotations

from typing import Any

import pytest

from kura.catalog.service import create_kit
from kura.db import Database
from kura.errors import InsufficientStock, Invalid
from kura.inventory.models import StockLevel, StockReason
from kura.inventory.service import LineKind, StockLine, apply_lines, available, ledger, receive, reserve
from tests.domain.factories import add_order, add_single, fields


def test_a_batch_applies_receipts_adjustments_and_counts_in_order(db: Database, warehouses: tuple[int, int]) -> None:
    tokyo, _ = warehouses
    for code in ("A", "B", "C"):
        add_single(db, code)
    with db.transaction() as s:
        receive(s, tokyo, "C", 4)
        results = apply_lines(s, tokyo, [
            StockLine("A", LineKind.receipt, 10, reference="PO-9"),
            StockLine("A", LineKind.adjustment, -3, note="damaged"),
            StockLine(" B ", LineKind.stock_count, 6),
            StockLine("C", LineKind.stock_count, 4),  # already right: no entry
            StockLine("A", LineKind.stock_count, 5),
        ], reference="GR-1", actor="hanako")  # fmt: skip
    assert [(r.sku, r.on_hand, r.change) for r in results] == [
        ("A", 10, 10), ("A", 7, -3), ("B", 6, 6), ("C", 4, 0), ("A", 5, -2),
    ]  # fmt: skip
    with db.reader() as s:
        assert (available(s, "A"), available(s, "B"), available(s, "C")) == (5, 6, 4)
        entries = list(reversed(ledger(s, sku="A").items))
        assert [(m.reason, m.on_hand_change, m.on_hand_after, m.reference, m.note) for m in entries] == [
            (StockReason.receipt, 10, 10, "PO-9", None),
            (StockReason.adjustment, -3, 7, "GR-1", "damaged"),
            (StockReason.adjustment, -2, 5, "GR-1", "counted 5"),
        ]
        assert all(m.actor == "hanako" for m in entries)
        assert ledger(s, sku="C").total == 1  # the receipt only
        assert ledger(s, sku="B").items[0].on_hand_after == 6


def test_a_bad_line_refuses_the_whole_batch_and_every_bad_line_is_named(
    db: Database, warehouses: tuple[int, int]
) -> None:
    tokyo, _ = warehouses
    add_single(db, "A")
    with db.transaction() as s:
        create_kit(s, "KIT", fields(), {"A": 2})
    with pytest.raises(Invalid) as e, db.transaction() as s:
        apply_lines(s, tokyo, [
            StockLine("A", LineKind.receipt, 5),
            StockLine("NOPE", LineKind.receipt, 1),
            StockLine("KIT", LineKind.receipt, 1),
            StockLine("A", LineKind.receipt, 0),
            StockLine("A", LineKind.adjustment, 0),
            StockLine("A", LineKind.stock_count, -1),
        ])  # fmt: skip
    message = e.value.message
    assert message.startswith("5 of 6 lines can't be applied, so none was")
    for expected in ("line 2: SKU 'NOPE' does not exist", "line 3: 'KIT' is a kit", "line 4: a receipt adds at least",
                     "line 5: an adjustment changes", "line 6: a count is the units on the shelf"):  # fmt: skip
        assert expected in message
    assert "line 1" not in message
    with db.reader() as s:
        assert available(s, "A") == 0 and ledger(s, sku="A").total == 0


def test_a_line_below_what_is_reserved_refuses_the_batch_and_writes_nothing(
    db: Database, warehouses: tuple[int, int], store_id: int
) -> None:
    tokyo, _ = warehouses
    add_single(db, "A")
    add_single(db, "B")
    line_id = add_order(db, store_id, [("A", 2)]).lines[0].id
    with db.transaction() as s:
        receive(s, tokyo, "A", 3)
        reserve(s, "A", 2, order_line_id=line_id)
    with pytest.raises(InsufficientStock) as e, db.transaction() as s:
        apply_lines(s, tokyo, [StockLine("B", LineKind.receipt, 4), StockLine("A", LineKind.stock_count, 1)])
    assert "Line 2 (A, count 1)" in e.value.message and "2 reserved" in e.value.message
    with db.reader() as s:
        assert available(s, "B") == 0 and ledger(s, sku="B").total == 0
        assert available(s, "A") == 1 and ledger(s, sku="A").total == 2  # the receipt and the reservation
        assert all(level.on_hand in (0, 3) for level in s.query(StockLevel).filter_by(warehouse_id=tokyo))


def test_an_empty_or_oversized_batch_is_refused(db: Database, warehouses: tuple[int, int]) -> None:
    tokyo, _ = warehouses
    with pytest.raises(Invalid, match="no lines"), db.transaction() as s:
        apply_lines(s, tokyo, [])
    with pytest.raises(Invalid, match="at most 10,000 lines"), db.transaction() as s:
        apply_lines(s, tokyo, [StockLine("A", LineKind.receipt, 1)] * 10_001)


def test_a_level_another_transaction_creates_meanwhile_is_counted_from_its_value(
    db: Database, warehouses: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch inserts a missing level with its final value; if another transaction created that level after
    the batch read it as missing (PostgreSQL; SQLite has one writer), the batch starts again from that level."""
    if db.is_sqlite:
        pytest.skip("SQLite has one writer at a time: no other transaction can create the level meanwhile")
    import kura.inventory.service as inventory_service

    tokyo, _ = warehouses
    add_single(db, "A")
    other = Database(db.url)
    raced: list[bool] = []
    insert_rows = inventory_service.insert_rows

    def meanwhile(session: Any, table: Any, rows: Any, **kwargs: Any) -> None:
        if table.name == "stock_levels" and not raced:
            raced.append(True)
            with other.transaction() as s:  # commits before the batch's own insert runs
                receive(s, tokyo, "A", 7)
        insert_rows(session, table, rows, **kwargs)

    monkeypatch.setattr(inventory_service, "insert_rows", meanwhile)
    try:
        with db.transaction() as s:
            lines = [StockLine("A", LineKind.receipt, 5), StockLine("A", LineKind.stock_count, 10)]
            results = apply_lines(s, tokyo, lines)
    finally:
        other.dispose()
    assert raced
    assert [(r.on_hand, r.change) for r in results] == [(12, 5), (10, -2)]
    with db.reader() as s:
        assert available(s, "A") == 10
        assert [(m.on_hand_change, m.on_hand_after) for m in reversed(ledger(s, sku="A").items)] == [
            (7, 7), (5, 12), (-2, 10)]  # fmt: skip
        assert s.query(StockLevel).count() == 1
