"""Imports of stores whose catalogs share SKU codes, run at the same time: where they meet one waits for the other
and links what the other created (never a deadlock, a duplicate or a failed item), and a page the database aborts
(a deadlock, a serialization failure) is written again from a fresh read and counted once."""

from __future__ import annotations

import copy
import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from psycopg import errors as pg_errors
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from kura.catalog.models import Product, Sku
from kura.channels.rakuten import products
from kura.db import Database
from kura.jobs.runs import JobRun, RunStatus
from kura.stores.models import Binding, BindingEntity, SyncLogEntry
from tests.sync.conftest import Sync, assert_complete, rakuten_catalog

ITEMS = 90  # one page; the seed gives a shop in-shop duplicate SKUs from item 97 on, which these tests don't need


def _copy_shop(sync: Sync, sandbox: Any, items: list[dict[str, Any]], stock: dict[tuple[str, str], int],
               name: str, order: list[int]) -> int:  # fmt: skip
    """A store whose shop sells the same items (the same SKU codes and stock) under manage numbers of its own,
    named so that items.search (newest first, then by manage number) returns them in `order` of the original's
    positions."""
    shop = sandbox.admin.create_shop()
    store_id = sync.connect(shop, name)
    last = len(order) - 1
    names = {position: f"{name[-1].lower()}-{last - rank:03d}" for rank, position in enumerate(order)}
    with_stock: list[dict[str, Any]] = []
    with sync.client(store_id) as client:
        for position, item in enumerate(items):
            body = {k: copy.deepcopy(v) for k, v in item.items() if k not in ("manageNumber", "created", "updated")}
            client.upsert_item(names[position], body)
            with_stock.extend({"manageNumber": names[position], "variantId": vid,
                               "quantity": stock[(item["manageNumber"], vid)]} for vid in item["variants"])  # fmt: skip
    sandbox.admin.set_stock(shop["shop_url"], with_stock)
    return store_id


def _codes_in_search_order(sync: Sync, store_id: int) -> list[str]:
    with sync.client(store_id) as client:
        return [v.get("merchantDefinedSkuId") or vid for r in client.iter_items()
                for vid, v in r["item"]["variants"].items()]  # fmt: skip


def _run_together(sync: Sync, store_ids: list[int]) -> list[JobRun | BaseException]:
    """Every store's import in its own thread, started at once."""
    start = threading.Barrier(len(store_ids))
    results: list[JobRun | BaseException] = [RuntimeError("not run")] * len(store_ids)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = sync.run(store_ids[i])
        except BaseException as exc:  # reported by the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(store_ids))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return results


@pytest.mark.parametrize("round_", range(4))
def test_stores_sharing_skus_import_at_the_same_time_without_deadlock_or_duplicates(
    round_: int, sync: Sync, sandbox: Any, db: Database
) -> None:
    first = sandbox.admin.create_shop(seed=9700 + round_, items=ITEMS, orders=0)
    a = sync.connect(first, "Shop A")
    with sync.client(a) as client:
        items = [r["item"] for r in client.iter_items()]
    stock = {(r["manageNumber"], r["variantId"]): int(r["quantity"]) for r in sandbox.admin.stock(first["shop_url"])}
    # The same SKUs in another order in each shop: the imports create the same codes in different orders.
    backwards = list(reversed(range(len(items))))
    shuffled = list(range(len(items)))
    random.Random(round_).shuffle(shuffled)
    b = _copy_shop(sync, sandbox, items, stock, "Shop B", backwards)
    c = _copy_shop(sync, sandbox, items, stock, "Shop C", shuffled)
    order_a = _codes_in_search_order(sync, a)
    assert Counter(order_a) == Counter(_codes_in_search_order(sync, b)) == Counter(_codes_in_search_order(sync, c))
    assert len(set(order_a)) == len(order_a) > ITEMS, "one shop's SKU codes are its own (no in-shop duplicate)"
    assert _codes_in_search_order(sync, b) != order_a != _codes_in_search_order(sync, c)

    runs = _run_together(sync, [a, b, c])

    for store_id, run in zip((a, b, c), runs, strict=True):
        assert isinstance(run, JobRun), f"store {store_id}'s import raised {run!r}"
        assert run.status == RunStatus.done, run.error
        assert (run.counts or {})["errors"] == 0, run.counts
        with sync.client(store_id) as client:
            catalog = rakuten_catalog(client)
        assert_complete(db, store_id, catalog)  # every SKU once, bound on this store, stock as RMS has it
        counts = run.counts or {}
        assert counts["skus_created"] + counts["skus_linked"] == len(order_a)
    created = sum((run.counts or {})["skus_created"] for run in runs if isinstance(run, JobRun))
    assert created == len(order_a), "each shared SKU was created by exactly one of the imports"
    with db.reader() as s:
        assert s.scalar(select(func.count(Sku.id))) == len(order_a)


RACE_SIGNS = ("at the same moment", "is taken by", "deadlock", "DeadlockDetected")  # what a lost race looks like


@pytest.mark.parametrize("round_", range(2))
def test_shops_of_other_catalogs_sharing_sku_codes_import_together_without_a_lost_race(
    round_: int, sync: Sync, sandbox: Any, db: Database
) -> None:
    # The old scale bench's shops: seeded from different catalogs, they share SKU codes ("SKU-000100", bare
    # variantIds) on items of other shapes and in other orders, so their imports create the same codes in
    # different orders, and many items carry SKUs Kura has and SKUs it lacks (the row-by-row path). Some items
    # can't be linked at all (another shop's group has other axes, or the combination already): those fail,
    # with their reason, whatever the order.
    shops = [sandbox.admin.create_shop(seed=9800 + 10 * round_ + k, items=60, orders=0) for k in range(5)]
    stores = [sync.connect(shop, f"Shop {k}") for k, shop in enumerate(shops)]

    runs = _run_together(sync, stores)

    for store_id, run in zip(stores, runs, strict=True):
        assert isinstance(run, JobRun), f"store {store_id}'s import raised {run!r}"
        assert run.status == RunStatus.done, run.error
        with db.reader() as s:
            errors = dict(s.execute(select(SyncLogEntry.entity_ref, SyncLogEntry.message).where(
                SyncLogEntry.store_id == store_id, SyncLogEntry.kind == "products", SyncLogEntry.level == "error",
                SyncLogEntry.resolved_at.is_(None))).all())  # fmt: skip
            bound = dict(s.execute(select(Binding.external_id, Sku.code).join(Sku, Sku.id == Binding.local_id).where(
                Binding.store_id == store_id, Binding.entity == BindingEntity.sku)).all())  # fmt: skip
        assert len(errors) == (run.counts or {})["errors"]
        assert not [m for m in errors.values() if any(sign in m for sign in RACE_SIGNS)], errors
        with sync.client(store_id) as client:
            catalog = rakuten_catalog(client)
        # Every variant of every item that did not fail is bound, to the SKU of its code (one SKU per code).
        expected = {ext: v["code"] for ext, v in catalog["variants"].items() if v["item"] not in errors}
        assert bound == expected


def test_new_skus_written_in_code_order_keep_the_items_variant_order(sync: Sync, new_shop: Any, db: Database) -> None:
    store_id = sync.connect(new_shop(items=30))
    with sync.client(store_id) as client:
        group = next(r["item"] for r in client.iter_items() if len(r["item"]["variants"]) >= 3)
        vids = list(group["variants"])
        # SKU codes running backwards against the variants' order: code order is not RMS's order here.
        codes = [f"ZZ-{len(vids) - i:02d}" for i in range(len(vids))]
        client.patch_item(group["manageNumber"], {"variants": {vid: {"merchantDefinedSkuId": code}
                                                               for vid, code in zip(vids, codes, strict=True)}})
        order = [v["merchantDefinedSkuId"] for v in client.get_item(group["manageNumber"])["variants"].values()]
    assert order == codes
    run = sync.run(store_id)
    assert run.status == RunStatus.done and (run.counts or {})["errors"] == 0
    with db.reader() as s:
        product = s.scalars(select(Product).where(Product.code == group["manageNumber"])).one()
        assert [sku.code for sku in product.skus] == codes


# ---------------------------------------------------------------- a page the database aborts


def _deadlock() -> OperationalError:
    return OperationalError("INSERT INTO skus …", None, pg_errors.DeadlockDetected("deadlock detected"))


def _fail_calls(monkeypatch: pytest.MonkeyPatch, name: str, when: Callable[[int], bool],
                error: Callable[[], Exception] = _deadlock) -> list[int]:  # fmt: skip
    """Makes products.<name> raise `error` on the calls (1, 2, …) that `when` picks; returns the calls made."""
    real = getattr(products, name)
    calls: list[int] = []

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(calls) + 1)
        if when(len(calls)):
            raise error()
        return real(*args, **kwargs)

    monkeypatch.setattr(products, name, wrapped)
    return calls


def test_a_page_aborted_by_a_deadlock_is_written_again_from_a_fresh_read_and_counted_once(
    sync: Sync, new_shop: Any, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = new_shop(items=150)  # two pages, with the seed's in-shop duplicates (logged once each)
    store_id = sync.connect(shop)
    # The first try of each page fails at its end, after its products, SKUs, bindings and stock were written.
    calls = _fail_calls(monkeypatch, "resolve_entries", lambda n: n % 2 == 1)
    run = sync.run(store_id)
    assert run.status == RunStatus.done, run.error
    counts = run.counts or {}
    assert counts["pages"] >= 2 and len(calls) == 2 * counts["pages"], "each page was tried twice"
    with sync.client(store_id) as client:
        catalog = rakuten_catalog(client)
    assert_complete(db, store_id, catalog)
    assert counts["items"] == 150 and counts["errors"] == 0
    assert counts["skus_created"] == len(catalog["codes"])
    assert counts["duplicates"] == sum(n - 1 for n in catalog["codes"].values()) > 0


def test_a_deadlock_in_the_bulk_write_retries_the_page_instead_of_writing_it_row_by_row(
    sync: Sync, new_shop: Any, db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    shop = new_shop(items=60)
    store_id = sync.connect(shop)
    calls = _fail_calls(monkeypatch, "receive_many", lambda n: n == 1)  # the bulk path's first stock
    with caplog.at_level("WARNING", logger=products.log.name):
        run = sync.run(store_id)
    assert run.status == RunStatus.done, run.error
    assert len(calls) == 2
    messages = [r.getMessage() for r in caplog.records if r.name == products.log.name]
    assert any("writing it again" in m for m in messages), messages
    assert not any("one by one" in m for m in messages), messages
    with sync.client(store_id) as client:
        assert_complete(db, store_id, rakuten_catalog(client))


def test_a_page_that_keeps_deadlocking_fails_the_run_after_a_few_tries(
    sync: Sync, new_shop: Any, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(products, "RETRY_PAUSE_S", 0.001)
    store_id = sync.connect(new_shop(items=20))
    calls = _fail_calls(monkeypatch, "resolve_entries", lambda n: True)
    with pytest.raises(OperationalError):
        sync.run(store_id)
    assert len(calls) == products.PAGE_ATTEMPTS
    with db.reader() as s:
        run = s.scalars(select(JobRun).where(JobRun.store_id == store_id)).one()
        assert run.status == RunStatus.failed and "DeadlockDetected" in (run.error or "")
        assert s.scalar(select(func.count(Sku.id))) == 0


@pytest.mark.parametrize("error", [
    lambda: OperationalError("SELECT …", None, pg_errors.QueryCanceled("canceling statement due to lock timeout")),
    lambda: RuntimeError("not a database error"),
], ids=["query-canceled", "runtime-error"])  # fmt: skip
def test_other_errors_are_not_retried(sync: Sync, new_shop: Any, db: Database, monkeypatch: pytest.MonkeyPatch,
                                      error: Callable[[], Exception]) -> None:  # fmt: skip
    store_id = sync.connect(new_shop(items=20))
    calls = _fail_calls(monkeypatch, "resolve_entries", lambda n: True, error)
    with pytest.raises(type(error())):
        sync.run(store_id)
    assert len(calls) == 1
