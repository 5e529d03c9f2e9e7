"""Fulfilment fixtures: the RMS sandbox and the carrier sandbox over real HTTP, a connected Rakuten shop whose
orders Kura imports with the order sync, and helpers that take an order from the marketplace to Kura's RFP."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from carriers_sandbox.testing import RunningCarrierSandbox, running_carrier_sandbox
from kura.channels.rakuten import orders as ordersync
from kura.db import Database, utcnow
from kura.jobs.runs import JobRun
from kura.orders.models import Order
from kura.shipping import service as shipping
from tests.ordersync.conftest import OrderSync, _clean_sandbox, osync, sandbox, skus_of  # noqa: F401

SHIP_FROM = {"name": "倉サンプル商店", "postal_code": "150-0001", "prefecture": "東京都",
             "address_line1": "渋谷区神宮前1-2-3", "address_line2": "倉ビル2F", "phone": "0312345678"}  # fmt: skip


@pytest.fixture(scope="session")
def carriers() -> Iterator[RunningCarrierSandbox]:
    with running_carrier_sandbox() as running:
        yield running


@pytest.fixture(autouse=True)
def _carrier_url(carriers: RunningCarrierSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KURA_CARRIERS_URL", carriers.base_url)
    carriers.admin.fail_next(0)


@dataclass
class Shop:
    """One sandbox shop connected as a Kura store, with Kura's catalog holding its SKUs."""

    osync: OrderSync
    info: dict[str, Any]
    store_id: int
    warehouse_id: int
    stock: list[dict[str, Any]]

    def items(self, *units: int) -> list[dict[str, Any]]:
        """Order items: the first SKUs on sale with plenty of stock, `units` of each."""
        return [{"manageNumber": s["manageNumber"], "variantId": s["variantId"], "units": n}
                for s, n in zip(self.stock, units, strict=False)]  # fmt: skip

    def sku(self, item: dict[str, Any]) -> str:
        row = next(s for s in self.stock if s["variantId"] == item["variantId"])
        return str(row.get("merchantDefinedSkuId") or row["variantId"])

    @property
    def db(self) -> Database:
        return self.osync.db

    def place(self, items: list[dict[str, Any]] | None = None) -> str:
        """A buyer orders; Kura imports it; Rakuten releases it (300); Kura allocates it (RFP). Returns its id."""
        admin = self.osync.sandbox.admin
        self.set_clock(utcnow() - dt.timedelta(seconds=300))  # Rakuten's clock stays at Kura's now
        number = admin.place_order(self.info["shop_id"], items)["orderNumber"]
        self.run(ordersync.KIND_NEW)
        self.set_clock(utcnow())  # Rakuten processing done: 300
        self.run(ordersync.KIND_STATUS)
        return number

    def set_clock(self, at: dt.datetime) -> None:
        self.osync.sandbox.admin.http.put("/_sandbox/clock", json={"now": at.isoformat()}).raise_for_status()

    def run(self, kind: str) -> JobRun:
        run = self.osync.run(kind, self.store_id)
        assert run.status == "done", run.error
        return run

    def order(self, number: str) -> Order:
        return self.osync.orders(self.store_id)[number]

    def rakuten(self, number: str) -> dict[str, Any]:
        raw = self.osync.sandbox.admin.order(self.info["shop_id"], number)
        return dict(raw.get("order") or raw.get("data") or raw)


@pytest.fixture
def shop(osync: OrderSync) -> Shop:  # noqa: F811
    info = osync.shop(items=12)
    store_id = osync.connect(info, settings={"auto_confirm": True})
    stock = osync.sandbox.admin.stock(info["shop_id"])
    codes = list(dict.fromkeys(s.get("merchantDefinedSkuId") or s["variantId"] for s in stock))
    warehouse = osync.catalog(codes, stock=50)
    osync.map_warehouses(store_id, [warehouse])
    with osync.db.transaction() as s:
        shipping.set_ship_from(s, store_id, SHIP_FROM)
    plenty = [s for s in stock if s["quantity"] >= 10]
    return Shop(osync, info, store_id, warehouse, plenty)
