"""`kura stores connect`, `kura sync products` and `kura sync stock [--reconcile]` against an RMS sandbox over HTTP,
as an operator runs them in a terminal (the jobs run in the foreground, as job runs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from kura.catalog.models import Sku
from kura.db import Database
from kura.inventory.channel_stock import store_quantity
from kura.inventory.models import Warehouse
from kura.stores.models import Binding, BindingEntity, Store
from rms_sandbox.config import SandboxConfig
from rms_sandbox.testing import RunningSandbox, running_sandbox
from tests.cli.conftest import Kura


@pytest.fixture
def rms() -> Iterator[RunningSandbox]:
    config = SandboxConfig(db_path=":memory:", clock="manual", rate_limits_enabled=False)
    with running_sandbox(config=config, seed=5, items=4, orders=0) as sandbox:
        yield sandbox


def _rakuten_quantity(rms: RunningSandbox, manage_number: str, variant_id: str) -> int:
    (row,) = rms.admin.stock(rms.shop["shop_url"], manage_number=manage_number, variant_id=variant_id)
    return int(row["quantity"])


def test_connect_import_push_and_reconcile_from_the_terminal(kura: Kura, db: Database, rms: RunningSandbox) -> None:
    shop = rms.shop
    connected = kura("stores", "connect", "--name", "terminal shop", "--shop-url", shop["shop_url"],
                     "--license-key", shop["license_key"], "--service-secret", shop["service_secret"],
                     "--api-base-url", rms.base_url, "--no-import")  # fmt: skip
    assert connected.exit_code == 0, connected.output
    assert "connected" in connected.stdout and shop["service_secret"] not in connected.stdout

    imported = kura("sync", "products", "--store", "terminal shop")
    assert imported.exit_code == 0, imported.output
    with db.reader() as s:
        store = s.scalars(select(Store).where(Store.name == "terminal shop")).one()
        bound = s.scalar(select(func.count()).select_from(Binding).where(
            Binding.store_id == store.id, Binding.entity == BindingEntity.sku)) or 0  # fmt: skip
        binding = s.scalars(select(Binding).where(Binding.store_id == store.id, Binding.entity == BindingEntity.sku)
                            .order_by(Binding.id).limit(1)).one()  # fmt: skip
        warehouse = s.get_one(Warehouse, store.import_warehouse_id)
        code = s.get_one(Sku, binding.local_id).code
        kura_before = store_quantity(s, store.id, binding.local_id)  # on hand − the store's buffer
    assert bound > 0 and f"skus_created {bound}" in imported.stdout, imported.stdout
    manage_number, variant_id = binding.external_id.split("/", 1)
    before = _rakuten_quantity(rms, manage_number, variant_id)

    adjusted = kura("stock", "adjust", "--sku", code, "--warehouse", warehouse.code, "--delta", "3",
                    "--reason", "found in the back")  # fmt: skip
    assert adjusted.exit_code == 0, adjusted.output
    pushed = kura("sync", "stock", "--store", str(store.id))
    assert pushed.exit_code == 0, pushed.output
    assert "done" in pushed.stdout
    with db.reader() as s:
        kura_after = store_quantity(s, store.id, binding.local_id)
    assert kura_after == kura_before + 3 and kura_before < before  # a buffer held back
    assert _rakuten_quantity(rms, manage_number, variant_id) == kura_after

    rms.admin.set_stock(shop["shop_url"], [{"manageNumber": manage_number, "variantId": variant_id, "quantity": 0}])
    reconciled = kura("sync", "stock", "--store", "terminal shop", "--reconcile")
    assert reconciled.exit_code == 0, reconciled.output
    assert f"checked {bound}, drifted 1, corrected 1" in reconciled.stdout  # the correction is queued for the pusher
    assert kura("sync", "stock", "--store", "terminal shop").exit_code == 0
    assert _rakuten_quantity(rms, manage_number, variant_id) == kura_after  # Kura's count again


def test_sync_of_an_unknown_store_says_so_and_exits_1(kura: Kura) -> None:
    for args in (("sync", "products", "--store", "nowhere"), ("sync", "stock", "--store", "42")):
        result = kura(*args)
        assert result.exit_code == 1, result.output
        assert args[-1] in result.output  # the store it could not find
        assert "Traceback" not in result.output
