"""Split orders (two parcels → two shipping rows), returns that restock, reports retried after failures, the
async variant, failed and lost deliveries, and bulk label printing."""

from __future__ import annotations

from sqlalchemy import select, update

from carriers_sandbox.testing import RunningCarrierSandbox
from kura.channels.rakuten import shipping as rakuten_shipping
from kura.inventory.service import available, create_warehouse
from kura.jobs import outbox
from kura.orders.statuses import OrderStatus
from kura.shipping import service as shipping
from kura.shipping.models import Parcel, ReportStatus, ReturnStatus
from tests.fulfilment.conftest import Shop


def _ship(shop: Shop, number: str) -> int:
    order = shop.order(number)
    shipping.ship(shop.db, order.id, "yamato", actor="t")
    return order.id


def test_a_split_order_ships_two_parcels_from_two_warehouses_and_rakuten_gets_two_rows(shop: Shop) -> None:
    number = shop.place(shop.items(2, 1))
    order = shop.order(number)
    with shop.db.transaction() as s:
        second = create_warehouse(s, "WH-SPLIT", "Osaka").id
    first_line, second_line = order.lines
    ids = shipping.split(shop.db, order.id, "yamato", [
        shipping.ParcelPlan({first_line.id: 2}), shipping.ParcelPlan({second_line.id: 1}, warehouse_id=second)])  # fmt: skip  # noqa: E501
    assert len(ids) == 2
    with shop.db.transaction() as s:
        shipping.mark_shipped(s, order.id)
    shop.run(rakuten_shipping.KIND_REPORT)
    with shop.db.reader() as s:
        parcels = shipping.parcels_of(s, order.id)
        numbers = sorted(p.tracking_number for p in parcels)
        assert {p.warehouse_id for p in parcels} == {shop.warehouse_id, second}
        assert len({p.shipping_detail_id for p in parcels}) == 2
    rakuten = shop.rakuten(number)
    rows = [r for p in rakuten["PackageModelList"] for r in p["ShippingModelList"]]
    assert sorted(r["shippingNumber"] for r in rows) == numbers and {r["deliveryCompany"] for r in rows} == {"1001"}
    assert rakuten["orderProgress"] == 500


def test_a_failed_report_is_retried_with_backoff_and_shown_on_the_order(shop: Shop) -> None:
    number = shop.place(shop.items(1))
    shop.osync.sandbox.admin.set_faults("rpay.order.updateOrderShipping", error_5xx=1.0)
    order_id = _ship(shop, number)
    run = shop.run(rakuten_shipping.KIND_REPORT)
    assert run.counts is not None and run.counts["retry"] == 1
    with shop.db.reader() as s:
        parcel = s.scalars(select(Parcel).where(Parcel.order_id == order_id)).one()
        assert parcel.report_status == ReportStatus.pending and parcel.report_attempts == 1 and parcel.report_error
        [row] = outbox.pending(s, kind=rakuten_shipping.OUTBOX_KIND)
        assert row.attempts == 1 and row.next_attempt_at > row.dirty_since
    assert shop.rakuten(number)["orderProgress"] == 300
    shop.osync.sandbox.admin.clear_faults()
    with shop.db.transaction() as s:  # the backoff has passed
        s.execute(update(outbox.OutboxRow).values(next_attempt_at=outbox.OutboxRow.dirty_since))
    shop.run(rakuten_shipping.KIND_REPORT)
    assert shop.rakuten(number)["orderProgress"] == 500
    with shop.db.reader() as s:
        parcel = s.scalars(select(Parcel).where(Parcel.order_id == order_id)).one()
        assert parcel.report_status == ReportStatus.reported and parcel.shipping_detail_id
        assert outbox.pending(s, kind=rakuten_shipping.OUTBOX_KIND) == []
    rows = [r for p in shop.rakuten(number)["PackageModelList"] for r in p["ShippingModelList"]]
    assert len(rows) == 1


def test_many_orders_report_through_the_async_variant(shop: Shop) -> None:
    numbers = [shop.place(shop.items(1)) for _ in range(3)]
    for number in numbers:
        _ship(shop, number)
    counts = rakuten_shipping.report_due(shop.db, shop.store_id, mode="async")
    assert counts["reported"] == 3 and counts["requests"] == 2
    for number in numbers:
        assert shop.rakuten(number)["orderProgress"] == 500
        assert shop.order(number).channel_status == 500
    with shop.db.reader() as s:
        assert all(p.shipping_detail_id for p in s.scalars(select(Parcel)))


def test_a_return_is_approved_put_away_and_restocks(shop: Shop, carriers: RunningCarrierSandbox) -> None:
    item = shop.items(3)[0]
    number = shop.place([item])
    order_id = _ship(shop, number)
    with shop.db.reader() as s:
        tracking = s.scalars(select(Parcel.tracking_number).where(Parcel.order_id == order_id)).one()
    carriers.admin.force(tracking, "delivered", at_once=True)
    shipping.track(shop.db)
    sku = shop.sku(item)
    with shop.db.reader() as s:
        before = available(s, sku, [shop.warehouse_id])
    with shop.db.transaction() as s:
        ret = shipping.record_return(s, order_id, {sku: 2}, "wrong size", warehouse_id=shop.warehouse_id)
        ret_id = ret.id
    assert shop.order(number).status == OrderStatus.Return_initiated
    with shop.db.transaction() as s:
        shipping.approve_return(s, ret_id)
        shipping.putaway_return(s, ret_id)
        shipping.complete_return(s, ret_id)
    with shop.db.reader() as s:
        assert available(s, sku, [shop.warehouse_id]) == before + 2
        assert shipping.get_return(s, ret_id).status == ReturnStatus.completed
        rows, total = shipping.list_returns(s)
        assert total == 1 and rows[0].id == ret_id
    assert shop.order(number).status == OrderStatus.Return_completed


def test_a_failed_delivery_and_a_lost_parcel_move_the_order(shop: Shop, carriers: RunningCarrierSandbox) -> None:
    failed, lost = shop.place(shop.items(1)), shop.place(shop.items(1))
    ids = {n: _ship(shop, n) for n in (failed, lost)}
    with shop.db.reader() as s:
        tracking = {
            n: s.scalars(select(Parcel.tracking_number).where(Parcel.order_id == i)).one() for n, i in ids.items()
        }
    carriers.admin.force(tracking[failed], "failed", at_once=True)
    carriers.admin.force(tracking[lost], "lost", at_once=True)
    shipping.track(shop.db)
    assert shop.order(failed).status == OrderStatus.Failed_delivery_initiated
    assert shop.order(lost).status == OrderStatus.Lost_in_transit
    with shop.db.transaction() as s:
        shipping.failed_delivery_putaway(s, ids[failed], shop.warehouse_id)
    assert shop.order(failed).status == OrderStatus.Failed_delivery_putaway


def test_bulk_print_labels_makes_one_pdf_for_many_orders(shop: Shop) -> None:
    numbers = [shop.place(shop.items(1)) for _ in range(3)]
    ids = [shop.order(n).id for n in numbers]
    pdf, result = shipping.print_labels(shop.db, ids, carrier="sagawa")
    assert (
        result.failed == {}
        and pdf.startswith(b"%PDF")
        and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") >= 1
    )
    assert all(shop.order(n).status == OrderStatus.Ready_to_Ship for n in numbers)


def test_a_seller_cancellation_withdraws_the_parcel_and_cancels_on_rakuten(shop: Shop) -> None:
    number = shop.place(shop.items(1))
    order = shop.order(number)
    shipping.create_parcels(shop.db, order.id, "yamato")
    shipping.cancel_by_seller(shop.db, order.id, reason=10)
    assert shop.rakuten(number)["orderProgress"] == 800
    assert shop.order(number).status == OrderStatus.Cancel_in_progress
