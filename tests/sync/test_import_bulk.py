"""The import's bulk write path: what it writes besides the catalog (ledger, stock outbox, price outbox, search
text), its fallback to the row-by-row path, the inventory's bulk door, and the prefetcher's memory bound."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from kura.catalog.models import Product, Sku, product_search_text
from kura.catalog.service import ProductFields, create_kit, create_single
from kura.channels.rakuten import products
from kura.db import Database
from kura.errors import Invalid
from kura.inventory.models import StockLevel, StockMovement, StockReason
from kura.inventory.service import create_warehouse, receive_many
from kura.jobs.outbox import OutboxRow
from kura.jobs.runs import RunStatus
from kura.stores.models import Binding, BindingEntity, SkuSource
from tests.sync.conftest import Sync, assert_complete, kura_state, rakuten_catalog


def test_bulk_import_writes_ledger_and_marks_every_stocked_bound_sku(sync: Sync, new_shop: Any, db: Database) -> None:
    shop = new_shop(items=150)
    store_id = sync.connect(shop)
    run = sync.run(store_id)
    assert run.status == RunStatus.done, run.error
    assert run.counts is not None
    with sync.client(store_id) as client:
        state = assert_complete(db, store_id, rakuten_catalog(client))
    stocked = {sku_id for sku_id, units in state["stock"].items() if units}
    assert len(stocked) == run.counts["stock_set"] > 0
    with db.reader() as s:
        entries = s.execute(select(StockMovement.sku_id, StockMovement.on_hand_change, StockMovement.on_hand_after,
                                   StockMovement.reference, StockMovement.reason)).all()  # fmt: skip
        marked = set(s.scalars(select(OutboxRow.key).where(OutboxRow.store_id == store_id,
                                                           OutboxRow.kind == "stock")))  # fmt: skip
        products_ = s.execute(select(Product.id, Product.code, Product.name, Product.search_text)).all()
        codes: dict[int, list[str]] = {}
        for product_id, code in s.execute(select(Sku.product_id, Sku.code).order_by(Sku.id)):
            codes.setdefault(product_id, []).append(code)
    # one ledger entry per first stock, naming the variant it came from
    assert sorted(e.sku_id for e in entries) == sorted(stocked)
    bound = {sku_id: ext for ext, sku_id in state["sku_bindings"].items()}
    for e in entries:
        assert e.on_hand_change == e.on_hand_after == state["stock"][e.sku_id]
        assert e.reference == f"rakuten:{bound[e.sku_id]}" and e.reason == StockReason.adjustment
    # the stock outbox saw every imported SKU that is bound and got stock
    assert marked == {state["skus"][sku_id] for sku_id in stocked}
    # search text as the catalog's flush hook computes it
    for product_id, code, name, text in products_:
        assert text == product_search_text(code, name, codes[product_id])


def test_rerun_updates_changed_items_through_the_bulk_path(sync: Sync, new_shop: Any, db: Database) -> None:
    shop = new_shop(items=40)
    store_id = sync.connect(shop)
    sync.run(store_id)
    with sync.client(store_id) as client:
        items = [r["item"] for r in client.iter_items()]
        single = next(i for i in items if not i.get("variantSelectors"))
        vid = next(iter(single["variants"]))
        client.patch_item(single["manageNumber"], {"title": "Renamed ITEM", "hideItem": True,
                                                   "variants": {vid: {"standardPrice": "12345"}}})  # fmt: skip
    with db.reader() as s:
        product_id = s.scalar(select(Binding.local_id).where(
            Binding.store_id == store_id, Binding.entity == BindingEntity.product,
            Binding.external_id == single["manageNumber"]))  # fmt: skip
        before = s.scalar(select(func.count(Sku.id)))
    again = sync.run(store_id)
    assert again.status == RunStatus.done, again.error
    assert again.counts is not None and again.counts["products_updated"] >= 1
    assert again.counts["products_created"] == again.counts["skus_created"] == 0
    with db.reader() as s:
        product = s.get_one(Product, product_id)
        assert (product.name, product.selling_price, product.active) == ("Renamed ITEM", 12345, False)
        assert "renamed item" in product.search_text
        assert s.scalar(select(func.count(Sku.id))) == before
        # a price change reaching Kura queues a price push, as the listing's flush hook does
        assert s.scalar(select(OutboxRow.id).where(OutboxRow.kind == "price", OutboxRow.key == str(product_id)))
    with sync.client(store_id) as client:
        assert_complete(db, store_id, rakuten_catalog(client))


def test_a_failing_bulk_write_falls_back_to_row_by_row(sync: Sync, new_shop: Any, db: Database,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    calls: list[int] = []

    def broken(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        raise IntegrityError("INSERT …", {}, Exception("simulated constraint violation"))

    monkeypatch.setattr(products, "_write_bulk", broken)
    shop = new_shop(items=120)
    store_id = sync.connect(shop)
    run = sync.run(store_id)
    assert run.status == RunStatus.done, run.error
    assert calls, "the bulk path was not tried"
    with sync.client(store_id) as client:
        assert_complete(db, store_id, rakuten_catalog(client))


def test_items_the_bulk_path_cannot_take_go_row_by_row(sync: Sync, new_shop: Any, db: Database) -> None:
    """A Kura SKU that exists unbound is linked (row by row) while the rest of the page is written in bulk."""
    shop = new_shop(items=30)
    store_id = sync.connect(shop)
    with sync.client(store_id) as client:
        catalog = rakuten_catalog(client)
    code = next(c for c, n in catalog["codes"].items() if n == 1)
    with db.transaction() as s:
        create_single(s, code, ProductFields(name="made in Kura", selling_price=100))
    run = sync.run(store_id)
    assert run.status == RunStatus.done and run.counts is not None
    assert run.counts["skus_linked"] == 1 and run.counts["errors"] == 0
    state = kura_state(db, store_id)
    assert code in {state["skus"][sku_id] for sku_id in state["sku_bindings"].values()}


def test_variant_id_store_rerun_is_idempotent(sync: Sync, new_shop: Any, db: Database) -> None:
    from kura.stores.service import update_settings

    shop = new_shop(items=30)
    store_id = sync.connect(shop)
    with db.transaction() as s:
        update_settings(s, store_id, {"sku_source": SkuSource.variant_id})
    sync.run(store_id)
    first = kura_state(db, store_id)
    again = sync.run(store_id)
    assert again.counts is not None and again.counts["products_created"] == again.counts["stock_set"] == 0
    second = kura_state(db, store_id)
    assert (second["skus"], second["stock"], second["sku_bindings"]) == (first["skus"], first["stock"],
                                                                         first["sku_bindings"])  # fmt: skip


# ---------------------------------------------------------------- the inventory's bulk door


def test_receive_many_writes_levels_and_one_ledger_entry_per_pair(db: Database) -> None:
    with db.transaction() as s:
        warehouse = create_warehouse(s, "BULK-1", "Bulk")
        a = create_single(s, "BULK-A", ProductFields(name="A", selling_price=1)).skus[0].id
        b = create_single(s, "BULK-B", ProductFields(name="B", selling_price=1)).skus[0].id
        written = receive_many(s, warehouse.id, [(a, 3), (b, 5), (a, 2)], reference="po-1", actor="tester")
        assert written == 3
        again = receive_many(s, warehouse.id, [(b, 1)], references={b: "po-2"})
        assert again == 1
    with db.reader() as s:
        levels = dict(s.execute(select(StockLevel.sku_id, StockLevel.on_hand)).all())
        entries = s.execute(select(StockMovement.sku_id, StockMovement.on_hand_after, StockMovement.reference)
                            .order_by(StockMovement.id)).all()  # fmt: skip
    assert levels == {a: 5, b: 6}
    assert [tuple(e) for e in entries] == [(a, 3, "po-1"), (b, 5, "po-1"), (a, 5, "po-1"), (b, 6, "po-2")]


def test_receive_many_refuses_kits_and_bad_quantities(db: Database) -> None:
    with db.transaction() as s:
        warehouse = create_warehouse(s, "BULK-2", "Bulk")
        part = create_single(s, "PART-1", ProductFields(name="part", selling_price=1)).skus[0].id
        kit = create_kit(s, "KIT-1", ProductFields(name="kit", selling_price=1), {"PART-1": 2}).skus[0].id
        with pytest.raises(Invalid):
            receive_many(s, warehouse.id, [(part, 1), (kit, 1)])
        with pytest.raises(Invalid):
            receive_many(s, warehouse.id, [(part, 0)])


# ---------------------------------------------------------------- the prefetcher's memory bound


class _Results(list[Any]):
    """A page's items; a list subclass so that a weak reference can tell whether the page is still alive."""


@dataclass
class _Page:
    results: _Results
    next_cursor_mark: str | None
    num_found: int


class _FakeRms:
    def __init__(self, pages: int) -> None:
        self.pages = pages
        self.refs: list[weakref.ref[_Results]] = []
        self.lock = threading.Lock()

    def search_items(self, *, hits: int, cursor_mark: str) -> _Page:
        n = 0 if cursor_mark == "*" else int(cursor_mark)
        results = _Results({"item": {"manageNumber": f"m{n}-{i}", "variants": {"v": {}}}} for i in range(hits))
        with self.lock:
            self.refs.append(weakref.ref(results))
        return _Page(results, str(n + 1) if n + 1 < self.pages else None, self.pages * hits)

    def bulk_get_inventories(self, keys: Any) -> list[Any]:
        return []

    def live_pages(self) -> int:
        gc.collect()
        with self.lock:
            return sum(ref() is not None for ref in self.refs)


def test_the_prefetcher_keeps_at_most_three_pages_in_memory() -> None:
    rms = _FakeRms(pages=12)
    ctx = products._Context(1, "shop", SkuSource.merchant_defined, 1, None, False)
    prefetcher = products._Prefetcher(rms, ctx, "*")  # type: ignore[arg-type]
    seen, most = 0, 0
    try:
        for fetched in prefetcher:
            seen += 1
            time.sleep(0.05)  # "writing" the page: the fetch threads run ahead as far as they may
            most = max(most, rms.live_pages())
            del fetched
    finally:
        prefetcher.stop()
    assert seen == 12
    assert 2 <= most <= products.MAX_PAGES == 3
