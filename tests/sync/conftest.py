"""Sync fixtures: one RMS sandbox over real HTTP for the session, fresh seeded shops per test, stores connected
through the real service, and imports run through the job layer (run_job) with a fast client."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from kura.catalog.models import Product, Sku
from kura.channels.rakuten.client import RmsClient
from kura.channels.rakuten.products import SyncRequest, import_products
from kura.db import Database
from kura.inventory.models import StockLevel
from kura.jobs import registry
from kura.jobs.runs import JobRun, run_job
from kura.ratelimit import DEFAULT_RATES, RateLimiter
from kura.stores.models import Binding, BindingEntity, SyncLogEntry
from kura.stores.service import client_for, connect_rakuten, get_store
from rms_sandbox.config import SandboxConfig
from rms_sandbox.testing import RunningSandbox, running_sandbox

START = "2025-06-02T10:00:00+09:00"
FAULT_TIMEOUT_S = 0.5
BASELINE = {"rate_limits_enabled": False, "rate_limits": {}, "fault_timeout_s": FAULT_TIMEOUT_S}


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    config = SandboxConfig(db_path=":memory:", clock="manual", clock_start=START, rate_limits_enabled=False,
                           fault_timeout_s=FAULT_TIMEOUT_S)  # fmt: skip
    with running_sandbox(config=config, seed=None) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean_sandbox(sandbox: RunningSandbox) -> Iterator[None]:
    sandbox.admin.clear_faults()
    sandbox.admin.configure(**BASELINE)
    yield
    sandbox.admin.clear_faults()
    sandbox.admin.configure(**BASELINE)


_seeds = itertools.count(500)


@pytest.fixture
def new_shop(sandbox: RunningSandbox) -> Callable[..., dict[str, Any]]:
    def make(items: int = 60) -> dict[str, Any]:
        return sandbox.admin.create_shop(seed=next(_seeds), items=items, orders=0)

    return make


def fast_limiter() -> RateLimiter:
    return RateLimiter("memory://", rates={name: "1000/second" for name in DEFAULT_RATES}, default="1000/second")


@pytest.fixture
def bound_db(db: Database) -> Iterator[Database]:
    registry.bind_database(db)
    yield db
    registry.bind_database(None)


@dataclass
class Sync:
    """Connects sandbox shops as stores and runs product syncs through run_job, as the job layer does."""

    db: Database
    sandbox: RunningSandbox
    limiter: RateLimiter

    def connect(self, shop: dict[str, Any], name: str | None = None) -> int:
        connected = connect_rakuten(self.db, name=name or f"store {shop['shop_url']}", shop_url=shop["shop_url"],
                                    license_key=shop["license_key"], service_secret=shop["service_secret"],
                                    api_base_url=self.sandbox.base_url, import_products=False, limiter=self.limiter)
        return connected.store_id

    def client(self, store_id: int, **options: Any) -> RmsClient:
        with self.db.reader() as s:
            store = get_store(s, store_id)
            s.expunge(store)
        options.setdefault("backoff_base", 0.01)
        options.setdefault("timeout", 5.0)
        return client_for(store, self.db, limiter=self.limiter, **options)

    def run(self, store_id: int, request: SyncRequest = SyncRequest(),
            on_page: Callable[[int], None] | None = None, **options: Any) -> JobRun:  # fmt: skip
        def fn(sid: int | None, progress: Any) -> dict[str, Any]:
            assert sid is not None
            with self.client(sid, **options) as client:
                return import_products(self.db, sid, progress, request=request, client=client, on_page=on_page)

        return run_job(self.db, request.kind, store_id, fn)


@pytest.fixture
def sync(db: Database, sandbox: RunningSandbox) -> Sync:
    return Sync(db, sandbox, fast_limiter())


def rakuten_catalog(client: RmsClient, sku_source: str = "merchant_defined") -> dict[str, Any]:
    """What the sandbox holds: variants by 'mn/vid' with their SKU code, stock, and the distinct SKU codes."""
    variants: dict[str, dict[str, Any]] = {}
    for result in client.iter_items():
        item = result["item"]
        for vid, v in (item.get("variants") or {}).items():
            code = v.get("merchantDefinedSkuId") if sku_source == "merchant_defined" else None
            variants[f"{item['manageNumber']}/{vid}"] = {"code": code or vid, "item": item["manageNumber"]}
    stock = client.bulk_get_inventories([tuple(k.split("/", 1)) for k in variants])  # type: ignore[misc]
    for record in stock:
        variants[f"{record['manageNumber']}/{record['variantId']}"]["quantity"] = int(record["quantity"])
    codes = Counter(v["code"] for v in variants.values())
    return {"variants": variants, "codes": codes, "items": {v["item"] for v in variants.values()}}


def kura_state(db: Database, store_id: int) -> dict[str, Any]:
    with db.reader() as s:
        sku_bindings = dict(s.execute(select(Binding.external_id, Binding.local_id).where(
            Binding.store_id == store_id, Binding.entity == BindingEntity.sku)).all())  # fmt: skip
        product_bindings = dict(s.execute(select(Binding.external_id, Binding.local_id).where(
            Binding.store_id == store_id, Binding.entity == BindingEntity.product)).all())  # fmt: skip
        skus = dict(s.execute(select(Sku.id, Sku.code)).all())
        stock = dict(s.execute(select(StockLevel.sku_id, func.sum(StockLevel.on_hand)).group_by(StockLevel.sku_id))
                     .all())  # fmt: skip
        products = s.scalar(select(func.count(Product.id))) or 0
        warnings = list(s.scalars(select(SyncLogEntry).where(SyncLogEntry.store_id == store_id,
                                                             SyncLogEntry.kind == "products")))  # fmt: skip
        for w in warnings:
            s.expunge(w)
    return {"sku_bindings": sku_bindings, "product_bindings": product_bindings, "skus": skus, "stock": stock,
            "products": products, "log": warnings}  # fmt: skip


def assert_complete(db: Database, store_id: int, catalog: dict[str, Any]) -> dict[str, Any]:
    """Nothing lost, nothing duplicated: every distinct SKU once, bound to one variant carrying it, stock as RMS."""
    state = kura_state(db, store_id)
    assert sorted(state["skus"].values()) == sorted(catalog["codes"]), "Kura's SKUs differ from the shop's"
    assert len(state["sku_bindings"]) == len(catalog["codes"])
    for ext, sku_id in state["sku_bindings"].items():
        variant = catalog["variants"][ext]
        assert state["skus"][sku_id] == variant["code"]
        assert state["stock"].get(sku_id, 0) == variant["quantity"]
    bound_items = {ext.split("/", 1)[0] for ext in state["sku_bindings"]}
    assert set(state["product_bindings"]) == bound_items
    assert state["products"] == len(bound_items)
    duplicates = sum(n - 1 for n in catalog["codes"].values())
    warned = [e for e in state["log"] if e.level == "warning" and e.resolved_at is None]
    assert len(warned) == duplicates
    return state
