"""Fixtures for the domain tests: a store and two warehouses, made through the services."""

from __future__ import annotations

import pytest

from kura.db import Database
from kura.inventory.service import create_warehouse
from kura.orders.service import create_store


@pytest.fixture
def store_id(db: Database) -> int:
    with db.transaction() as s:
        return create_store(s, "楽天ショップ", "rakuten").id


@pytest.fixture
def warehouses(db: Database) -> tuple[int, int]:
    with db.transaction() as s:
        return create_warehouse(s, "TOKYO", "東京倉庫").id, create_warehouse(s, "OSAKA", "大阪倉庫").id
