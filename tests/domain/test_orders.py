"""Orders: Japanese addresses, totals in yen, unique numbers per store, the status table and its stock effects."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from kura.db import Database
from kura.errors import Conflict, IllegalTransition, Invalid
from kura.inventory.service import available, ledger, receive
from kura.orders.models import Order
from kura.orders.service import (
    LineSpec,
    allocate,
    change_status,
    count_by_status,
    create_order,
    create_store,
    deallocate,
    get_order,
    get_order_by_number,
    line_reservations,
    list_orders,
    update_shipping_address,
)
from kura.orders.statuses import FINAL, TRANSITIONS, OrderStatus, allowed_next
from tests.domain.factories import add_order, add_single, address, new_order

S = OrderStatus


def test_order_number_is_unique_per_store(db: Database, store_id: int) -> None:
    add_order(db, store_id, [("A", 1)], "100-20260101-0001")
    with pytest.raises(Conflict) as e, db.transaction() as s:
        create_order(s, store_id, new_order([("A", 1)], "100-20260101-0001"))
    assert "100-20260101-0001" in e.value.message and "exists already" in e.value.message
    with db.transaction() as s:
        other = create_store(s, "手入力", "manual")
        create_order(s, other.id, new_order([("A", 1)], "100-20260101-0001"))  # another store: fine
        assert create_order(s, other.id, new_order([("A", 1)], None)).order_number.startswith("K")


def test_addresses_are_normalised_to_japanese_form(db: Database, store_id: int) -> None:
    shipping = address(postal_code="１５００００２", prefecture="13", phone="+81 90-1234-5678", family_name="佐藤")
    with db.transaction() as s:
        order = create_order(s, store_id, dataclasses.replace(new_order([("A", 1)]), shipping=shipping))
        order_id = order.id
    with db.reader() as s:
        order = get_order(s, order_id)
        assert (order.shipping.postal_code, order.shipping.prefecture, order.shipping.phone) == (
            "150-0002", "東京都", "09012345678",
        )  # fmt: skip
        assert order.orderer.family_name == "山田" and order.orderer.phone == "0312345678"


def test_an_address_error_names_the_field_to_fix(db: Database, store_id: int) -> None:
    bad = dataclasses.replace(new_order([("A", 1)]), shipping=address(postal_code="12-34"))
    with pytest.raises(Invalid) as e, db.transaction() as s:
        create_order(s, store_id, bad)
    assert e.value.field == "shipping.postal_code" and "NNN-NNNN" in e.value.message
    with pytest.raises(Invalid) as e, db.transaction() as s:
        create_order(s, store_id, dataclasses.replace(new_order([("A", 1)]), orderer=address(prefecture="Paris")))
    assert e.value.field == "orderer.prefecture"


def test_totals_are_computed_in_yen_when_not_given(db: Database, store_id: int) -> None:
    lines = [
        LineSpec("A", "マグ", 2, 1100, 10),
        LineSpec("F", "お茶", 1, 1999, 8),
    ]
    spec = dataclasses.replace(new_order([]), lines=lines, shipping_fee=500, discount_total=300, points_used=99)
    with db.transaction() as s:
        order = create_order(s, store_id, spec)
        assert order.goods_total == 4199
        assert order.tax_total == 200 + 148  # per rate, rounded down once
        assert order.total == 4199 + 500 - 300 - 99
    imported = dataclasses.replace(spec, order_number="R-2", goods_total=4000, tax_total=300, total=4100)
    with db.transaction() as s:
        order = create_order(s, store_id, imported)  # a store's own totals are kept for reconciling
        assert (order.goods_total, order.tax_total, order.total) == (4000, 300, 4100)


def test_points_and_discounts_cannot_exceed_the_order(db: Database, store_id: int) -> None:
    with pytest.raises(Invalid) as e, db.transaction() as s:
        create_order(s, store_id, dataclasses.replace(new_order([("A", 1)]), points_used=5000))
    assert e.value.field == "total"


def test_line_with_an_unknown_sku_is_kept_as_sent(db: Database, store_id: int) -> None:
    add_single(db, "A")
    order = add_order(db, store_id, [("A", 1), ("NOT-IN-CATALOG", 1)])
    assert [(line.sku, line.sku_id is not None) for line in order.lines] == [("A", True), ("NOT-IN-CATALOG", False)]


def test_illegal_transition_names_the_allowed_ones(db: Database, store_id: int) -> None:
    order = add_order(db, store_id, [("A", 1)])
    with pytest.raises(IllegalTransition) as e, db.transaction() as s:
        change_status(s, order.id, "Delivered")
    assert "New" in e.value.message and "Delivered" in e.value.message
    for status in allowed_next(S.New):
        assert status.value in e.value.message
    assert e.value.details["allowed"] == [s.value for s in allowed_next(S.New)]
    with pytest.raises(Invalid), db.transaction() as s:
        change_status(s, order.id, "Shipped")


def test_a_final_status_says_nothing_can_follow(db: Database, store_id: int) -> None:
    order = add_order(db, store_id, [("A", 1)])
    with db.transaction() as s:
        change_status(s, order.id, S.Cancel)
    with pytest.raises(IllegalTransition) as e, db.transaction() as s:
        change_status(s, order.id, S.New)
    assert "final" in e.value.message


def test_status_history_records_every_change(db: Database, store_id: int) -> None:
    order = add_order(db, store_id, [("A", 1)])
    path = [S.RFP, S.Packed, S.Ready_to_Ship, S.In_transit, S.Delivered, S.Complete, S.Return_initiated,
            S.Return_approved, S.Return_Putaway, S.Return_completed]  # fmt: skip
    for status in path:
        with db.transaction() as s:
            change_status(s, order.id, status, actor="hanako", note=f"to {status}")
    with db.transaction() as s:
        change_status(s, order.id, S.Return_completed)  # already there: no new row
    with db.reader() as s:
        history = get_order(s, order.id).history
        assert [(h.from_status, h.to_status) for h in history] == list(zip([None, S.New, *path[:-1]], [S.New, *path]))
        assert history[1].actor == "hanako" and history[1].at.tzinfo == dt.UTC


def test_transition_table_covers_every_status_and_everything_is_reachable() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)
    reached, todo = set(), [S.New, S.MP_unpaid, S.Approval_inprocess]
    while todo:
        status = todo.pop()
        if status not in reached:
            reached.add(status)
            todo.extend(TRANSITIONS[status])
    assert reached == set(OrderStatus)
    assert {S.Cancel, S.Cancel_by_seller, S.Reject, S.Failed_delivery_complete, S.Return_completed} == FINAL


def _stocked_order(db: Database, store_id: int, warehouse_id: int, on_hand: dict[str, int]) -> Order:
    for sku, units in on_hand.items():
        add_single(db, sku)
        if units:
            with db.transaction() as s:
                receive(s, warehouse_id, sku, units)
    return add_order(db, store_id, [(sku, 2) for sku in on_hand])


def test_allocation_holds_stock_and_moves_the_order_to_rfp(
    db: Database, store_id: int, warehouses: tuple[int, int]
) -> None:
    order = _stocked_order(db, store_id, warehouses[0], {"A": 5, "B": 2})
    with db.transaction() as s:
        assert allocate(s, order.id, actor="system").status == S.RFP
    with db.reader() as s:
        assert (available(s, "A"), available(s, "B")) == (3, 0)
        assert len(line_reservations(s, get_order(s, order.id))) == 2


def test_allocation_of_some_lines_makes_the_order_partial_then_rfp(
    db: Database, store_id: int, warehouses: tuple[int, int]
) -> None:
    order = _stocked_order(db, store_id, warehouses[0], {"A": 5, "B": 1})
    with db.transaction() as s:
        assert allocate(s, order.id).status == S.Partial
    with db.transaction() as s:
        receive(s, warehouses[0], "B", 1)
        assert allocate(s, order.id).status == S.RFP
    with db.reader() as s:
        assert (available(s, "A"), available(s, "B")) == (3, 0)
        assert [h.to_status for h in get_order(s, order.id).history] == [S.New, S.Partial, S.RFP]
    with db.transaction() as s:
        assert deallocate(s, order.id).status == S.New
    with db.reader() as s:
        assert (available(s, "A"), available(s, "B")) == (5, 2)


def test_cancelling_releases_the_held_stock(db: Database, store_id: int, warehouses: tuple[int, int]) -> None:
    order = _stocked_order(db, store_id, warehouses[0], {"A": 2})
    with db.transaction() as s:
        allocate(s, order.id)
        change_status(s, order.id, S.Cancel_in_progress)
    with db.reader() as s:
        assert available(s, "A") == 0  # still held while the cancellation is pending
    with db.transaction() as s:
        change_status(s, order.id, S.Cancel, actor="rakuten")
    with db.reader() as s:
        assert available(s, "A") == 2
        assert ledger(s, reason="release").items[0].reference == f"order:{order.id}"


def test_shipping_consumes_the_held_stock(db: Database, store_id: int, warehouses: tuple[int, int]) -> None:
    order = _stocked_order(db, store_id, warehouses[0], {"A": 3})
    with db.transaction() as s:
        allocate(s, order.id)
        change_status(s, order.id, S.Packed)
        change_status(s, order.id, S.In_transit)
    with db.reader() as s:
        assert available(s, "A") == 1
        entry = ledger(s, reason="consume").items[0]
        assert (entry.on_hand_change, entry.reserved_change, entry.on_hand_after) == (-2, -2, 1)


def test_shipping_address_can_change_only_before_the_parcel_leaves(db: Database, store_id: int) -> None:
    order = add_order(db, store_id, [("A", 1)])
    with db.transaction() as s:
        update_shipping_address(s, order.id, address(address_line2="2-2"))
        change_status(s, order.id, S.RFP)
        change_status(s, order.id, S.Packed)
        change_status(s, order.id, S.In_transit)
    with pytest.raises(Invalid), db.transaction() as s:
        update_shipping_address(s, order.id, address())
    with db.reader() as s:
        assert get_order(s, order.id).shipping.address_line2 == "2-2"


def test_order_list_filters_searches_and_counts_per_status(db: Database, store_id: int) -> None:
    t0 = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    for i in range(12):
        spec = dataclasses.replace(new_order([(f"SKU-{i}", 1)], f"R-{i:03d}"), ordered_at=t0 + dt.timedelta(hours=i))
        if i % 3 == 0:
            spec = dataclasses.replace(spec, orderer=address(family_name="鈴木", given_name="花子"))
        with db.transaction() as s:
            order = create_order(s, store_id, spec)
            if i < 4:
                change_status(s, order.id, S.RFP)
    with db.reader() as s:
        page = list_orders(s, limit=5)
        assert page.total == 12 and [o.order_number for o in page.items][:2] == ["R-011", "R-010"]
        assert list_orders(s, status="RFP").total == 4
        assert list_orders(s, q="鈴木 花子").total == 4
        assert list_orders(s, q="sku-1").total == 3  # SKU-1, SKU-10, SKU-11
        assert list_orders(s, q="R-00", status=S.New).total == 6
        assert list_orders(s, store_id=store_id + 1).total == 0
        counts = count_by_status(s)
        assert counts[S.New] == 8 and counts[S.RFP] == 4 and counts[S.Cancel] == 0
        assert get_order_by_number(s, store_id, "R-005").ordered_at == t0 + dt.timedelta(hours=5)
