"""Price changes reach Rakuten: a change of a listed product marks it dirty in the same transaction, one job run
pushes it; a rolled-back change pushes nothing. The outbox retries failures with backoff."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kura.catalog.service import VariantSpec, create_group, create_single, update_product, update_sku
from kura.channels.rakuten.listing import PRICE_JOB, list_product
from kura.db import Database, utcnow
from kura.jobs import outbox, registry
from kura.jobs.queue import execute
from rms_sandbox.testing import RunningSandbox
from tests.listing.conftest import fields, rms, unique


@pytest.fixture
def bound(db: Database) -> Any:
    registry.bind_database(db)
    yield db
    registry.bind_database(None)


def _listed_single(db: Database, store_id: int, selling: int = 1000, retail: int | None = None) -> tuple[int, str]:
    code = unique("PRICE")
    with db.transaction() as s:
        product_id = create_single(s, code, fields("T", selling, retail)).id
    assert list_product(db, store_id, product_id, send_stock=False).listed  # prices only
    return product_id, code


def test_a_price_change_is_pushed_by_one_job_run(
    db: Database, bound: Database, sandbox: RunningSandbox, store_id: int, test_queue: Any
) -> None:
    product_id, code = _listed_single(db, store_id, 1000)
    with db.transaction() as s:
        update_product(s, product_id, {"selling_price": 900, "retail_price": 1200})
        assert [r.key for r in outbox.pending(s, store_id, "price")] == [str(product_id)]
    assert [t.args for t in test_queue.pending()] == [(PRICE_JOB, store_id, None)]

    run = execute(PRICE_JOB, store_id)

    assert run.counts == {"pushed": 1, "failed": 0, "gone": 0}
    variant = rms(sandbox).get_item(code.lower())["variants"][code]
    assert str(variant["standardPrice"]) == "900" and str(variant["referencePrice"]["value"]) == "1200"
    with db.reader() as s:
        assert outbox.pending(s, store_id) == []


def test_removing_the_retail_price_clears_the_reference_price(
    db: Database, bound: Database, sandbox: RunningSandbox, store_id: int
) -> None:
    product_id, code = _listed_single(db, store_id, 1000, 1500)
    with db.transaction() as s:
        update_product(s, product_id, {"retail_price": None})
    execute(PRICE_JOB, store_id)
    assert "referencePrice" not in rms(sandbox).get_item(code.lower())["variants"][code]


def test_a_rolled_back_price_change_pushes_nothing(
    db: Database, bound: Database, sandbox: RunningSandbox, store_id: int, test_queue: Any
) -> None:
    product_id, _ = _listed_single(db, store_id)
    writes = len(sandbox.admin.writes(sandbox.shop["shop_id"], "items.patch"))
    with pytest.raises(RuntimeError), db.transaction() as s:
        update_product(s, product_id, {"selling_price": 1})
        raise RuntimeError("the change was abandoned")
    with db.reader() as s:
        assert outbox.pending(s, store_id) == []
    assert test_queue.pending_count() == 0
    assert execute(PRICE_JOB, store_id).counts == {"pushed": 0, "failed": 0, "gone": 0}
    assert len(sandbox.admin.writes(sandbox.shop["shop_id"], "items.patch")) == writes


def test_a_variant_price_change_pushes_only_that_group(
    db: Database, bound: Database, sandbox: RunningSandbox, store_id: int
) -> None:
    code = unique("GRP")
    with db.transaction() as s:
        product_id = create_group(s, code, fields("G", 2000), ["サイズ"], [
            VariantSpec(f"{code}-S", {"サイズ": "S"}), VariantSpec(f"{code}-M", {"サイズ": "M"})]).id  # fmt: skip
    list_product(db, store_id, product_id)
    with db.transaction() as s:
        update_sku(s, f"{code}-M", {"selling_price": 2500})
    execute(PRICE_JOB, store_id)
    variants = rms(sandbox).get_item(code.lower())["variants"]
    assert [str(variants[f"{code}-{x}"]["standardPrice"]) for x in "SM"] == ["2000", "2500"]


def test_unlisted_products_and_other_changes_mark_nothing(db: Database, store_id: int) -> None:
    code = unique("LOCAL")
    with db.transaction() as s:
        product_id = create_single(s, code, fields("T", 1000)).id
        update_product(s, product_id, {"selling_price": 800})
    product_id2, _ = _listed_single(db, store_id)
    with db.transaction() as s:
        update_product(s, product_id2, {"name": "新しい名前"})
        assert outbox.pending(s) == []


def test_a_failed_push_backs_off_and_the_sweeper_kicks_it_again(
    db: Database, bound: Database, sandbox: RunningSandbox, store_id: int
) -> None:
    product_id, _ = _listed_single(db, store_id)
    with db.transaction() as s:
        update_product(s, product_id, {"selling_price": 700})
    sandbox.admin.set_faults("items.patch", error_5xx=1.0)
    try:
        from kura.channels.rakuten.client import RmsClient
        from kura.stores.service import client_for, set_client_factory

        def no_retries(store: Any, database: Database) -> RmsClient:
            return client_for(store, database, max_retries=0)

        set_client_factory(no_retries)
        assert execute(PRICE_JOB, store_id).counts == {"pushed": 0, "failed": 1, "gone": 0}
    finally:
        sandbox.admin.clear_faults()
    with db.reader() as s:
        (row,) = outbox.pending(s, store_id, "price")
    assert row.attempts == 1 and "5" in (row.last_error or "") and row.next_attempt_at > utcnow()
    later = row.next_attempt_at + dt.timedelta(seconds=1)
    assert outbox.sweep_outbox(db, later) == [(PRICE_JOB, store_id)]
    assert outbox.sweep_outbox(db, utcnow()) == []
    with db.transaction() as s:  # a new change makes it due at once
        update_product(s, product_id, {"selling_price": 650})
    assert (execute(PRICE_JOB, store_id).counts or {})["pushed"] == 1


def test_a_change_made_while_pushing_is_not_lost(db: Database, store_id: int) -> None:
    with db.transaction() as s:
        outbox.mark_dirty(s, store_id, "price", "42", kick=False)
    (claimed,) = outbox.claim(db, store_id, "price")
    with db.transaction() as s:
        outbox.mark_dirty(s, store_id, "price", "42", kick=False)  # during the push
    with db.transaction() as s:
        outbox.complete(s, [claimed])
    with db.reader() as s:
        assert [(r.key, r.generation) for r in outbox.pending(s, store_id)] == [("42", 2)]
