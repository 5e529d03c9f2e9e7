"""Stock pushes to a Rakuten sandbox over real HTTP: marking, coalescing, kits, buffers, warehouses, faults."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from kura.channels.rakuten import stock
from kura.db import Database, utcnow
from kura.inventory import channel_stock
from kura.inventory.service import adjust, create_warehouse, receive, reserve, transfer
from kura.jobs import outbox, registry
from kura.jobs.schedules import dispatch_due
from kura.stores.models import Store, StoreStatus, SyncLogEntry
from kura.stores.warehouses import set_store_warehouses
from rms_sandbox.testing import RunningSandbox
from tests.stocksync.conftest import bind, listed_kit, listed_single, rakuten_qty, upserts_for

pytestmark = pytest.mark.usefixtures("sandbox")


def pending(db: Database, store_id: int) -> list[str]:
    with db.reader() as s:
        return [r.key for r in outbox.pending(s, store_id, "stock")]


def test_a_stock_change_marks_the_listed_sku_and_the_pusher_sends_the_absolute_quantity(
    db: Database, sandbox: RunningSandbox, store_id: int, warehouse_id: int
) -> None:
    code, mn, vid = listed_single(db, store_id)
    with db.transaction() as s:
        receive(s, warehouse_id, code, 7)
    assert pending(db, store_id) == [code]
    counts = stock.push_dirty(db, store_id)
    assert counts["pushed"] == 1
    assert rakuten_qty(sandbox, mn, vid) == 7
    assert pending(db, store_id) == []
    with db.reader() as s:
        row = s.scalar(select(channel_stock.ChannelStock).where(channel_stock.ChannelStock.store_id == store_id))
        assert row is not None and row.pushed_qty == 7 and row.pushed_at is not None


def test_a_sku_not_listed_on_the_store_is_not_marked(db: Database, store_id: int, warehouse_id: int) -> None:
    from kura.catalog.service import ProductFields, create_single

    with db.transaction() as s:
        create_single(s, "UNLISTED-1", ProductFields(name="x", selling_price=1))
        receive(s, warehouse_id, "UNLISTED-1", 3)
    assert pending(db, store_id) == []


def test_a_rolled_back_change_pushes_nothing(db: Database, sandbox: RunningSandbox, store_id: int,
                                             warehouse_id: int, test_queue: object) -> None:  # fmt: skip
    code, mn, vid = listed_single(db, store_id)
    with pytest.raises(RuntimeError), db.transaction() as s:
        receive(s, warehouse_id, code, 5)
        raise RuntimeError("the use case failed after the stock change")
    assert pending(db, store_id) == []
    assert test_queue.pending_count() == 0  # type: ignore[attr-defined]
    stock.push_dirty(db, store_id)
    assert rakuten_qty(sandbox, mn, vid) is None
    assert upserts_for(sandbox, mn, vid) == []


def test_a_crash_between_commit_and_push_loses_nothing(db: Database, sandbox: RunningSandbox, store_id: int,
                                                       warehouse_id: int, test_queue: object,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    code, mn, vid = listed_single(db, store_id)
    with db.transaction() as s:
        receive(s, warehouse_id, code, 4)
    test_queue.flush()  # type: ignore[attr-defined]  # the kick is lost: the process died before any push
    assert pending(db, store_id) == [code]
    monkeypatch.setattr(stock, "LINGER_S", 0.0)
    registry.bind_database(db)
    try:
        dispatch_due(db, test_queue, now=utcnow() + dt.timedelta(seconds=stock.STALE_S + 1))
        assert test_queue.pending_count() >= 1  # type: ignore[attr-defined]
        while (task := test_queue.dequeue()) is not None:  # type: ignore[attr-defined]
            test_queue.execute(task)  # type: ignore[attr-defined]
    finally:
        registry.unbind_database(db)
    assert rakuten_qty(sandbox, mn, vid) == 4
    assert pending(db, store_id) == []


def test_a_hundred_changes_of_one_sku_become_one_push_of_the_final_value(
    db: Database, sandbox: RunningSandbox, store_id: int, warehouse_id: int
) -> None:
    code, mn, vid = listed_single(db, store_id, 200, warehouse_id)
    for i in range(100):
        with db.transaction() as s:
            adjust(s, warehouse_id, code, -1 if i % 3 else 2)
    counts = stock.push_dirty(db, store_id)
    expected = 200 + sum(-1 if i % 3 else 2 for i in range(100))
    assert counts == {"pushed": 1, "rejected": 0, "gone": 0, "calls": 1, "paused": False}
    assert upserts_for(sandbox, mn, vid) == [expected]
    assert rakuten_qty(sandbox, mn, vid) == expected


def test_a_change_during_a_push_is_not_lost(db: Database, sandbox: RunningSandbox, store_id: int,
                                            warehouse_id: int, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    code, mn, vid = listed_single(db, store_id, 10, warehouse_id)
    real_send = stock.send

    def send_then_change(rms, batch, result=None):  # type: ignore[no-untyped-def]
        sent = real_send(rms, batch, result)
        if batch and batch[0].quantity == 10:
            with db.transaction() as s:  # committed while the first value is on its way
                adjust(s, warehouse_id, code, -3)
        return sent

    monkeypatch.setattr(stock, "send", send_then_change)
    counts = stock.push_dirty(db, store_id)
    assert counts["pushed"] == 2, counts
    assert upserts_for(sandbox, mn, vid) == [10, 7]
    assert pending(db, store_id) == []


def test_every_kind_of_stock_change_marks_the_sku(db: Database, store_id: int, warehouse_id: int) -> None:
    from kura.inventory.service import consume, release
    from kura.orders.models import Address
    from kura.orders.service import LineSpec, NewOrder, create_order, create_store

    code, _, _ = listed_single(db, store_id, 10, warehouse_id)
    with db.transaction() as s:
        other = create_warehouse(s, "OSAKA", "大阪倉庫").id
        shop = create_store(s, "手動ストア")
        buyer = Address("山田", "太郎", None, None, "100-0001", "東京都", "千代田区千代田", None, "0312345678")
        lines = [LineSpec(sku=code, name="商品", quantity=1, unit_price=100)]
        order = create_order(s, shop.id, NewOrder(orderer=buyer, payment_method="代金引換", lines=lines))
        line_id = order.lines[0].id
    stock.push_dirty(db, store_id)
    steps = [
        lambda s: transfer(s, code, warehouse_id, other, 2),
        lambda s: adjust(s, other, code, -1),
        lambda s: reserve(s, code, 1, order_line_id=line_id, warehouse_ids=[warehouse_id]),
        lambda s: release(s, line_id),
        lambda s: reserve(s, code, 1, order_line_id=line_id, warehouse_ids=[warehouse_id]),
        lambda s: consume(s, line_id),
    ]
    for number, step in enumerate(steps):
        with db.transaction() as s:
            step(s)
        assert pending(db, store_id) == [code], number
        stock.push_dirty(db, store_id)
        assert pending(db, store_id) == [], number  # so the next step's mark is its own


def test_a_kit_is_the_minimum_over_its_components_per_warehouse(db: Database, sandbox: RunningSandbox,
                                                                store_id: int, warehouse_id: int) -> None:  # fmt: skip
    a, _, _ = listed_single(db, store_id, 10, warehouse_id)
    b, _, _ = listed_single(db, store_id, 3, warehouse_id)
    kit, mn, vid = listed_kit(db, store_id, {a: 2, b: 1})
    with db.transaction() as s:
        other = create_warehouse(s, "OSAKA", "大阪倉庫").id
        receive(s, other, a, 2)  # 1 kit's worth of A in Osaka but no B there: no kit from Osaka
    stock.push_dirty(db, store_id)
    assert rakuten_qty(sandbox, mn, vid) == 3  # Tokyo: min(10 // 2, 3 // 1)
    with db.transaction() as s:
        adjust(s, warehouse_id, b, -2)  # a component change marks the kit too
    assert kit in pending(db, store_id)
    stock.push_dirty(db, store_id)
    assert rakuten_qty(sandbox, mn, vid) == 1
    with db.transaction() as s:  # a composition change marks the kit
        from kura.catalog.service import set_kit_components

        set_kit_components(s, kit, {a: 1})
    assert pending(db, store_id) == [kit]
    stock.push_dirty(db, store_id)
    assert rakuten_qty(sandbox, mn, vid) == 12  # 10 in Tokyo + 2 in Osaka, one A per kit now


def test_buffers_per_store_and_per_sku_in_units_and_percent(db: Database, sandbox: RunningSandbox, store_id: int,
                                                            warehouse_id: int) -> None:  # fmt: skip
    a, mn_a, vid_a = listed_single(db, store_id, 10, warehouse_id)
    b, mn_b, vid_b = listed_single(db, store_id, 1, warehouse_id)
    with db.transaction() as s:
        channel_stock.set_store_buffer(s, store_id, "units", 2)
    assert sorted(pending(db, store_id)) == sorted([a, b])
    stock.push_dirty(db, store_id)
    assert (rakuten_qty(sandbox, mn_a, vid_a), rakuten_qty(sandbox, mn_b, vid_b)) == (8, 0)  # clamped at 0
    with db.transaction() as s:
        sku_id = s.scalar(select(channel_stock.Sku.id).where(channel_stock.Sku.code == a))
        assert sku_id is not None
        channel_stock.set_sku_buffer(s, store_id, sku_id, "percent", 25)
    assert pending(db, store_id) == [a]
    stock.push_dirty(db, store_id)
    assert rakuten_qty(sandbox, mn_a, vid_a) == 7  # 10 − ⌈2.5⌉


def test_several_warehouses_and_a_mapping_change(db: Database, sandbox: RunningSandbox, store_id: int,
                                                 warehouse_id: int) -> None:  # fmt: skip
    code, mn, vid = listed_single(db, store_id, 5, warehouse_id)
    with db.transaction() as s:
        osaka = create_warehouse(s, "OSAKA", "大阪倉庫").id
        fukuoka = create_warehouse(s, "FUKUOKA", "福岡倉庫").id
        receive(s, osaka, code, 4)
        receive(s, fukuoka, code, 100)
    with db.transaction() as s:
        set_store_warehouses(s, store_id, [warehouse_id, osaka])
    stock.push_dirty(db, store_id)
    assert rakuten_qty(sandbox, mn, vid) == 9
    with db.transaction() as s:
        receive(s, fukuoka, code, 1)  # not a warehouse of this store: marked, but the value is unchanged
    stock.push_dirty(db, store_id)
    assert rakuten_qty(sandbox, mn, vid) == 9
    with db.transaction() as s:
        set_store_warehouses(s, store_id, [fukuoka])
    assert pending(db, store_id) == [code]
    stock.push_dirty(db, store_id)
    assert rakuten_qty(sandbox, mn, vid) == 101


def test_a_rejected_sku_is_logged_and_retried_alone_while_the_rest_goes_through(
    db: Database, sandbox: RunningSandbox, store_id: int, warehouse_id: int
) -> None:
    good = [listed_single(db, store_id, 3 + i, warehouse_id) for i in range(5)]
    from kura.catalog.service import ProductFields, create_single

    with db.transaction() as s:
        sku_id = create_single(s, "BAD-VARIANT", ProductFields(name="x", selling_price=1)).skus[0].id
    bind(db, store_id, sku_id, "BAD-VARIANT", manage_number="bad-item", variant_id="bad variant!")
    with db.transaction() as s:
        receive(s, warehouse_id, "BAD-VARIANT", 2)
    counts = stock.push_dirty(db, store_id)
    assert counts["pushed"] == 5 and counts["rejected"] == 1
    assert [rakuten_qty(sandbox, mn, vid) for _, mn, vid in good] == [3, 4, 5, 6, 7]
    with db.reader() as s:
        entry = s.scalars(select(SyncLogEntry).where(SyncLogEntry.store_id == store_id,
                                                     SyncLogEntry.kind == "stock")).one()  # fmt: skip
        assert entry.entity_ref == "BAD-VARIANT" and entry.hint and entry.retry == {
            "kind": stock.SYNC_JOB, "skus": ["BAD-VARIANT"]}
        row = outbox.pending(s, store_id, "stock")[0]
        assert row.key == "BAD-VARIANT" and row.attempts == 1 and row.next_attempt_at > utcnow()
    # when its back-off ends it is sent alone, not with the next batch
    with db.transaction() as s:
        s.execute(outbox.update(outbox.OutboxRow).values(next_attempt_at=utcnow()))
        adjust(s, warehouse_id, good[0][0], 1)
    before = len(sandbox.admin.writes(sandbox.shop["shop_id"], function="inventories.bulk.upsert"))
    counts = stock.push_dirty(db, store_id)
    writes = sandbox.admin.writes(sandbox.shop["shop_id"], function="inventories.bulk.upsert")[before:]
    assert [len(w["body"]["inventories"]) for w in writes] == [1, 1]
    assert counts["pushed"] == 1 and counts["rejected"] == 1


def test_bisecting_finds_the_bad_record_when_rms_does_not_name_it(db: Database, sandbox: RunningSandbox,
                                                                  store_id: int, warehouse_id: int,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(stock, "_bad_indexes", lambda error, size: set())
    good = [listed_single(db, store_id, 1, warehouse_id) for _ in range(6)]
    from kura.catalog.service import ProductFields, create_single

    with db.transaction() as s:
        sku_id = create_single(s, "BAD-2", ProductFields(name="x", selling_price=1)).skus[0].id
    bind(db, store_id, sku_id, "BAD-2", manage_number="bad-item", variant_id="bad variant!")
    with db.transaction() as s:
        receive(s, warehouse_id, "BAD-2", 2)
    counts = stock.push_dirty(db, store_id)
    assert counts["pushed"] == 6 and counts["rejected"] == 1
    assert all(rakuten_qty(sandbox, mn, vid) == 1 for _, mn, vid in good)


def test_5xx_and_429_are_retried(db: Database, sandbox: RunningSandbox, store_id: int, warehouse_id: int) -> None:
    from kura.stores.service import client_for

    _, mn, vid = listed_single(db, store_id, 9, warehouse_id)
    sandbox.admin.set_faults("inventories.bulk.upsert", error_5xx=0.45, error_429=0.45)
    with db.reader() as s:
        store = s.get_one(Store, store_id)
        s.expunge(store)
    from kura.ratelimit import DEFAULT_RATES, RateLimiter

    fast = RateLimiter(rates=dict.fromkeys(DEFAULT_RATES, "1000/second"), default="1000/second", margin=0)
    with client_for(store, db, limiter=fast, max_retries=30, backoff_base=0.001) as rms:
        counts = stock.push_dirty(db, store_id, client=rms)
    assert counts["pushed"] == 1
    assert rakuten_qty(sandbox, mn, vid) == 9
    faults = [st for st in sandbox.admin.stats() if st["function"] == "inventories.bulk.upsert"]
    statuses = {k for st in faults for k in st["statuses"]}
    assert statuses & {"500", "429"}, faults


def test_maintenance_pauses_the_store_and_pushes_resume_without_loss(
    db: Database, sandbox: RunningSandbox, store_id: int, warehouse_id: int, test_queue: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, mn, vid = listed_single(db, store_id, 6, warehouse_id)
    sandbox.admin.set_faults("*", maintenance=True)
    counts = stock.push_dirty(db, store_id)
    assert counts["paused"] is True
    with db.transaction() as s:
        adjust(s, warehouse_id, code, -1)  # a change during the pause is kept, not pushed at once
    assert stock.push_dirty(db, store_id)["paused"] is True
    with db.reader() as s:
        row = outbox.pending(s, store_id, "stock")[0]
        assert row.next_attempt_at > utcnow() and (row.last_error or "").startswith("paused")
    sandbox.admin.clear_faults()
    # the pause ends: the sweeper kicks the pusher, which sends the latest value
    stock.resume(store_id)
    later = utcnow() + dt.timedelta(seconds=stock.PAUSE_MAX_S + stock.STALE_S + 1)
    assert (stock.PUSH_JOB, store_id) in stock.sweep_stock(db, later)
    with db.transaction() as s:
        s.execute(outbox.update(outbox.OutboxRow).values(next_attempt_at=utcnow()))
    stock.push_dirty(db, store_id)
    assert rakuten_qty(sandbox, mn, vid) == 5
    assert pending(db, store_id) == []


def test_a_401_marks_the_store_and_pushes_wait_for_its_new_key(db: Database, sandbox: RunningSandbox,
                                                               store_id: int, warehouse_id: int) -> None:  # fmt: skip
    from kura.secrets import encrypt

    code, mn, vid = listed_single(db, store_id, 4, warehouse_id)
    with db.transaction() as s:
        s.get_one(Store, store_id).license_key_enc = encrypt("wrong-key")
    assert stock.push_dirty(db, store_id)["paused"] is True
    with db.reader() as s:
        assert s.get_one(Store, store_id).status == StoreStatus.needs_attention
    assert pending(db, store_id) == [code]
    with db.transaction() as s:  # the key is fixed (update_key does this after checking it with RMS)
        store = s.get_one(Store, store_id)
        store.license_key_enc = encrypt(sandbox.shop["license_key"])
        store.status, store.status_reason = StoreStatus.active, None
        s.execute(outbox.update(outbox.OutboxRow).values(next_attempt_at=utcnow()))
    stock.push_dirty(db, store_id)
    assert rakuten_qty(sandbox, mn, vid) == 4


def test_sync_stock_pushes_every_listed_sku_with_progress(db: Database, sandbox: RunningSandbox, store_id: int,
                                                          warehouse_id: int) -> None:  # fmt: skip
    skus = [listed_single(db, store_id, i + 1, warehouse_id) for i in range(5)]
    with db.transaction() as s:
        s.execute(outbox.delete(outbox.OutboxRow))  # as if Rakuten had been changed by hand since
    seen: list[tuple[int, int | None]] = []
    counts = stock.sync_stock(db, store_id, progress=lambda done, total=None: seen.append((done, total)))
    assert counts["pushed"] == 5 and counts["calls"] == 1
    assert [rakuten_qty(sandbox, mn, vid) for _, mn, vid in skus] == [1, 2, 3, 4, 5]
    assert seen[0] == (0, 5) and seen[-1] == (5, 5)


def test_reconciliation_reports_drift_and_corrects_it(db: Database, sandbox: RunningSandbox, store_id: int,
                                                      warehouse_id: int) -> None:  # fmt: skip
    a, mn_a, vid_a = listed_single(db, store_id, 5, warehouse_id)
    listed_single(db, store_id, 8, warehouse_id)
    stock.push_dirty(db, store_id)
    sandbox.admin.set_stock(sandbox.shop["shop_id"], [{"manageNumber": mn_a, "variantId": vid_a, "quantity": 50}])
    counts = stock.reconcile(db, store_id)
    assert counts == {"checked": 2, "drifted": 1, "missing": 0, "corrected": 1}
    with db.reader() as s:
        report = stock.status(s, store_id)
    assert [(d["sku"], d["rakuten"], d["kura"], d["drift"]) for d in report.drift] == [(a, 50, 5, 45)]
    assert report.pending == 1
    stock.push_dirty(db, store_id)
    assert rakuten_qty(sandbox, mn_a, vid_a) == 5


def test_the_reconciliation_is_scheduled_nightly_by_default(db: Database, store_id: int) -> None:
    from kura.jobs.schedules import JobSchedule

    with db.transaction() as s:
        stock.ensure_reconcile_schedule(s, store_id)
    with db.reader() as s:
        row = s.scalars(select(JobSchedule).where(JobSchedule.kind == stock.RECONCILE_JOB)).one()
    assert row.interval_s == 86_400
    assert row.next_run_at.astimezone(stock._JST).hour == 3


def test_a_stock_batch_marks_its_skus_and_kits_and_one_call_carries_the_final_values(
    db: Database, sandbox: RunningSandbox, store_id: int, warehouse_id: int
) -> None:
    from kura.errors import InsufficientStock
    from kura.inventory.service import LineKind, StockLine, apply_lines

    a, a_mn, a_vid = listed_single(db, store_id, 5, warehouse_id)
    b, b_mn, b_vid = listed_single(db, store_id, 0, warehouse_id)
    kit, kit_mn, kit_vid = listed_kit(db, store_id, {a: 2})
    stock.push_dirty(db, store_id)
    with pytest.raises(InsufficientStock), db.transaction() as s:  # refused: nothing marked, nothing pushed
        apply_lines(s, warehouse_id, [StockLine(b, LineKind.receipt, 9), StockLine(a, LineKind.adjustment, -6)])
    assert pending(db, store_id) == []
    with db.transaction() as s:
        apply_lines(s, warehouse_id, [
            StockLine(a, LineKind.receipt, 10), StockLine(b, LineKind.stock_count, 4),
            StockLine(a, LineKind.adjustment, -1),
        ])  # fmt: skip
    assert sorted(pending(db, store_id)) == sorted([a, b, kit])
    counts = stock.push_dirty(db, store_id)
    assert counts["pushed"] == 3 and counts["calls"] == 1
    assert (rakuten_qty(sandbox, a_mn, a_vid), rakuten_qty(sandbox, b_mn, b_vid),
            rakuten_qty(sandbox, kit_mn, kit_vid)) == (14, 4, 7)  # the store's buffer is 0  # fmt: skip


def test_a_change_whose_kick_is_skipped_while_a_pusher_holds_the_lease_is_pushed_when_it_ends(
    db: Database, sandbox: RunningSandbox, store_id: int, warehouse_id: int, test_queue: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from kura.jobs.queue import execute
    from kura.jobs.runs import JobRun

    code, mn, vid = listed_single(db, store_id, 3, warehouse_id)
    test_queue.flush()  # type: ignore[attr-defined]
    real = stock.push_dirty

    def push_then_a_late_change(*args: object, **kwargs: object) -> object:
        counts = real(*args, **kwargs)  # type: ignore[arg-type]
        with db.transaction() as s:  # after the pusher's last look, before its lease is released
            receive(s, warehouse_id, code, 2)
        # its kick, run now, finds the lease held and is skipped
        while (task := test_queue.dequeue()) is not None:  # type: ignore[attr-defined]
            test_queue.execute(task)  # type: ignore[attr-defined]
        return counts

    monkeypatch.setattr(stock, "push_dirty", push_then_a_late_change)
    monkeypatch.setattr(stock, "LINGER_S", 0.0)
    registry.bind_database(db)
    try:
        execute(stock.PUSH_JOB, store_id)
        with db.reader() as s:
            statuses = [r.status.value for r in s.scalars(select(JobRun).where(JobRun.store_id == store_id)
                                                         .order_by(JobRun.id))]  # fmt: skip
        assert statuses == ["done", "skipped"]
        assert rakuten_qty(sandbox, mn, vid) == 3 and pending(db, store_id) == [code]
        monkeypatch.setattr(stock, "push_dirty", real)
        assert test_queue.pending_count() == 1  # type: ignore[attr-defined]  # sent again, not left to the sweeper
        while (task := test_queue.dequeue()) is not None:  # type: ignore[attr-defined]
            test_queue.execute(task)  # type: ignore[attr-defined]
    finally:
        registry.unbind_database(db)
    assert rakuten_qty(sandbox, mn, vid) == 5 and pending(db, store_id) == []


def _sell_on_rakuten(sandbox: RunningSandbox, mn: str, vid: str, units: int) -> None:
    """A buyer takes `units` on Rakuten (its count drops at once; Kura learns of the order at its next poll)."""
    now = rakuten_qty(sandbox, mn, vid)
    assert now is not None and now >= units
    sandbox.admin.set_stock(sandbox.shop["shop_id"], [{"manageNumber": mn, "variantId": vid, "quantity": now - units}])


def _rakuten_order(db: Database, store_id: int, code: str, units: int) -> int:
    """Kura imports the store's order of `units` and holds them (as the order sync does); returns the line."""
    from kura.inventory.service import reserve
    from kura.orders.models import Address
    from kura.orders.service import LineSpec, NewOrder, create_order

    buyer = Address("山田", "太郎", None, None, "100-0001", "東京都", "千代田区千代田", None, "0312345678")
    with db.transaction() as s:
        order = create_order(s, store_id, NewOrder(orderer=buyer, payment_method="クレジットカード", lines=[
            LineSpec(sku=code, name="商品", quantity=units, unit_price=100)]))  # fmt: skip
        line_id = order.lines[0].id
        reserve(s, code, units, order_line_id=line_id)
    return line_id


def test_a_push_never_offers_again_what_rakuten_sold_and_kura_has_not_imported(
    db: Database, sandbox: RunningSandbox, store_id: int, warehouse_id: int
) -> None:
    code, mn, vid = listed_single(db, store_id, 10, warehouse_id)
    stock.push_dirty(db, store_id)
    assert rakuten_qty(sandbox, mn, vid) == 10
    _sell_on_rakuten(sandbox, mn, vid, 2)  # Rakuten 8; Kura still 10 until its order poll
    with db.transaction() as s:
        receive(s, warehouse_id, code, 3)  # Kura 13: a plain ABSOLUTE push would offer the 2 sold units again
    counts = stock.push_dirty(db, store_id)
    assert counts["held_back"] == 2
    assert rakuten_qty(sandbox, mn, vid) == 11  # 8 + 3
    with db.transaction() as s:
        receive(s, warehouse_id, code, 1)  # Kura 14, the 2 sold units still not imported: they stay held back
    assert stock.push_dirty(db, store_id)["held_back"] == 2
    assert rakuten_qty(sandbox, mn, vid) == 12
    _rakuten_order(db, store_id, code, 2)  # the order poll imports the sale: Kura 12
    assert stock.push_dirty(db, store_id)["pushed"] == 1
    assert rakuten_qty(sandbox, mn, vid) == 12  # not taken off twice
    with db.transaction() as s:
        adjust(s, warehouse_id, code, -4)  # Kura 8
    stock.push_dirty(db, store_id)
    assert rakuten_qty(sandbox, mn, vid) == 8
    with db.reader() as s:
        row = s.scalar(select(channel_stock.ChannelStock).where(channel_stock.ChannelStock.store_id == store_id))
        assert row is not None and (row.pushed_qty, row.basis_qty, row.order_units) == (8, 8, 0)


def test_a_cancelled_order_is_offered_again_and_kits_count_their_own_sales(
    db: Database, sandbox: RunningSandbox, store_id: int, warehouse_id: int
) -> None:
    from kura.inventory.service import release, reserve

    part, _, _ = listed_single(db, store_id, 9, warehouse_id)
    kit, kit_mn, kit_vid = listed_kit(db, store_id, {part: 3})
    with db.transaction() as s:
        channel_stock.mark_skus_dirty(s, store_id, [kit])  # as listing it does
    stock.push_dirty(db, store_id)
    assert rakuten_qty(sandbox, kit_mn, kit_vid) == 3
    _sell_on_rakuten(sandbox, kit_mn, kit_vid, 1)  # Rakuten 2 kits
    line_id = _rakuten_order(db, store_id, kit, 1)  # imported: Kura holds 3 parts → 2 kits
    stock.push_dirty(db, store_id)
    assert rakuten_qty(sandbox, kit_mn, kit_vid) == 2
    with db.transaction() as s:  # re-allocated: released and held again — not a second sale
        release(s, line_id)
        reserve(s, kit, 1, order_line_id=line_id)
    stock.push_dirty(db, store_id)
    assert rakuten_qty(sandbox, kit_mn, kit_vid) == 2
    # Cancelled: Rakuten keeps the unit off (restockOnCancel is off by default), Kura gives the parts back.
    with db.transaction() as s:
        release(s, line_id)
    stock.push_dirty(db, store_id)
    assert rakuten_qty(sandbox, kit_mn, kit_vid) == 3  # on sale again


def test_the_sales_guard_can_be_turned_off_and_reconciliation_corrects_to_kuras_own_quantity(
    db: Database, sandbox: RunningSandbox, store_id: int, warehouse_id: int
) -> None:
    code, mn, vid = listed_single(db, store_id, 10, warehouse_id)
    stock.push_dirty(db, store_id)
    _sell_on_rakuten(sandbox, mn, vid, 1)
    counts = stock.reconcile(db, store_id)
    assert counts["drifted"] == 1
    stock.push_dirty(db, store_id)
    assert rakuten_qty(sandbox, mn, vid) == 10  # the correction is Kura's own quantity (nightly: sales are few)
    _sell_on_rakuten(sandbox, mn, vid, 1)
    with db.transaction() as s:
        s.get_one(Store, store_id).settings = {"stock_buffer": {"mode": "units", "value": 0},
                                               "stock_sales_guard": False}
        receive(s, warehouse_id, code, 1)
    stock.push_dirty(db, store_id)
    assert rakuten_qty(sandbox, mn, vid) == 11  # unguarded: Kura's quantity as it is


def test_a_hold_undone_by_a_savepoint_is_not_counted_as_a_sale(
    db: Database, sandbox: RunningSandbox, store_id: int, warehouse_id: int
) -> None:
    from kura.inventory.service import release, reserve
    from kura.orders.models import OrderLine

    code, _, _ = listed_single(db, store_id, 5, warehouse_id)
    stock.push_dirty(db, store_id)
    line_id = _rakuten_order(db, store_id, code, 2)
    with db.transaction() as s:
        release(s, line_id)
        s.get_one(OrderLine, line_id).stock_counted = False  # as if it had never been held
    with db.transaction() as s:
        nested = s.begin_nested()
        reserve(s, code, 2, order_line_id=line_id)
        nested.rollback()
    with db.reader() as s:
        row = s.scalar(select(channel_stock.ChannelStock).where(channel_stock.ChannelStock.store_id == store_id))
        assert row is not None and row.order_units == 2  # the first hold only
        assert s.get_one(OrderLine, line_id).stock_counted is False
    with db.transaction() as s:
        reserve(s, code, 2, order_line_id=line_id)
    with db.reader() as s:
        row = s.scalar(select(channel_stock.ChannelStock).where(channel_stock.ChannelStock.store_id == store_id))
        assert row is not None and row.order_units == 4
