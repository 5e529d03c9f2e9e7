"""Polls against the sandbox: window splitting, more than 1000 results, faults, catch-up and cursors."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import select, update

from kura.channels.rakuten import orders as ordersync
from kura.channels.rakuten.client import OrderQuery, RmsSettings
from kura.db import utcnow
from kura.orders.models import Order, OrderSyncState
from kura.orders.statuses import OrderStatus
from tests.ordersync.conftest import OrderSync


def _search_calls(osync: OrderSync, shop: dict) -> int:
    return sum(
        int(r.get("requests", 0))
        for r in osync.sandbox.admin.stats()
        if r.get("function") == "rpay.order.searchOrder" and r.get("license_key") == shop["license_key"]
    )


def _expected(osync: OrderSync, store_id: int, days: int, statuses: tuple[int, ...]) -> set[str]:
    now = utcnow()
    with osync.client(osync.db, store_id) as client:
        return set(client.iter_order_numbers(OrderQuery(1, now - dt.timedelta(days=days), now, statuses)))


def test_more_than_1000_results_and_a_result_cap_split_the_windows(osync: OrderSync) -> None:
    shop = osync.shop(items=30, orders=2600)
    osync.sandbox.admin.configure(search_result_cap=600)
    osync.rms = RmsSettings(order_search_result_cap=600)
    store_id = osync.connect(shop, settings={"history_days": 120})
    run = osync.run(ordersync.KIND_SYNC, store_id)
    assert run.status == "done", run.error
    osync.sandbox.admin.configure(search_result_cap=15000)
    osync.rms = None
    expected = _expected(osync, store_id, 120, ordersync.HISTORY_PROGRESS)
    assert len(expected) > 1000
    assert set(osync.orders(store_id)) == expected


def test_faults_are_retried_and_the_import_completes(osync: OrderSync) -> None:
    shop = osync.shop(items=20, orders=300)
    store_id = osync.connect(shop)
    osync.sandbox.admin.set_faults("rpay.order.getOrder", error_5xx=0.3, error_429=0.2)
    osync.sandbox.admin.set_faults("rpay.order.searchOrder", error_5xx=0.3)
    run = osync.run(ordersync.KIND_SYNC, store_id)
    assert run.status == "done", run.error
    osync.sandbox.admin.clear_faults()
    assert set(osync.orders(store_id)) == _expected(osync, store_id, 90, ordersync.HISTORY_PROGRESS)


def test_a_failed_poll_keeps_its_cursor_and_the_next_one_catches_up(osync: OrderSync) -> None:
    shop = osync.shop(items=10)
    store_id = osync.connect(shop)
    long_ago = utcnow() - dt.timedelta(days=3)
    with osync.db.transaction() as s:  # the machine was off for three days
        s.execute(update(OrderSyncState).where(OrderSyncState.store_id == store_id).values(new_orders_cursor=long_ago))
    missed = osync.sandbox.admin.place_order(shop["shop_id"], at=(utcnow() - dt.timedelta(days=2)).isoformat())
    osync.sandbox.admin.set_faults("rpay.order.searchOrder", maintenance=True)
    with pytest.raises(Exception):
        osync.run(ordersync.KIND_NEW, store_id)
    with osync.db.reader() as s:
        assert s.get_one(OrderSyncState, store_id).new_orders_cursor == long_ago.replace(
            microsecond=long_ago.microsecond
        )
    osync.sandbox.admin.clear_faults()
    run = osync.run(ordersync.KIND_NEW, store_id)
    assert run.status == "done"
    assert missed["orderNumber"] in osync.orders(store_id)
    with osync.db.reader() as s:
        cursor = s.get_one(OrderSyncState, store_id).new_orders_cursor
        assert cursor is not None and cursor > long_ago


def test_a_buyer_cancellation_while_importing_releases_the_stock(osync: OrderSync) -> None:
    shop = osync.shop(items=10)
    placed = osync.sandbox.admin.place_order(shop["shop_id"], buyer_cancel_after_s=300)
    number = placed["orderNumber"]
    store_id = osync.connect(shop, settings={"auto_confirm": True})
    assert osync.run(ordersync.KIND_NEW, store_id).status == "done"
    osync.sandbox.admin.advance(200)  # → 300 (Rakuten processing done)
    assert osync.run(ordersync.KIND_STATUS, store_id).status == "done"
    assert osync.orders(store_id)[number].status in (OrderStatus.New, OrderStatus.RFP, OrderStatus.Partial)
    osync.sandbox.admin.advance(3600)  # the buyer cancels (800), Rakuten confirms (900)
    assert osync.run(ordersync.KIND_STATUS, store_id).status == "done"
    with osync.db.reader() as s:
        order = s.scalar(select(Order).where(Order.order_number == number))
        assert order is not None and order.status == OrderStatus.Cancel and order.channel_status == 900


def test_poll_intervals_go_down_to_30_seconds_and_no_lower(osync: OrderSync) -> None:
    from kura.errors import Invalid
    from kura.jobs.schedules import JobSchedule

    store_id = osync.connect(osync.shop(items=5))
    with osync.db.transaction() as s:
        ordersync.update_order_settings(s, store_id, {"new_orders_interval_s": 30})
    with osync.db.reader() as s:
        row = s.scalar(
            select(JobSchedule).where(JobSchedule.kind == ordersync.KIND_NEW, JobSchedule.store_id == store_id)
        )
        assert row is not None and row.interval_s == 30
    with pytest.raises(Invalid), osync.db.transaction() as s:
        ordersync.update_order_settings(s, store_id, {"status_interval_s": 29})


def test_intervals_set_while_the_order_sync_starts_are_not_overwritten_by_the_defaults(osync: OrderSync) -> None:
    """Intervals changed right after connecting, while the product import runs: start_order_sync (run by a
    worker when the import ends) read the store before the change committed and wrote the default intervals
    over the new ones; the chaos test's store then polled every 5 minutes instead of every 30 s and missed
    its orders. It waits for the store row now. (A race on PostgreSQL; SQLite queues writers up front.)"""
    from kura.jobs.schedules import JobSchedule

    store_id = osync.connect(osync.shop(items=5), start=False)
    with osync.db.transaction() as s:
        ordersync.update_order_settings(s, store_id, {"new_orders_interval_s": 30, "status_interval_s": 60})
        s.flush()
        starter = threading.Thread(target=ordersync.start_order_sync, args=(osync.db, store_id))
        starter.start()
        time.sleep(0.5)  # start_order_sync reaches the store row (and waits there) before this commits
    starter.join(20)
    assert not starter.is_alive()
    with osync.db.reader() as s:
        intervals = dict(s.execute(select(JobSchedule.kind, JobSchedule.interval_s).where(
            JobSchedule.store_id == store_id)).all())  # fmt: skip
    assert intervals == {ordersync.KIND_NEW: 30, ordersync.KIND_STATUS: 60}
