"""Stock rules: every change is a ledger entry, nothing goes below zero, kits derive from components."""

from __future__ import annotations

import pytest

from kura.catalog.service import create_kit
from kura.db import Database
from kura.errors import InsufficientStock, Invalid
from kura.inventory.models import AppendOnly, StockMovement, StockReason
from kura.inventory.service import (
    adjust,
    availability,
    availability_by_warehouse,
    available,
    consume,
    ledger,
    list_stock,
    receive,
    release,
    reservations_for,
    reserve,
    set_on_hand,
    transfer,
)
from tests.domain.factories import add_order, add_single, fields


def test_receipt_adds_on_hand_and_writes_a_ledger_entry(db: Database, warehouses: tuple[int, int]) -> None:
    tokyo, _ = warehouses
    add_single(db, "A")
    with db.transaction() as s:
        receive(s, tokyo, "A", 5, reference="PO-1", actor="hanako")
        receive(s, tokyo, "A", 3, reference="PO-2", actor="hanako")
    with db.reader() as s:
        assert available(s, "A") == 8
        entries = ledger(s, sku="A").items
        assert [(m.reason, m.on_hand_change, m.on_hand_after, m.reference) for m in entries] == [
            (StockReason.receipt, 3, 8, "PO-2"),
            (StockReason.receipt, 5, 5, "PO-1"),
        ]
        assert entries[0].actor == "hanako" and entries[0].created_at.tzinfo is not None


def test_adjustment_below_zero_is_refused_with_what_is_there(db: Database, warehouses: tuple[int, int]) -> None:
    tokyo, _ = warehouses
    add_single(db, "A")
    with db.transaction() as s:
        receive(s, tokyo, "A", 2)
    with pytest.raises(InsufficientStock) as e, db.transaction() as s:
        adjust(s, tokyo, "A", -3, note="broken")
    assert "'A'" in e.value.message and "2 on hand" in e.value.message and "below zero" in e.value.message
    with db.reader() as s:
        assert available(s, "A") == 2
        assert ledger(s, sku="A").total == 1


def test_stock_reserved_for_orders_cannot_be_adjusted_away(
    db: Database, warehouses: tuple[int, int], store_id: int
) -> None:
    tokyo, _ = warehouses
    add_single(db, "A")
    line_id = add_order(db, store_id, [("A", 2)]).lines[0].id
    with db.transaction() as s:
        receive(s, tokyo, "A", 3)
        reserve(s, "A", 2, order_line_id=line_id)
    with pytest.raises(InsufficientStock) as e, db.transaction() as s:
        adjust(s, tokyo, "A", -2)
    assert "2 reserved" in e.value.message
    with pytest.raises(InsufficientStock), db.transaction() as s:
        set_on_hand(s, tokyo, "A", 1)
    with db.transaction() as s:
        movement = set_on_hand(s, tokyo, "A", 2)
        assert movement is not None and movement.on_hand_change == -1
        assert set_on_hand(s, tokyo, "A", 2) is None  # already right: no entry


def test_transfer_moves_available_units_between_warehouses(db: Database, warehouses: tuple[int, int]) -> None:
    tokyo, osaka = warehouses
    add_single(db, "A")
    with db.transaction() as s:
        receive(s, tokyo, "A", 5)
        out, into = transfer(s, "A", tokyo, osaka, 3, actor="jiro")
        assert (out.reason, out.on_hand_change, into.reason, into.on_hand_change) == (
            StockReason.transfer_out, -3, StockReason.transfer_in, 3,
        )  # fmt: skip
    with db.reader() as s:
        assert availability(s, ["A"], [tokyo]) == {"A": 2}
        assert availability(s, ["A"], [osaka]) == {"A": 3}
        assert availability(s, ["A"]) == {"A": 5}
        assert availability_by_warehouse(s, ["A"]) == {"A": {"TOKYO": 2, "OSAKA": 3}}
        rows = list_stock(s, q="a").items
        assert [(r.warehouse_code, r.on_hand, r.available) for r in rows] == [("OSAKA", 3, 3), ("TOKYO", 2, 2)]


def test_transfer_of_more_than_available_is_refused_and_changes_nothing(
    db: Database, warehouses: tuple[int, int]
) -> None:
    tokyo, osaka = warehouses
    add_single(db, "A")
    with db.transaction() as s:
        receive(s, tokyo, "A", 1)
    with pytest.raises(InsufficientStock), db.transaction() as s:
        transfer(s, "A", tokyo, osaka, 2)
    with pytest.raises(Invalid), db.transaction() as s:
        transfer(s, "A", tokyo, tokyo, 1)
    with db.reader() as s:
        assert availability_by_warehouse(s, ["A"]) == {"A": {"TOKYO": 1, "OSAKA": 0}}


def test_kit_availability_is_min_over_components_of_floor_available_over_quantity(
    db: Database, warehouses: tuple[int, int]
) -> None:
    tokyo, _ = warehouses
    for sku, units in (("A", 10), ("B", 20), ("C", 7)):
        add_single(db, sku)
        with db.transaction() as s:
            receive(s, tokyo, sku, units)
    with db.transaction() as s:
        create_kit(s, "KIT", fields(), {"A": 1, "B": 2, "C": 3})
    with db.reader() as s:
        assert availability(s, ["KIT", "A", "UNKNOWN"]) == {"KIT": 2, "A": 10}  # min(10, 10, 2)


def test_kit_is_assembled_within_one_warehouse(db: Database, warehouses: tuple[int, int]) -> None:
    tokyo, osaka = warehouses
    add_single(db, "A")
    add_single(db, "B")
    with db.transaction() as s:
        create_kit(s, "KIT", fields(), {"A": 1, "B": 1})
        receive(s, tokyo, "A", 3)  # Tokyo has no B, Osaka no A: no kit can be packed
        receive(s, osaka, "B", 3)
        receive(s, osaka, "A", 1)
    with db.reader() as s:
        assert availability_by_warehouse(s, ["KIT"]) == {"KIT": {"TOKYO": 0, "OSAKA": 1}}
        assert availability(s, ["KIT"]) == {"KIT": 1}


def test_kit_stock_is_never_received_directly(db: Database, warehouses: tuple[int, int]) -> None:
    add_single(db, "A")
    with db.transaction() as s:
        create_kit(s, "KIT", fields(), {"A": 2})
    with pytest.raises(Invalid) as e, db.transaction() as s:
        receive(s, warehouses[0], "KIT", 1)
    assert "components" in e.value.message


def test_reserving_a_kit_holds_its_components_and_consuming_takes_them_off_hand(
    db: Database, warehouses: tuple[int, int], store_id: int
) -> None:
    tokyo, _ = warehouses
    add_single(db, "A")
    add_single(db, "B")
    with db.transaction() as s:
        create_kit(s, "KIT", fields(), {"A": 2, "B": 1})
        receive(s, tokyo, "A", 10)
        receive(s, tokyo, "B", 10)
    line_id = add_order(db, store_id, [("KIT", 3)]).lines[0].id
    with db.transaction() as s:
        held = reserve(s, "KIT", 3, order_line_id=line_id)
        assert sorted((r.sku.code, r.quantity) for r in held) == [("A", 6), ("B", 3)]
    with db.reader() as s:
        assert availability(s, ["A", "B", "KIT"]) == {"A": 4, "B": 7, "KIT": 2}
    with db.transaction() as s:
        assert consume(s, line_id) == 9
    with db.reader() as s:
        assert reservations_for(s, [line_id]) == {}
        rows = {r.sku: (r.on_hand, r.reserved) for r in list_stock(s).items}
        assert rows == {"A": (4, 0), "B": (7, 0)}
        reasons = [m.reason for m in ledger(s, reference=f"order_line:{line_id}").items]
        assert reasons == [StockReason.consume] * 2 + [StockReason.reserve] * 2


def test_release_gives_held_units_back(db: Database, warehouses: tuple[int, int], store_id: int) -> None:
    tokyo, _ = warehouses
    add_single(db, "A")
    line_id = add_order(db, store_id, [("A", 2)]).lines[0].id
    with db.transaction() as s:
        receive(s, tokyo, "A", 2)
        reserve(s, "A", 2, order_line_id=line_id)
    with db.reader() as s:
        assert available(s, "A") == 0
    with db.transaction() as s:
        assert release(s, line_id, actor="hanako") == 2
        assert release(s, line_id) == 0  # nothing left to release
    with db.reader() as s:
        assert available(s, "A") == 2
        assert ledger(s, reason="release").items[0].actor == "hanako"


def test_reserve_takes_the_first_warehouse_that_can_hold_everything(
    db: Database, warehouses: tuple[int, int], store_id: int
) -> None:
    tokyo, osaka = warehouses
    add_single(db, "A")
    line_id = add_order(db, store_id, [("A", 3)]).lines[0].id
    with db.transaction() as s:
        receive(s, tokyo, "A", 2)
        receive(s, osaka, "A", 5)
        held = reserve(s, "A", 3, order_line_id=line_id)
        assert [(r.warehouse_id, r.quantity) for r in held] == [(osaka, 3)]
    with pytest.raises(InsufficientStock) as e, db.transaction() as s:
        reserve(s, "A", 3, order_line_id=line_id)
    assert "TOKYO 2" in e.value.message and "OSAKA 2" in e.value.message


def test_ledger_entries_cannot_be_changed_or_deleted(db: Database, warehouses: tuple[int, int]) -> None:
    add_single(db, "A")
    with db.transaction() as s:
        receive(s, warehouses[0], "A", 1)
    with pytest.raises(AppendOnly), db.transaction() as s:
        entry = s.get(StockMovement, 1)
        assert entry is not None
        entry.on_hand_change = 100
        s.flush()
    with pytest.raises(AppendOnly), db.transaction() as s:
        entry = s.get(StockMovement, 1)
        s.delete(entry)
        s.flush()
    with db.reader() as s:
        assert [m.on_hand_change for m in ledger(s).items] == [1]


def test_quantities_must_be_positive_whole_numbers(db: Database, warehouses: tuple[int, int]) -> None:
    add_single(db, "A")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(Invalid), db.transaction() as s:
            receive(s, warehouses[0], "A", bad)  # type: ignore[arg-type]
