"""Listing fixtures: an RMS sandbox over real HTTP, a Rakuten store in Kura pointing at it, stock, a test queue."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kura.catalog.service import ProductFields
from kura.channels.rakuten import stock as stock_push
from kura.channels.rakuten.client import RmsClient
from kura.db import Database
from kura.inventory.service import create_warehouse, receive
from kura.secrets import encrypt
from kura.stores.models import Channel, Store
from rms_sandbox.testing import RunningSandbox
from tests.rakuten_fixtures import unthrottled
from tests.web.conftest import admin, api, app_client, settings  # noqa: F401

GENRE = "100371"
_codes = itertools.count(1)


@pytest.fixture(autouse=True)
def test_queue(throwaway_queue: Any) -> Any:
    return throwaway_queue


@pytest.fixture(autouse=True)
def fast_clients() -> Iterator[None]:
    """The stores' real clients (kura.stores.service.client_for), with a limiter that never waits."""
    from kura.stores.service import client_for, set_client_factory

    limiter = unthrottled()

    def make(store: Store, db: Database) -> RmsClient:
        return client_for(store, db, limiter=limiter)

    set_client_factory(make)  # listing and stock alike
    yield
    set_client_factory(None)


@pytest.fixture
def store_id(db: Database, sandbox: RunningSandbox) -> int:
    with db.transaction() as s:
        store = Store(name="楽天テスト店", channel=Channel.rakuten, shop_code=f"shop{sandbox.shop['shop_id']}",
                      api_base_url=sandbox.base_url, license_key_enc=encrypt(sandbox.shop["license_key"]),
                      service_secret_enc=encrypt(sandbox.shop["service_secret"]),
                      settings={"default_genre_id": GENRE})  # fmt: skip
        s.add(store)
        s.flush()
        return store.id


@pytest.fixture
def warehouse_id(db: Database) -> int:
    with db.transaction() as s:
        return create_warehouse(s, "TOKYO", "東京倉庫").id


def unique(prefix: str) -> str:
    """Codes differ per test: the sandbox lives for the whole session."""
    return f"{prefix}-{next(_codes)}-{uuid.uuid4().hex[:4]}"


def fields(name: str = "Tシャツ", selling: int = 2980, retail: int | None = None, **more: Any) -> ProductFields:
    return ProductFields(name=name, selling_price=selling, retail_price=retail, **more)


def stock(db: Database, warehouse_id: int, sku: str, units: int) -> None:
    with db.transaction() as s:
        receive(s, warehouse_id, sku, units)


def rms(sandbox: RunningSandbox) -> RmsClient:
    return RmsClient(sandbox.base_url, sandbox.shop["service_secret"], sandbox.shop["license_key"], store_key="t")


def push_stock(db: Database, store_id: int) -> dict[str, Any]:
    """Runs the stock pusher of the store once (the job a listing kicks), as the tests' queue does not."""
    return stock_push.push_dirty(db, store_id)


def sandbox_qty(sandbox: RunningSandbox, manage_number: str) -> list[int]:
    return [int(r["quantity"]) for r in sandbox.admin.stock(sandbox.shop["shop_id"], manage_number=manage_number)]
