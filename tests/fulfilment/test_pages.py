"""The fulfilment pages: the shipping panel of an order, its label inline as PDF, the queue's bulk "print labels"
(one PDF for many orders) and the returns list."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import create_order, receive, single, store, warehouse
from tests.fulfilment.conftest import SHIP_FROM
from tests.web.conftest import admin, api, app_client, csrf_from, settings, signed_in  # noqa: F401


def test_the_order_page_ships_and_the_queue_prints_labels_as_one_pdf(api: TestClient, signed_in: TestClient) -> None:  # noqa: F811
    wh = warehouse(api, "WH-P")
    single(api, "P-1")
    receive(api, "P-1", wh, 10)
    store_id = store(api)
    api.put(f"/api/v1/stores/{store_id}/ship-from", json=SHIP_FROM)
    ids = [create_order(api, store_id, [{"sku": "P-1", "name": "茶", "quantity": 1, "unit_price": 500}])["id"]
           for _ in range(3)]  # fmt: skip
    api.post("/api/v1/orders/bulk", json={"action": "allocate", "order_ids": ids})
    page = api.get(f"/orders/{ids[0]}")
    assert 'data-testid="shipping-slot"' in page.text
    csrf = csrf_from(page.text)
    panel = api.get(f"/orders/{ids[0]}/shipping")
    assert 'data-testid="create-shipment"' in panel.text
    done = api.post(f"/orders/{ids[0]}/shipping/parcels", data={"csrf_token": csrf, "carrier": "yamato"},
                    follow_redirects=False)  # fmt: skip
    assert done.status_code == 303 and "shipping_error" not in done.headers["location"]
    panel = api.get(f"/orders/{ids[0]}/shipping")
    assert 'data-testid="label-link"' in panel.text
    parcel = api.get(f"/api/v1/orders/{ids[0]}/parcels").json()[0]
    label = api.get(f"/parcels/{parcel['id']}/label")
    assert label.headers["content-type"] == "application/pdf" and label.headers["content-disposition"].startswith(
        "inline"
    )
    queue = api.get("/shipping?status=RFP")
    assert all(f'value="{i}"' in queue.text for i in ids[1:])
    pdf = api.post("/shipping/bulk", data={"csrf_token": csrf, "action": "labels", "carrier": "yamato",
                                           "order_id": [str(i) for i in ids]})  # fmt: skip
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert api.get("/returns").status_code == 200
