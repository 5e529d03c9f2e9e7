"""Rakuten → Kura product import against the RMS sandbox over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from kura.catalog.models import Product, ProductType, Sku
from kura.channels.rakuten.products import SyncRequest
from kura.db import Database
from kura.errors import KuraError
from kura.jobs.runs import JobRun, RunStatus
from kura.stores.models import Binding, SkuSource, SyncLogEntry
from kura.stores.service import update_settings
from tests.sync.conftest import Sync, assert_complete, kura_state, rakuten_catalog


def test_import_brings_every_sku_once_with_stock_and_bindings(sync: Sync, new_shop: Any, db: Database) -> None:
    shop = new_shop(items=120)
    store_id = sync.connect(shop)
    run = sync.run(store_id)
    assert run.status == RunStatus.done, run.error
    with sync.client(store_id) as client:
        catalog = rakuten_catalog(client)
    assert_complete(db, store_id, catalog)
    assert run.counts is not None and run.counts["items"] == 120
    assert run.progress_done == run.progress_total == 120


def test_single_items_become_single_products_and_variation_items_groups(sync: Sync, new_shop: Any,
                                                                        db: Database) -> None:  # fmt: skip
    shop = new_shop(items=40)
    store_id = sync.connect(shop)
    sync.run(store_id)
    with sync.client(store_id) as client:
        items = {r["item"]["manageNumber"]: r["item"] for r in client.iter_items()}
    with db.reader() as s:
        bindings = dict(s.execute(select(Binding.external_id, Binding.local_id).where(
            Binding.store_id == store_id, Binding.entity == "product")).all())  # fmt: skip
        for mn, product_id in bindings.items():
            product = s.get_one(Product, product_id)
            item = items[mn]
            if item.get("variantSelectors"):
                assert product.type == ProductType.group and product.code == mn
                assert product.axes == [sel["displayName"] for sel in item["variantSelectors"]]
            else:
                assert product.type == ProductType.single
                variant = next(iter(item["variants"].values()))
                assert product.selling_price == int(variant["standardPrice"])
                ref = variant.get("referencePrice")
                assert product.retail_price == (int(ref["value"]) if ref else None)
            assert product.name == item["title"]
            assert product.active is (not item.get("hideItem", False))
            assert product.images and all(u.startswith("https://") for u in product.images)
            assert all(f"/{shop['shop_url']}" in u for u in product.images)


def test_rerun_is_idempotent(sync: Sync, new_shop: Any, db: Database) -> None:
    shop = new_shop(items=80)
    store_id = sync.connect(shop)
    sync.run(store_id)
    first = kura_state(db, store_id)
    again = sync.run(store_id)
    assert again.status == RunStatus.done
    second = kura_state(db, store_id)
    assert second["skus"] == first["skus"] and second["sku_bindings"] == first["sku_bindings"]
    assert second["product_bindings"] == first["product_bindings"] and second["stock"] == first["stock"]
    assert again.counts is not None and again.counts["products_created"] == again.counts["skus_created"] == 0


def test_duplicate_sku_keeps_first_item_and_reports_the_second(sync: Sync, new_shop: Any, db: Database,
                                                               sandbox: Any) -> None:  # fmt: skip
    shop = new_shop(items=10)
    store_id = sync.connect(shop)
    with sync.client(store_id) as client:
        items = [r["item"] for r in client.iter_items()]
        first, second = items[0], items[1]
        sku = next(iter(first["variants"].values())).get("merchantDefinedSkuId") or next(iter(first["variants"]))
        body = {k: v for k, v in second.items() if k not in ("manageNumber", "created", "updated")}
        vid = next(iter(body["variants"]))
        body["variants"][vid]["merchantDefinedSkuId"] = sku
        client.upsert_item(second["manageNumber"], body)
        order = [r["item"]["manageNumber"] for r in client.iter_items()]  # the change moved it in the order
    later = max(first["manageNumber"], second["manageNumber"], key=order.index)
    sync.run(store_id)
    with db.reader() as s:
        warnings = list(s.scalars(select(SyncLogEntry).where(SyncLogEntry.level == "warning",
                                                             SyncLogEntry.kind == "products")))  # fmt: skip
        assert s.scalar(select(func.count(Sku.id)).where(Sku.code == sku)) == 1
    named = [w for w in warnings if sku in w.message]
    assert len(named) == 1
    assert f"{first['manageNumber']}/" in named[0].message and f"{second['manageNumber']}/" in named[0].message
    assert named[0].message.index(later) > named[0].message.index("kept")
    assert named[0].retry == {"action": "import_item", "manage_number": later}


def test_sku_source_variant_id_uses_variant_ids(sync: Sync, new_shop: Any, db: Database) -> None:
    shop = new_shop(items=30)
    store_id = sync.connect(shop)
    with db.transaction() as s:
        update_settings(s, store_id, {"sku_source": SkuSource.variant_id})
    sync.run(store_id)
    with sync.client(store_id) as client:
        catalog = rakuten_catalog(client, sku_source="variant_id")
    assert_complete(db, store_id, catalog)


def test_stock_is_only_set_where_kura_has_none(sync: Sync, new_shop: Any, db: Database) -> None:
    shop = new_shop(items=20)
    store_id = sync.connect(shop)
    sync.run(store_id)
    before = kura_state(db, store_id)["stock"]
    with sync.client(store_id) as client:
        stock = client.bulk_get_inventories([tuple(k.split("/", 1)) for k in kura_state(db, store_id)["sku_bindings"]])  # type: ignore[misc]
    sync.sandbox.admin.set_stock(shop["shop_url"], [{**r, "quantity": 7} for r in stock[:5]])
    sync.run(store_id)
    after = kura_state(db, store_id)["stock"]
    changed = {k for k in after if after[k] != before.get(k)}
    # SKUs that had stock in Kura keep it; only those without a record (RMS had 0) may get one now.
    assert all(before.get(k) is None for k in changed)


def test_hidden_items_become_inactive_and_group_sync_of_one_item(sync: Sync, new_shop: Any, db: Database) -> None:
    shop = new_shop(items=30)
    store_id = sync.connect(shop)
    with sync.client(store_id) as client:
        group = next(r["item"] for r in client.iter_items() if r["item"].get("variantSelectors"))
        client.patch_item(group["manageNumber"], {"hideItem": True})
    run = sync.run(store_id, SyncRequest(manage_number=group["manageNumber"]))
    assert run.status == RunStatus.done and run.kind == "rakuten.sync_group"
    with db.reader() as s:
        products = list(s.scalars(select(Product)))
    assert [p.code for p in products] == [group["manageNumber"]]
    assert products[0].active is False and products[0].type == ProductType.group


def test_group_sync_of_all_groups_skips_singles(sync: Sync, new_shop: Any, db: Database) -> None:
    shop = new_shop(items=40)
    store_id = sync.connect(shop)
    run = sync.run(store_id, SyncRequest(groups_only=True))
    assert run.status == RunStatus.done
    with db.reader() as s:
        types = set(s.scalars(select(Product.type)))
    assert types == {ProductType.group}
    assert run.counts is not None and run.counts["skipped_singles"] > 0


def test_unknown_manage_number_fails_the_run_and_is_logged(sync: Sync, new_shop: Any, db: Database) -> None:
    store_id = sync.connect(new_shop(items=3))
    with pytest.raises(KuraError):
        sync.run(store_id, SyncRequest(manage_number="no-such-item"))
    with db.reader() as s:
        run = s.scalars(select(JobRun).order_by(JobRun.id.desc())).first()
        assert run is not None and run.status == RunStatus.failed
        entry = s.scalars(select(SyncLogEntry).where(SyncLogEntry.entity_ref == "no-such-item")).one()
        assert entry.level == "error"
