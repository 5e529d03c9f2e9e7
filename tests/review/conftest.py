"""Review regression fixtures: the web fixtures (app, admin, `api` client with an admin token) and a connected
Rakuten store written straight to the database (these tests never reach RMS)."""

from __future__ import annotations

import pytest

from kura.db import Database
from kura.secrets import encrypt, mask
from kura.stores.models import Channel, SkuSource, Store, StoreStatus
from tests.web.conftest import admin, api, app_client, settings  # noqa: F401

LICENSE_KEY = "SL123456_abcdefghijkl"


@pytest.fixture
def rakuten_store(db: Database) -> int:
    with db.transaction() as s:
        store = Store(name="楽天ストア", channel=Channel.rakuten, status=StoreStatus.active, shop_code="review-shop",
                      api_base_url="http://127.0.0.1:9", license_key_enc=encrypt(LICENSE_KEY),
                      service_secret_enc=encrypt("SP123456_secretsecret"), license_key_hint=mask(LICENSE_KEY),
                      sku_source=SkuSource.merchant_defined, settings={})  # fmt: skip
        s.add(store)
        s.flush()
        return store.id
