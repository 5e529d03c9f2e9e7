"""An imported Rakuten order picked, packed and shipped with Yamato; Rakuten shows 500 with 1001 and the number;
the carrier delivers and Kura shows Delivered."""

from __future__ import annotations

from kura.channels.rakuten import shipping as rakuten_shipping
from kura.orders.statuses import OrderStatus
from kura.shipping import service as shipping
from kura.shipping.models import ParcelStatus, ReportStatus
from tests.fulfilment.conftest import Shop


def test_an_imported_order_ships_with_yamato_and_is_delivered(shop: Shop, carriers) -> None:
    number = shop.place(shop.items(2, 1))
    order = shop.order(number)
    assert order.status == OrderStatus.RFP and order.channel_status == 300
    with shop.db.transaction() as s:
        shipping.pack(s, order.id, actor="picker")
    [parcel_id] = shipping.create_parcels(shop.db, order.id, "yamato", actor="packer")
    with shop.db.reader() as s:
        parcel = shipping.get_parcel(s, parcel_id)
        number_issued = parcel.tracking_number
        assert parcel.carrier_code == "1001" and len(number_issued) == 12
        assert shipping.label_pdf(s, parcel_id).startswith(b"%PDF")
    assert shop.order(number).status == OrderStatus.Ready_to_Ship
    with shop.db.transaction() as s:
        shipping.mark_shipped(s, order.id, actor="packer")
    assert shop.order(number).status == OrderStatus.In_transit

    shop.run(rakuten_shipping.KIND_REPORT)
    rakuten = shop.rakuten(number)
    assert rakuten["orderProgress"] == 500
    rows = [r for p in rakuten["PackageModelList"] for r in p["ShippingModelList"]]
    assert [(r["deliveryCompany"], r["shippingNumber"]) for r in rows] == [("1001", number_issued)]
    got = shop.order(number)
    assert got.channel_status == 500
    with shop.db.reader() as s:
        parcel = shipping.get_parcel(s, parcel_id)
        assert (
            parcel.report_status == ReportStatus.reported and parcel.shipping_detail_id == rows[0]["shippingDetailId"]
        )

    carriers.admin.force(number_issued, "delivered", at_once=True)
    counts = shipping.track(shop.db)
    assert counts["delivered"] == 1
    assert shop.order(number).status == OrderStatus.Delivered
    with shop.db.reader() as s:
        assert shipping.get_parcel(s, parcel_id).status == ParcelStatus.delivered
