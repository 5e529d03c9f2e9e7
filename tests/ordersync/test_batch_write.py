"""Writing a getOrder batch: the bulk fast path, the race it can lose, and the fallback to a savepoint per
order when something in the batch fails in the database."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest
from sqlalchemy import func, select

from kura.channels.rakuten import orders as ordersync
from kura.channels.rakuten.client import RmsClient
from kura.inventory.models import Reservation
from kura.inventory.service import create_warehouse, receive
from kura.orders.models import Order, OrderLine, OrderStatusChange
from kura.stores.models import SyncLogEntry
from tests.ordersync.conftest import OrderSync, skus_of


def _placed(osync: OrderSync, shop: dict[str, Any], n: int) -> list[str]:
    return [osync.place(shop)["orderNumber"] for _ in range(n)]


def _models(osync: OrderSync, store_id: int, numbers: list[str]) -> list[dict[str, Any]]:
    with osync.client(osync.db, store_id) as client:
        return list(client.get_orders(numbers).orders)


def _importer(osync: OrderSync, store_id: int) -> tuple[ordersync.OrderImporter, RmsClient]:
    client = osync.client(osync.db, store_id)
    return ordersync.OrderImporter(osync.db, store_id, client), client


def _spy_on_careful_path(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the batches the careful path (a savepoint per order) is asked to write."""
    calls: list[int] = []
    real = ordersync.OrderImporter._write_batch

    def spy(self: ordersync.OrderImporter, models: Any, *, one_by_one: bool) -> list[str]:
        calls.append(len(models))
        return real(self, models, one_by_one=one_by_one)

    monkeypatch.setattr(ordersync.OrderImporter, "_write_batch", spy)
    return calls


def test_a_batch_in_bulk_holds_unknown_skus_and_reserves_known_ones_by_warehouse_priority(
    osync: OrderSync, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = osync.shop(items=10)
    numbers = _placed(osync, shop, 6)
    store_id = osync.connect(shop, start=False)
    models = _models(osync, store_id, numbers)
    codes = sorted({c for m in models for c in skus_of(m)})
    other = osync.catalog(codes[1:], stock=100)
    with osync.db.transaction() as s:
        preferred = create_warehouse(s, "WH-FIRST", "Osaka").id
        for code in codes[1:]:
            receive(s, preferred, code, 100)
    osync.map_warehouses(store_id, [preferred, other])
    careful = _spy_on_careful_path(monkeypatch)
    importer, client = _importer(osync, store_id)
    with client:
        tally = importer.run(iter(numbers))
    assert careful == []  # the fast path wrote the batch
    assert tally.created == 6 and tally.failed == 0
    with osync.db.reader() as s:
        for order in s.scalars(select(Order).where(Order.store_id == store_id)):
            lines = order.lines
            assert [line.line_no for line in lines] == list(range(1, len(lines) + 1))
            assert all(line.package_id is not None for line in lines)
            unknown = any(line.sku == codes[0] for line in lines)
            assert order.hold == ("unknown_sku" if unknown else None)
            assert order.history[0].from_status is None and order.history[0].channel_status == 100
            held = s.scalars(select(Reservation).join(OrderLine).where(OrderLine.order_id == order.id)).all()
            assert len(held) == sum(1 for line in lines if line.sku_id is not None)
            assert all(r.warehouse_id == preferred for r in held)


def test_an_order_another_worker_inserted_meanwhile_is_updated_not_duplicated(
    osync: OrderSync, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = osync.shop(items=10)
    numbers = _placed(osync, shop, 4)
    store_id = osync.connect(shop, start=False)
    models = _models(osync, store_id, numbers)
    with osync.db.transaction() as s:  # the other worker, committed after this batch looked for its orders
        store = s.get_one(ordersync.Store, store_id)
        assert ordersync.apply_order(s, store, models[1], []) == "created"
    monkeypatch.setattr(ordersync, "_existing_orders", lambda session, store_id, numbers: {})
    careful = _spy_on_careful_path(monkeypatch)
    importer, client = _importer(osync, store_id)
    with client:
        tally = importer.run(iter(numbers))
    assert careful == []  # the lost race is handled inside the fast path
    assert (tally.created, tally.unchanged, tally.failed) == (3, 1, 0)
    with osync.db.reader() as s:
        assert s.scalar(select(func.count(Order.id)).where(Order.store_id == store_id)) == 4
        raced = s.scalar(select(Order).where(Order.order_number == numbers[1]))
        assert raced is not None
        assert s.scalar(select(func.count(OrderStatusChange.id)).where(OrderStatusChange.order_id == raced.id)) == 1


def test_an_order_the_database_refuses_falls_back_to_savepoints_and_fails_alone(
    osync: OrderSync, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = osync.shop(items=10)
    numbers = _placed(osync, shop, 5)
    store_id = osync.connect(shop, start=False)
    broken = numbers[2]

    importer, client = _importer(osync, store_id)
    real = client.get_orders

    names: set[str] = set()

    def get_orders(batch: Any, **kw: Any) -> Any:
        result = real(batch, **kw)
        for model in result.orders:
            for package in model["PackageModelList"]:
                names.add(package["SenderModel"]["familyName"])
            if model["orderNumber"] == broken:  # the same basket twice: UNIQUE (order, basket) refuses it
                model["PackageModelList"].append(copy.deepcopy(model["PackageModelList"][0]))
        return result

    monkeypatch.setattr(client, "get_orders", get_orders)
    careful = _spy_on_careful_path(monkeypatch)
    with client, caplog.at_level(logging.WARNING, logger=ordersync.__name__):
        tally = importer.run(iter(numbers))
    assert careful == [5]  # the fast path failed as a whole; the careful path wrote the batch
    assert any("order by order" in r.getMessage() for r in caplog.records)
    assert names and not any(name in caplog.text for name in names)  # no personal data in the log
    assert (tally.found, tally.created, tally.failed) == (5, 4, 1)
    with osync.db.reader() as s:
        got = set(s.scalars(select(Order.order_number).where(Order.store_id == store_id)))
        assert got == set(numbers) - {broken}
        logged = s.scalars(
            select(SyncLogEntry).where(SyncLogEntry.store_id == store_id, SyncLogEntry.kind == "orders")
        ).all()
        assert [e.entity_ref for e in logged] == [broken]
        assert logged[0].retry is not None and logged[0].retry["order_number"] == broken
