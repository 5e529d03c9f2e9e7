"""Stock sync fixtures: an RMS sandbox over real HTTP, a Rakuten store pointing at it, listed SKUs, a test queue."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kura.catalog.service import ProductFields, create_kit, create_single
from kura.channels.rakuten import stock
from kura.channels.rakuten.client import RmsClient
from kura.db import Database
from kura.inventory.service import create_warehouse, receive
from kura.secrets import encrypt
from kura.stores.models import Binding, BindingEntity, Channel, Store
from rms_sandbox.testing import RunningSandbox
from tests.rakuten_fixtures import unthrottled

_codes = itertools.count(1)


@pytest.fixture(autouse=True)
def test_queue(throwaway_queue: Any) -> Any:
    return throwaway_queue


@pytest.fixture(autouse=True)
def fast_clients(sandbox: RunningSandbox) -> Iterator[None]:
    """The stores' real clients, with a limiter that never waits and short retries."""
    from kura.stores.service import client_for, set_client_factory

    limiter = unthrottled()

    def make(store: Store, db: Database) -> RmsClient:
        return client_for(store, db, limiter=limiter, max_retries=1, backoff_base=0.01)

    set_client_factory(make)
    yield
    set_client_factory(None)
    sandbox.admin.clear_faults()


@pytest.fixture
def store_id(db: Database, sandbox: RunningSandbox) -> Iterator[int]:
    with db.transaction() as s:
        store = Store(name="楽天テスト店", channel=Channel.rakuten, shop_code=f"shop{sandbox.shop['shop_id']}",
                      api_base_url=sandbox.base_url, license_key_enc=encrypt(sandbox.shop["license_key"]),
                      service_secret_enc=encrypt(sandbox.shop["service_secret"]),
                      settings={"stock_buffer": {"mode": "units", "value": 0}})  # fmt: skip
        s.add(store)
        s.flush()
        store_id = store.id
    yield store_id
    stock.resume(store_id)


@pytest.fixture
def warehouse_id(db: Database) -> int:
    with db.transaction() as s:
        return create_warehouse(s, "TOKYO", "東京倉庫").id


def unique(prefix: str) -> str:
    """Codes differ per test: the sandbox lives for the whole session."""
    return f"{prefix}-{next(_codes)}-{uuid.uuid4().hex[:4]}"


def _bind(s: Any, store_id: int, sku_id: int, code: str, manage_number: str | None = None,
          variant_id: str | None = None) -> tuple[str, str]:  # fmt: skip
    mn = manage_number or code.lower()
    vid = variant_id or code
    s.add(Binding(store_id=store_id, entity=BindingEntity.sku, local_id=sku_id, external_id=f"{mn}/{vid}",
                  data={"manage_number": mn, "variant_id": vid}))  # fmt: skip
    s.flush()
    return mn, vid


def bind(db: Database, store_id: int, sku_id: int, code: str, manage_number: str | None = None,
         variant_id: str | None = None) -> tuple[str, str]:  # fmt: skip
    with db.transaction() as s:
        return _bind(s, store_id, sku_id, code, manage_number, variant_id)


def listed_single(db: Database, store_id: int, units: int = 0, warehouse_id: int | None = None) -> tuple[str, str, str]:
    """A single product with its SKU bound on the store (and `units` received); returns (sku, mn, variantId)."""
    code = unique("tee")
    with db.transaction() as s:
        product = create_single(s, code, ProductFields(name="Tシャツ", selling_price=1000))
        mn, vid = _bind(s, store_id, product.skus[0].id, code)
        if units and warehouse_id is not None:
            receive(s, warehouse_id, code, units)
    return code, mn, vid


def listed_kit(db: Database, store_id: int, components: dict[str, int]) -> tuple[str, str, str]:
    code = unique("kit")
    with db.transaction() as s:
        product = create_kit(s, code, ProductFields(name="セット", selling_price=3000), components)
        sku_id = product.skus[0].id
    mn, vid = bind(db, store_id, sku_id, code)
    return code, mn, vid


def rakuten_qty(sandbox: RunningSandbox, mn: str, vid: str) -> int | None:
    rows = sandbox.admin.stock(sandbox.shop["shop_id"], manage_number=mn, variant_id=vid)
    return int(rows[0]["quantity"]) if rows else None


def upserts_for(sandbox: RunningSandbox, mn: str, vid: str) -> list[int]:
    """Every quantity a bulk upsert wrote for this SKU, oldest first."""
    found = []
    for write in sandbox.admin.writes(sandbox.shop["shop_id"], function="inventories.bulk.upsert"):
        body = write.get("body") or {}
        for record in (body.get("inventories") if isinstance(body, dict) else None) or []:
            if str(record.get("manageNumber")).lower() == mn and record.get("variantId") == vid \
                    and int(write.get("status") or 0) < 300:
                found.append(int(record["quantity"]))
    return found
