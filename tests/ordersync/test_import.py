"""Order import against the sandbox: history on connect, mapping, statuses, idempotency, stock, unknown SKUs."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from kura.channels.rakuten import orders as ordersync
from kura.db import utcnow
from kura.inventory.models import Reservation
from kura.orders.models import Order, OrderLine, OrderPackage, OrderStatusChange, OrderSyncState
from kura.orders.statuses import OrderStatus
from tests.ordersync.conftest import OrderSync, skus_of


def _iso(days_ago: float) -> str:
    return (utcnow() - dt.timedelta(days=days_ago)).isoformat()


def test_history_on_connect_imports_the_seed_statuses_of_the_last_90_days(osync: OrderSync) -> None:
    shop = osync.shop(items=30, orders=150)
    store_id = osync.connect(shop)
    run = osync.run(ordersync.KIND_SYNC, store_id)
    assert run.status == "done", run.error
    got = osync.orders(store_id)
    assert got, "nothing imported"
    assert {o.channel_status for o in got.values()} <= set(ordersync.HISTORY_PROGRESS)
    horizon = utcnow() - dt.timedelta(days=90, minutes=1)
    assert all(o.ordered_at >= horizon for o in got.values())
    assert run.counts is not None and run.counts["created"] == len(got) and run.counts["failed"] == 0
    with osync.db.reader() as s:
        state = s.get(OrderSyncState, store_id)
        assert state is not None and state.history_done_at is not None


def test_the_89_day_order_comes_in_and_the_91_day_order_does_not(osync: OrderSync) -> None:
    shop = osync.shop(items=10)
    inside = osync.sandbox.admin.place_order(shop["shop_id"], at=_iso(89))["orderNumber"]
    outside = osync.sandbox.admin.place_order(shop["shop_id"], at=_iso(91))["orderNumber"]
    store_id = osync.connect(shop, settings={"history_statuses": [100, 200, 300, 500, 600, 700, 900]})
    assert osync.run(ordersync.KIND_SYNC, store_id).status == "done"
    got = osync.orders(store_id)
    assert inside in got and outside not in got


def test_a_full_order_maps_orderer_packages_lines_and_amounts(osync: OrderSync) -> None:
    shop = osync.shop(items=10)
    placed = osync.place(shop)
    number = placed["orderNumber"]
    raw = osync.sandbox.admin.order(shop["shop_id"], number)
    model = raw.get("order") or raw.get("data") or raw
    store_id = osync.connect(shop)
    assert osync.run(ordersync.KIND_NEW, store_id).status == "done"
    with osync.db.reader() as s:
        order = s.scalar(select(Order).where(Order.order_number == number))
        assert order is not None
        assert order.channel_status == 100 and order.status == OrderStatus.MP_unpaid  # the 100 rule
        assert order.orderer.family_name and order.orderer.postal_code and order.shipping.prefecture
        assert order.packages and all(p.basket_id for p in order.packages)
        assert [line.sku for line in order.lines] == skus_of(model)
        assert order.payment_method and order.delivery_method
        assert order.channel_payload is not None and order.channel_payload["orderNumber"] == number
        assert sum(line.amount for line in order.lines) == order.goods_total
        assert order.hold == "unknown_sku"  # Kura's catalog is empty here
        assert order.history[0].channel_status == 100


def test_reimport_is_idempotent_and_two_imports_leave_one_order(osync: OrderSync) -> None:
    shop = osync.shop(items=20, orders=80)
    store_id = osync.connect(shop)
    assert osync.run(ordersync.KIND_SYNC, store_id).status == "done"
    first = osync.orders(store_id)
    ordersync.request_sync(osync.db, store_id)  # Sync Orders: every status this time
    again = osync.run(ordersync.KIND_SYNC, store_id)
    assert again.status == "done" and again.counts is not None
    after = osync.orders(store_id)
    assert again.counts["unchanged"] == len(first)
    assert again.counts["created"] == len(after.keys() - first.keys())
    assert {after[n].channel_status for n in after.keys() - first.keys()} <= {100, 400, 800}
    third = osync.run(ordersync.KIND_SYNC, store_id)  # nothing pending: nothing done
    assert third.counts is not None and third.counts["requests"] == 0
    with osync.db.reader() as s:
        dupes = s.execute(
            select(Order.order_number, func.count())
            .where(Order.store_id == store_id)
            .group_by(Order.order_number)
            .having(func.count() > 1)
        ).all()
        assert dupes == []


def test_known_skus_reserve_in_the_store_warehouses_and_unknown_ones_hold_until_created(osync: OrderSync) -> None:
    shop = osync.shop(items=10)
    placed = osync.place(shop)
    raw = osync.sandbox.admin.order(shop["shop_id"], placed["orderNumber"])
    codes = skus_of(raw.get("order") or raw.get("data") or raw)
    store_id = osync.connect(shop)
    osync.catalog(codes[1:])  # the first SKU stays unknown
    assert osync.run(ordersync.KIND_NEW, store_id).status == "done"
    number = placed["orderNumber"]
    with osync.db.reader() as s:
        order = s.scalar(select(Order).where(Order.order_number == number))
        assert order is not None and order.hold == "unknown_sku"
        held = s.scalar(select(func.count(Reservation.id)).join(OrderLine).where(OrderLine.order_id == order.id))
        assert held == len(codes) - 1
    osync.catalog(codes[:1])
    assert ordersync.resolve_unknown_skus(osync.db, store_id) == 1
    with osync.db.reader() as s:
        order = s.scalar(select(Order).where(Order.order_number == number))
        assert order is not None and order.hold is None
        assert all(line.sku_id is not None for line in order.lines)
        held = s.scalar(select(func.count(Reservation.id)).join(OrderLine).where(OrderLine.order_id == order.id))
        assert held == len(codes)


def test_status_changes_follow_rakuten_and_move_stock(osync: OrderSync) -> None:
    shop = osync.shop(items=10)
    placed = osync.place(shop)
    number = placed["orderNumber"]
    raw = osync.sandbox.admin.order(shop["shop_id"], number)
    codes = skus_of(raw.get("order") or raw.get("data") or raw)
    store_id = osync.connect(shop, settings={"auto_confirm": True})
    osync.catalog(codes)
    assert osync.run(ordersync.KIND_NEW, store_id).status == "done"  # imported at 100, then confirmed → 200
    assert osync.orders(store_id)[number].channel_status == 200
    osync.sandbox.admin.advance(600)  # Rakuten processing done → 300
    assert osync.run(ordersync.KIND_STATUS, store_id).status == "done"
    order = osync.orders(store_id)[number]
    assert order.channel_status == 300 and order.status == OrderStatus.RFP
    cancelled = ordersync.cancel_on_rakuten(osync.db, order.id, 8, actor="tester")
    assert cancelled.channel_status == 800 and cancelled.status == OrderStatus.Cancel_in_progress
    osync.sandbox.admin.advance(3600)  # 800 → 900
    assert osync.run(ordersync.KIND_STATUS, store_id).status == "done"
    with osync.db.reader() as s:
        final = s.scalar(select(Order).where(Order.order_number == number))
        assert final is not None and final.status == OrderStatus.Cancel and final.channel_status == 900
        held = s.scalar(select(func.count(Reservation.id)).join(OrderLine).where(OrderLine.order_id == final.id))
        assert held == 0
        rows = s.scalars(select(OrderStatusChange).where(OrderStatusChange.order_id == final.id)).all()
        assert [r.channel_status for r in rows if r.channel_status][:2] == [100, 200]
        assert rows[-1].channel_status == 900


def test_two_workers_importing_the_same_order_leave_exactly_one(osync: OrderSync) -> None:
    import threading

    shop = osync.shop(items=10)
    numbers = [osync.place(shop)["orderNumber"] for _ in range(5)]
    store_id = osync.connect(shop)
    with osync.client(osync.db, store_id) as client:
        models = client.get_orders(numbers).orders
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with osync.db.reader() as s:
                store = s.get_one(ordersync.Store, store_id)
                s.expunge(store)
            barrier.wait()
            for model in models:
                with osync.db.transaction() as s:
                    outcomes.append(ordersync.apply_order(s, store, model, []))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert sorted(outcomes).count("created") == 5
    with osync.db.reader() as s:
        assert s.scalar(select(func.count(Order.id)).where(Order.store_id == store_id)) == 5
        assert (s.scalar(select(func.count(OrderPackage.id))) or 0) >= 5
