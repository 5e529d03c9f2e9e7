"""Order-sync fixtures: one RMS sandbox (manual clock at the real now, so Kura's and Rakuten's "now" agree),
fresh shops per test, stores connected through the real service, and the sync jobs run through run_job.

Isolation: the sandbox lives for the session, so every test starts from the same sandbox state: faults
cleared, every setting back to the session's own (not only the ones a test is expected to touch), and the
manual clock at the real now *in whole seconds*. RMS compares order dates to the second and Kura's polls end
at `now` without its fraction; a clock carrying a fraction (10:00:00.7) placed orders after the end of a
poll run within the same second (…:00), and such tests failed or passed depending on how fast they ran."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from kura.catalog.service import ProductFields, create_single
from kura.channels.rakuten import orders as ordersync
from kura.channels.rakuten.client import RmsClient, RmsSettings
from kura.db import Database, utcnow
from kura.inventory.service import create_warehouse, receive
from kura.jobs import registry
from kura.jobs.runs import JobRun, run_job
from kura.orders.models import Order
from kura.ratelimit import RateLimiter
from kura.stores.service import client_for, connect_rakuten, get_store
from kura.stores.warehouses import set_store_warehouses
from rms_sandbox.config import SandboxConfig
from rms_sandbox.testing import RunningSandbox, running_sandbox

BASELINE = {"rate_limits_enabled": False, "rate_limits": {}, "fault_timeout_s": 0.5}


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    config = SandboxConfig(db_path=":memory:", clock="manual", rate_limits_enabled=False, fault_timeout_s=0.5)
    with running_sandbox(config=config, seed=None) as running:
        yield running


_baselines: dict[str, dict[str, Any]] = {}


def _baseline(sandbox: RunningSandbox) -> dict[str, Any]:
    """Every setting the admin API can change, as this sandbox had them before its first test (BASELINE
    applied). Kept here rather than in a fixture: other suites import `_clean_sandbox` by name."""
    if sandbox.base_url not in _baselines:
        current = sandbox.admin.configure(**BASELINE)
        _baselines[sandbox.base_url] = {k: v for k, v in current.items() if k not in ("clock", "db_path")}
    return _baselines[sandbox.base_url]


def _reset_sandbox(sandbox: RunningSandbox) -> None:
    sandbox.admin.clear_faults()
    sandbox.admin.configure(**_baseline(sandbox))


@pytest.fixture(autouse=True)
def _clean_sandbox(sandbox: RunningSandbox) -> Iterator[None]:
    _reset_sandbox(sandbox)
    # Kura's "now" is the real one: each test starts with Rakuten's clock there too (tests advance it), in
    # whole seconds as RMS keeps order dates (see the module's docstring).
    now = utcnow().replace(microsecond=0)
    sandbox.admin.http.put("/_sandbox/clock", json={"now": now.isoformat()}).raise_for_status()
    yield
    _reset_sandbox(sandbox)


_seeds = itertools.count(900)


def fast_limiter() -> RateLimiter:
    return RateLimiter("memory://", rates={}, default="1000/second")


@dataclass
class OrderSync:
    """Connects sandbox shops as stores and runs the order-sync jobs through run_job, as the job layer does."""

    db: Database
    sandbox: RunningSandbox
    limiter: RateLimiter
    rms: RmsSettings | None = None  # what the client believes about RMS (e.g. a lowered result cap)

    def shop(self, items: int = 30, orders: int = 0) -> dict[str, Any]:
        return self.sandbox.admin.create_shop(seed=next(_seeds), items=items, orders=orders)

    def place(self, shop: dict[str, Any]) -> dict[str, Any]:
        """A buyer's order of a random item of the shop; a seeded shop has sold-out items (409), so another is
        picked then."""
        for _ in range(50):
            try:
                return self.sandbox.admin.place_order(shop["shop_id"])
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code != 409:
                    raise
        raise AssertionError(f"every item of shop {shop['shop_id']} seems sold out")

    def connect(self, shop: dict[str, Any], settings: dict[str, Any] | None = None, start: bool = True) -> int:
        store_id = connect_rakuten(
            self.db,
            name=f"store {shop['shop_url']}",
            shop_url=shop["shop_url"],
            license_key=shop["license_key"],
            service_secret=shop["service_secret"],
            api_base_url=self.sandbox.base_url,
            import_products=False,
            limiter=self.limiter,
        ).store_id
        if settings:
            with self.db.transaction() as s:
                ordersync.update_order_settings(s, store_id, settings)
        if start:
            ordersync.start_order_sync(self.db, store_id)
        return store_id

    def client(self, db: Database, store_id: int, run_id: int | None = None) -> RmsClient:
        with db.reader() as s:
            store = get_store(s, store_id)
            s.expunge(store)
        return client_for(
            store, db, run_id=run_id, limiter=self.limiter, backoff_base=0.01, timeout=5.0, settings=self.rms
        )

    def run(self, kind: str, store_id: int) -> JobRun:
        return run_job(self.db, kind, store_id, registry.get_kind(kind).fn)

    def orders(self, store_id: int) -> dict[str, Order]:
        with self.db.reader() as s:
            rows = s.scalars(select(Order).where(Order.store_id == store_id)).all()
            return {o.order_number: o for o in rows}

    def catalog(self, codes: list[str], stock: int = 100) -> int:
        """Kura knows these SKUs, with stock in one warehouse mapped to every store; returns the warehouse."""
        with self.db.transaction() as s:
            warehouse = create_warehouse(s, f"WH{next(_seeds)}", "Tokyo")
            for code in codes:
                create_single(s, code, ProductFields(name=f"product {code}", selling_price=1000))
                receive(s, warehouse.id, code, stock)
            return warehouse.id

    def map_warehouses(self, store_id: int, warehouse_ids: list[int]) -> None:
        with self.db.transaction() as s:
            set_store_warehouses(s, store_id, warehouse_ids)


@pytest.fixture
def osync(db: Database, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[OrderSync]:
    registry.bind_database(db)
    helper = OrderSync(db, sandbox, fast_limiter())
    monkeypatch.setattr(ordersync, "client_factory", helper.client)
    yield helper
    registry.bind_database(None)


def skus_of(model: dict[str, Any]) -> list[str]:
    return [
        s.get("merchantDefinedSkuId") or s.get("variantId")
        for p in model["PackageModelList"]
        for i in p["ItemModelList"]
        for s in i["SkuModelList"]
    ]


Place = Callable[..., dict[str, Any]]
