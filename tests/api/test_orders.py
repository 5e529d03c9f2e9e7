"""Orders over the API: manual orders, the list with counts per status, detail, status moves, allocation."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import ADDRESS, create_order, order_body, receive, single, store, warehouse


def test_a_manual_order_takes_names_and_prices_from_the_catalog_and_computes_totals(api: TestClient) -> None:
    single(api, "TS-1", price=1100)
    shop = store(api)
    order = create_order(api, shop, [{"sku": "TS-1", "quantity": 2},
                                     {"sku": "FOOD", "name": "お茶", "quantity": 1, "unit_price": 1080, "tax_rate": 8}],
                         shipping_fee=500, points_used=100, orderer_email="taro@example.jp")  # fmt: skip
    assert order["status"] == "New" and order["order_number"].startswith("K")
    assert order["store_name"] == "手動ストア"
    assert order["totals"] == {"goods_total": 3280, "tax_total": 200 + 80, "shipping_fee": 500,
                               "discount_total": 0, "points_used": 100, "total": 3680}  # fmt: skip
    first, second = order["lines"]
    assert (first["name"], first["unit_price"], first["amount"], first["in_catalog"]) == ("商品 TS-1", 1100, 2200, True)
    assert (second["sku"], second["in_catalog"]) == ("FOOD", False)
    assert order["orderer"]["postal_code"] == "100-0001" and order["orderer"]["prefecture"] == "東京都"
    assert order["shipping"] == order["orderer"]  # ships to the orderer when no address is given
    assert order["history"][0]["to_status"] == "New" and order["history"][0]["actor"] == "admin"
    assert "RFP" in order["allowed_next"]


def test_an_unknown_sku_without_name_and_price_is_refused(api: TestClient) -> None:
    response = api.post("/api/v1/orders", json=order_body(store(api), [{"sku": "GHOST", "quantity": 1}]))
    assert response.status_code == 422
    assert response.json()["details"]["field"] == "lines[0]"
    assert "GHOST" in response.json()["message"]


def test_a_bad_japanese_address_names_the_field_to_fix(api: TestClient) -> None:
    body = order_body(store(api), [{"sku": "X", "name": "x", "quantity": 1, "unit_price": 1}],
                      shipping={**ADDRESS, "postal_code": "12-34"})  # fmt: skip
    response = api.post("/api/v1/orders", json=body)
    assert response.status_code == 422
    assert response.json()["details"]["field"] == "shipping.postal_code"
    assert "NNN-NNNN" in response.json()["message"]


def test_an_order_for_an_unknown_store_is_404_and_a_duplicate_number_409(api: TestClient) -> None:
    line = [{"sku": "X", "name": "x", "quantity": 1, "unit_price": 1}]
    assert api.post("/api/v1/orders", json=order_body(999, line)).status_code == 404
    shop = store(api)
    create_order(api, shop, line, order_number="R-1")
    again = api.post("/api/v1/orders", json=order_body(shop, line, order_number="R-1"))
    assert again.status_code == 409
    assert again.json()["code"] == "conflict" and "R-1" in again.json()["message"]


def test_the_order_list_filters_pages_and_counts_per_status(api: TestClient) -> None:
    line = [{"sku": "X", "name": "x", "quantity": 1, "unit_price": 100}]
    shop, other = store(api, "A"), store(api, "B")
    first = create_order(api, shop, line, order_number="A-1", ordered_at="2026-01-01T00:00:00Z")
    create_order(api, shop, line, order_number="A-2", ordered_at="2026-01-02T00:00:00+09:00")
    create_order(api, other, line, order_number="B-1", ordered_at="2026-01-03T00:00:00Z")
    api.post(f"/api/v1/orders/{first['id']}/status", json={"status": "Cancel"})

    body = api.get("/api/v1/orders").json()
    assert [o["order_number"] for o in body["items"]] == ["B-1", "A-2", "A-1"]
    assert body["total"] == 3
    assert body["counts"]["New"] == 2 and body["counts"]["Cancel"] == 1 and body["counts"]["RFP"] == 0
    by_store = api.get("/api/v1/orders", params={"store_id": shop}).json()
    assert by_store["total"] == 2 and by_store["counts"]["New"] == 1
    cancelled = api.get("/api/v1/orders", params={"status": "Cancel"}).json()
    assert [o["order_number"] for o in cancelled["items"]] == ["A-1"]
    assert [o["order_number"] for o in api.get("/api/v1/orders", params={"q": "b-1"}).json()["items"]] == ["B-1"]
    paged = api.get("/api/v1/orders", params={"limit": 1, "offset": 1}).json()
    assert paged["total"] == 3 and [o["order_number"] for o in paged["items"]] == ["A-2"]
    assert paged["items"][0]["ordered_at"] == "2026-01-01T15:00:00Z"  # stored and shown in UTC
    assert api.get("/api/v1/orders", params={"status": "Shipped"}).status_code == 422
    assert api.get("/api/v1/orders", params={"store_id": 999}).status_code == 404


def test_order_detail_and_an_unknown_order(api: TestClient) -> None:
    order = create_order(api, store(api), [{"sku": "X", "name": "x", "quantity": 3, "unit_price": 100}])
    response = api.get(f"/api/v1/orders/{order['id']}")
    assert response.status_code == 200
    assert response.json()["lines"][0]["quantity"] == 3
    missing = api.get("/api/v1/orders/424242")
    assert missing.status_code == 404
    assert missing.json() == {"code": "not_found", "message": "No order with id 424242."}


def test_an_illegal_status_move_is_409_naming_the_allowed_ones(api: TestClient) -> None:
    order = create_order(api, store(api), [{"sku": "X", "name": "x", "quantity": 1, "unit_price": 1}])
    response = api.post(f"/api/v1/orders/{order['id']}/status", json={"status": "Delivered"})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "illegal_transition"
    assert "Allowed next:" in body["message"] and "RFP" in body["message"]
    assert body["details"]["current"] == "New" and body["details"]["requested"] == "Delivered"
    assert "Cancel" in body["details"]["allowed"]


def test_a_status_move_is_recorded_in_the_history(api: TestClient) -> None:
    order = create_order(api, store(api), [{"sku": "X", "name": "x", "quantity": 1, "unit_price": 1}])
    response = api.post(f"/api/v1/orders/{order['id']}/status", json={"status": "Cancel", "note": "buyer asked"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "Cancel" and body["allowed_next"] == []
    assert body["history"][-1] | {"at": None} == {"from_status": "New", "to_status": "Cancel", "at": None,
                                                   "actor": "admin", "note": "buyer asked"}  # fmt: skip
    unknown = api.post(f"/api/v1/orders/{order['id']}/status", json={"status": "Teleported"})
    assert unknown.status_code == 422 and "status" in unknown.json()["message"]


def test_allocate_holds_stock_and_moves_the_order_to_rfp(api: TestClient) -> None:
    single(api, "TS-1")
    tokyo, osaka = warehouse(api, "TOKYO"), warehouse(api, "OSAKA")
    receive(api, "TS-1", osaka, 5)
    order = create_order(api, store(api), [{"sku": "TS-1", "quantity": 2}])
    response = api.post(f"/api/v1/orders/{order['id']}/allocate", json={"warehouse_ids": [tokyo, osaka]})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "RFP"
    assert body["lines"][0]["reservations"] == [{"warehouse_code": "OSAKA", "sku": "TS-1", "quantity": 2}]
    level = api.get("/api/v1/stock", params={"sku": "TS-1"}).json()["items"][0]
    assert (level["reserved"], level["available"]) == (2, 3)
    again = api.post(f"/api/v1/orders/{order['id']}/allocate")
    assert again.status_code == 409 and again.json()["code"] == "illegal_transition"
    back = api.post(f"/api/v1/orders/{order['id']}/deallocate")
    assert back.status_code == 200 and back.json()["status"] == "New"
    assert back.json()["lines"][0]["reservations"] == []


def test_allocate_without_enough_stock_leaves_the_order_new(api: TestClient) -> None:
    single(api, "TS-1")
    receive(api, "TS-1", warehouse(api, "TOKYO"), 1)
    order = create_order(api, store(api), [{"sku": "TS-1", "quantity": 2}])
    response = api.post(f"/api/v1/orders/{order['id']}/allocate")
    assert response.status_code == 200
    assert response.json()["status"] == "New" and response.json()["lines"][0]["reservations"] == []
    assert api.post(f"/api/v1/orders/{order['id']}/allocate", json={"warehouse_ids": [999]}).status_code == 404
    assert api.post("/api/v1/orders/999/allocate").status_code == 404


def test_stores_are_listed_and_a_duplicate_name_is_a_conflict(api: TestClient) -> None:
    store(api, "楽天ショップ")
    assert api.post("/api/v1/stores", json={"name": "楽天ショップ"}).status_code == 409
    listed = api.get("/api/v1/stores").json()
    assert listed["total"] == 1 and listed["items"][0]["channel"] == "manual"
