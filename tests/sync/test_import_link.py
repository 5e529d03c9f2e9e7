"""A second store whose items carry SKUs or product codes that Kura has already (imported from another store,
or made in Kura) is linked to them: bound, never duplicated, and Kura's values are kept."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import func, select

from kura.catalog.models import Product, ProductType, Sku
from kura.catalog.service import ProductFields, create_group, create_single
from kura.db import Database
from kura.jobs.outbox import OutboxRow
from kura.jobs.runs import RunStatus
from kura.stores.models import Binding, BindingEntity, SyncLogEntry
from tests.sync.conftest import Sync, kura_state


def _catalog(db: Database) -> dict[str, Any]:
    with db.reader() as s:
        products = {p.id: (p.code, p.name, p.selling_price, p.retail_price, p.active)
                    for p in s.scalars(select(Product))}  # fmt: skip
        skus = {k.id: (k.code, k.product_id, k.selling_price, k.active) for k in s.scalars(select(Sku))}
    return {"products": products, "skus": skus}


def _infos(db: Database, store_id: int) -> list[SyncLogEntry]:
    with db.reader() as s:
        rows = list(s.scalars(select(SyncLogEntry).where(
            SyncLogEntry.store_id == store_id, SyncLogEntry.kind == "products", SyncLogEntry.level == "info")))
        for row in rows:
            s.expunge(row)
    return rows


def _item_body(item: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in item.items() if k not in ("manageNumber", "created", "updated")}


def test_second_store_with_the_same_items_links_and_keeps_kuras_values(sync: Sync, sandbox: Any,
                                                                       db: Database) -> None:  # fmt: skip
    first = sandbox.admin.create_shop(seed=9100, items=40, orders=0)
    second = sandbox.admin.create_shop(seed=9100, items=40, orders=0)  # the same seed: the same items and SKUs
    a, b = sync.connect(first, "Shop A"), sync.connect(second, "Shop B")
    assert sync.run(a).status == RunStatus.done
    before = _catalog(db)
    # The second store prices and names its copies differently: Kura keeps the first store's values.
    with sync.client(b) as client:
        items = [r["item"] for r in client.iter_items()]
        for item in items[:10]:
            body = _item_body(item)
            body["title"] = "second store's title"
            for variant in body["variants"].values():
                variant["standardPrice"] = str(int(variant["standardPrice"]) + 111)
            client.upsert_item(item["manageNumber"], body)
    run = sync.run(b)
    assert run.status == RunStatus.done, run.error
    counts = run.counts or {}
    assert counts["errors"] == counts["duplicates"] == counts["products_created"] == counts["skus_created"] == 0
    assert counts["products_linked"] == 40 and counts["skus_linked"] == len(before["skus"])
    assert _catalog(db) == before, "the second store created or changed products"
    # Kura's stock is the master: every SKU the second store was linked to is queued for a stock push there
    # (no stock change would send it, and the first-stock rule leaves Kura's stock as it is).
    with db.reader() as s:
        queued = set(s.scalars(select(OutboxRow.key).where(OutboxRow.store_id == b, OutboxRow.kind == "stock")))
    assert queued == {code for code, *_ in before["skus"].values()}
    state_a, state_b = kura_state(db, a), kura_state(db, b)
    assert state_b["sku_bindings"] == state_a["sku_bindings"]  # each variant on the very SKU of the first store
    assert state_b["product_bindings"] == state_a["product_bindings"]
    assert not [e for e in state_b["log"] if e.level in ("warning", "error")]
    infos = _infos(db, b)
    assert len(infos) == 40 and all(e.retry is None for e in infos)
    assert all("linked to Kura product" in e.message and "'Shop A'" in e.message for e in infos)
    # A re-run neither writes the second store's values nor logs the links again.
    again = sync.run(b)
    assert again.status == RunStatus.done and (again.counts or {})["products_updated"] == 0
    assert _catalog(db) == before and len(_infos(db, b)) == 40
    # The first store still owns its products: its own changes are imported.
    with sync.client(a) as client:
        item = client.get_item(items[0]["manageNumber"])
        client.patch_item(item["manageNumber"], {"title": "first store renamed it"})
    sync.run(a)
    with db.reader() as s:
        product_id = state_a["product_bindings"][items[0]["manageNumber"]]
        assert s.get_one(Product, product_id).name == "first store renamed it"


def test_kuras_own_product_is_linked_and_left_as_kura_has_it(sync: Sync, sandbox: Any, db: Database) -> None:
    shop = sandbox.admin.create_shop(seed=9200, items=12, orders=0)
    store_id = sync.connect(shop, "Shop C")
    with sync.client(store_id) as client:
        single = next(r["item"] for r in client.iter_items() if len(r["item"]["variants"]) == 1
                      and next(iter(r["item"]["variants"].values())).get("merchantDefinedSkuId"))  # fmt: skip
    code = next(iter(single["variants"].values()))["merchantDefinedSkuId"]
    with db.transaction() as s:
        own = create_single(s, code, ProductFields(name="made in Kura", selling_price=12345))
        own_id = own.id
    for _ in range(2):
        run = sync.run(store_id)
        assert run.status == RunStatus.done and (run.counts or {})["errors"] == 0
        with db.reader() as s:
            product = s.get_one(Product, own_id)
            assert (product.name, product.selling_price) == ("made in Kura", 12345)
            assert s.scalar(select(func.count(Sku.id)).where(Sku.code == code)) == 1
    state = kura_state(db, store_id)
    assert state["product_bindings"][single["manageNumber"]] == own_id
    infos = [e for e in _infos(db, store_id) if e.entity_ref == single["manageNumber"]]
    assert len(infos) == 1 and "Kura's catalog" in infos[0].message and repr(code) in infos[0].message


def test_variation_item_whose_code_is_taken_links_and_adds_its_new_skus(sync: Sync, sandbox: Any,
                                                                        db: Database) -> None:  # fmt: skip
    first = sandbox.admin.create_shop(seed=9300, items=30, orders=0)
    a = sync.connect(first, "Shop A")
    assert sync.run(a).status == RunStatus.done
    with sync.client(a) as client:
        group = next(r["item"] for r in client.iter_items() if r["item"].get("variantSelectors"))
    mn = group["manageNumber"]
    second = sandbox.admin.create_shop()
    b = sync.connect(second, "Shop B")
    # Shop B sells the same item (same manageNumber) with one SKU Kura has and one it lacks.
    body = _item_body(group)
    selector = body["variantSelectors"][0]
    kept_vid, kept = next(iter(body["variants"].items()))
    new_variant = {**copy.deepcopy(kept), "merchantDefinedSkuId": "B-ONLY-1",
                   "selectorValues": {selector["key"]: "B限定"}}  # fmt: skip
    selector["values"].append({"displayValue": "B限定"})
    body["variants"] = {kept_vid: kept, "b-only-1": new_variant}
    body["title"] = "shop B's title"
    with sync.client(b) as client:
        client.upsert_item(mn, body)
    products_before = _catalog(db)["products"]
    run = sync.run(b)
    assert run.status == RunStatus.done, run.error
    counts = run.counts or {}
    assert counts["errors"] == 0 and counts["products_created"] == 0 and counts["products_linked"] == 1
    assert counts["skus_created"] == 1 and counts["skus_linked"] == 1
    with db.reader() as s:
        product = s.scalars(select(Product).where(Product.code == mn)).one()
        assert product.type == ProductType.group and product.name == products_before[product.id][1]
        codes = {sku.code for sku in product.skus}
        assert {"B-ONLY-1", kept["merchantDefinedSkuId"]} <= codes
        bound = dict(s.execute(select(Binding.external_id, Binding.local_id).where(
            Binding.store_id == b, Binding.entity == BindingEntity.product)).all())  # fmt: skip
    assert bound == {mn: product.id}
    assert _catalog(db)["products"] == products_before
    infos = _infos(db, b)
    assert len(infos) == 1 and f"linked to Kura product {mn!r}" in infos[0].message and "'Shop A'" in infos[0].message


def test_a_code_that_cannot_be_linked_fails_the_item_with_the_reason(sync: Sync, sandbox: Any,
                                                                     db: Database) -> None:  # fmt: skip
    shop = sandbox.admin.create_shop(seed=9400, items=12, orders=0)
    store_id = sync.connect(shop, "Shop D")
    with sync.client(store_id) as client:
        single = next(r["item"] for r in client.iter_items() if len(r["item"]["variants"]) == 1
                      and next(iter(r["item"]["variants"].values())).get("merchantDefinedSkuId"))  # fmt: skip
    code = next(iter(single["variants"].values()))["merchantDefinedSkuId"]
    with db.transaction() as s:  # a Kura group product whose code is the single item's SKU
        create_group(s, code, ProductFields(name="a Kura group", selling_price=100), ["色"], [])
    run = sync.run(store_id)
    assert run.status == RunStatus.done and (run.counts or {})["errors"] == 1
    errors = [e for e in kura_state(db, store_id)["log"] if e.level == "error"]
    assert len(errors) == 1 and errors[0].entity_ref == single["manageNumber"]
    assert "can't link" in errors[0].message and errors[0].retry is not None
