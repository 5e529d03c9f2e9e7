"""The fulfilment API and CLI on a manual store: ship with a carrier, labels inline as PDF, bulk labels, split,
returns, and `kura orders ship/return`."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import create_order, receive, single, store, warehouse
from tests.cli.conftest import Kura, kura  # noqa: F401
from tests.fulfilment.conftest import SHIP_FROM
from tests.web.conftest import admin, api, app_client, settings  # noqa: F401


def _setup(api: TestClient) -> tuple[int, int]:  # noqa: F811
    wh = warehouse(api, "WH-F")
    for sku in ("F-1", "F-2"):
        single(api, sku)
        receive(api, sku, wh, 20)
    store_id = store(api)
    assert api.put(f"/api/v1/stores/{store_id}/ship-from", json=SHIP_FROM).status_code == 200
    return store_id, wh


def _order(api: TestClient, store_id: int, **lines: int) -> dict[str, Any]:  # noqa: F811
    return create_order(api, store_id, [{"sku": k.replace("_", "-"), "name": k, "quantity": q, "unit_price": 1000}
                                        for k, q in lines.items()])  # fmt: skip


def test_ship_over_the_api_and_open_the_label_inline(api: TestClient) -> None:  # noqa: F811
    store_id, _ = _setup(api)
    order = _order(api, store_id, F_1=1)
    response = api.post(f"/api/v1/orders/{order['id']}/ship", json={"carrier": "yamato"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "In_transit" and body["parcels"][0]["carrier_code"] == "1001"
    assert body["parcels"][0]["report_status"] == "none"  # a manual store reports nowhere
    label = api.get(body["parcels"][0]["label_url"])
    assert label.status_code == 200 and label.headers["content-type"] == "application/pdf"
    assert label.headers["content-disposition"].startswith("inline") and label.content.startswith(b"%PDF")


def test_split_bulk_labels_and_a_return_over_the_api(api: TestClient) -> None:  # noqa: F811
    store_id, wh = _setup(api)
    order = _order(api, store_id, F_1=2, F_2=1)
    ids = [o["id"] for o in (order, _order(api, store_id, F_2=1))]
    bulk = api.post("/api/v1/orders/bulk", json={"action": "allocate", "order_ids": ids}).json()
    assert bulk["done"] == ids
    lines = [line["id"] for line in api.get(f"/api/v1/orders/{order['id']}").json()["lines"]]
    split = api.post(f"/api/v1/orders/{order['id']}/split", json={"carrier": "sagawa", "parcels": [
        {"lines": {str(lines[0]): 2}}, {"lines": {str(lines[1]): 1}, "warehouse_id": wh}]})  # fmt: skip
    assert split.status_code == 201, split.text
    assert split.json()["status"] == "Ready_to_Ship" and len(split.json()["parcels"]) == 2
    pdf = api.post("/api/v1/labels", json={"order_ids": ids, "carrier": "japanpost"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and "X-Kura-Failed" not in pdf.headers
    assert api.post(f"/api/v1/orders/{ids[1]}/shipped", json={}).json()["status"] == "In_transit"
    refused = api.post(f"/api/v1/orders/{ids[1]}/returns", json={"lines": {"F-2": 1}, "reason": "size"})
    assert refused.status_code == 409  # not delivered yet
    assert api.post(f"/api/v1/orders/{ids[1]}/status", json={"status": "Delivered"}).status_code == 200
    ret = api.post(f"/api/v1/orders/{ids[1]}/returns", json={"lines": {"F-2": 1}, "reason": "size"}).json()
    for step, body in (("approve", {}), ("putaway", {"warehouse_id": wh}), ("complete", {})):
        response = api.post(f"/api/v1/returns/{ret['id']}/{step}", json=body)
        assert response.status_code == 200, response.text
    assert api.get("/api/v1/returns").json()["items"][0]["status"] == "completed"
    assert api.get(f"/api/v1/orders/{ids[1]}").json()["status"] == "Return_completed"


def test_the_cli_ships_with_a_manual_number_and_records_a_return(api: TestClient, kura: Kura) -> None:  # noqa: F811
    store_id, _ = _setup(api)
    order = _order(api, store_id, F_1=2)
    shipped = kura("orders", "ship", order["order_number"], "--carrier", "other", "--code", "1004",
                   "--tracking", "SEINO-123")  # fmt: skip
    assert shipped.exit_code == 0, shipped.output
    assert "In_transit" in shipped.output and "SEINO-123" in shipped.output
    api.post(f"/api/v1/orders/{order['id']}/status", json={"status": "Delivered"})
    result = kura("orders", "return", order["order_number"], "--line", "F-1:1", "--reason", "damaged",
                  "--warehouse", "WH-F", "--putaway", "--complete")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "completed" in result.output
    listed = kura("orders", "returns", "--json")
    assert '"status": "completed"' in listed.output
