"""Stock over the API: levels, receipts, adjustments, transfers, the ledger and availability."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import receive, single, warehouse


def test_a_receipt_adds_stock_and_shows_in_the_levels(api: TestClient) -> None:
    single(api, "TS-1")
    tokyo = warehouse(api, "TOKYO")
    response = api.post("/api/v1/stock/receipts", json={"sku": "TS-1", "warehouse_id": tokyo, "quantity": 10,
                                                          "reference": "PO-1"})  # fmt: skip
    assert response.status_code == 201
    body = response.json()
    assert body["reason"] == "receipt" and body["on_hand_after"] == 10 and body["actor"] == "admin"
    levels = api.get("/api/v1/stock").json()
    assert levels["total"] == 1
    assert levels["items"][0] == {"sku": "TS-1", "product_name": "商品 TS-1", "warehouse_id": tokyo,
                                  "warehouse_code": "TOKYO", "on_hand": 10, "reserved": 0, "available": 10}  # fmt: skip


def test_levels_filter_by_sku_warehouse_and_text(api: TestClient) -> None:
    single(api, "A-1")
    single(api, "B-1")
    tokyo, osaka = warehouse(api, "TOKYO"), warehouse(api, "OSAKA")
    receive(api, "A-1", tokyo, 1)
    receive(api, "A-1", osaka, 2)
    receive(api, "B-1", tokyo, 3)

    def rows(**params: object) -> list[tuple[str, str]]:
        response = api.get("/api/v1/stock", params=params)
        assert response.status_code == 200
        return [(r["sku"], r["warehouse_code"]) for r in response.json()["items"]]

    assert rows(sku="A-1") == [("A-1", "OSAKA"), ("A-1", "TOKYO")]
    assert rows(warehouse_id=tokyo) == [("A-1", "TOKYO"), ("B-1", "TOKYO")]
    assert rows(q="b-") == [("B-1", "TOKYO")]
    assert api.get("/api/v1/stock", params={"limit": 1}).json()["total"] == 3
    assert api.get("/api/v1/stock", params={"sku": "NOPE"}).status_code == 404
    assert api.get("/api/v1/stock", params={"warehouse_id": 999}).status_code == 404


def test_an_adjustment_below_zero_is_refused_saying_what_there_is(api: TestClient) -> None:
    single(api, "TS-1")
    tokyo = warehouse(api, "TOKYO")
    receive(api, "TS-1", tokyo, 3)
    ok = api.post("/api/v1/stock/adjustments", json={"sku": "TS-1", "warehouse_id": tokyo, "delta": -1,
                                                       "note": "damaged"})  # fmt: skip
    assert ok.status_code == 201
    assert ok.json()["on_hand_after"] == 2 and ok.json()["note"] == "damaged"
    refused = api.post("/api/v1/stock/adjustments", json={"sku": "TS-1", "warehouse_id": tokyo, "delta": -5})
    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "insufficient_stock"
    assert "2 on hand" in body["message"]
    assert body["details"]["available"] == 2


def test_a_zero_adjustment_is_refused(api: TestClient) -> None:
    single(api, "TS-1")
    response = api.post("/api/v1/stock/adjustments",
                        json={"sku": "TS-1", "warehouse_id": warehouse(api, "T"), "delta": 0})  # fmt: skip
    assert response.status_code == 422
    assert "delta" in response.json()["message"]


def test_stock_of_a_kit_is_refused_pointing_at_its_components(api: TestClient) -> None:
    single(api, "PART")
    api.post("/api/v1/products", json={"type": "kit", "sku": "KIT", "name": "k", "selling_price": 1,
                                       "components": [{"sku": "PART", "quantity": 2}]})  # fmt: skip
    response = api.post("/api/v1/stock/receipts", json={"sku": "KIT", "warehouse_id": warehouse(api, "T"),
                                                          "quantity": 1})  # fmt: skip
    assert response.status_code == 422
    assert "components" in response.json()["message"]


def test_a_transfer_moves_units_and_writes_two_ledger_entries(api: TestClient) -> None:
    single(api, "TS-1")
    tokyo, osaka = warehouse(api, "TOKYO"), warehouse(api, "OSAKA")
    receive(api, "TS-1", tokyo, 5)
    response = api.post("/api/v1/stock/transfers", json={"sku": "TS-1", "from_warehouse_id": tokyo,
                                                           "to_warehouse_id": osaka, "quantity": 2})  # fmt: skip
    assert response.status_code == 201
    body = response.json()
    assert (body["out"]["warehouse_code"], body["out"]["on_hand_after"]) == ("TOKYO", 3)
    assert (body["into"]["warehouse_code"], body["into"]["on_hand_after"]) == ("OSAKA", 2)
    too_many = api.post("/api/v1/stock/transfers", json={"sku": "TS-1", "from_warehouse_id": tokyo,
                                                           "to_warehouse_id": osaka, "quantity": 9})  # fmt: skip
    assert too_many.status_code == 409 and too_many.json()["code"] == "insufficient_stock"
    same = api.post("/api/v1/stock/transfers", json={"sku": "TS-1", "from_warehouse_id": tokyo,
                                                       "to_warehouse_id": tokyo, "quantity": 1})  # fmt: skip
    assert same.status_code == 422 and "two different warehouses" in same.json()["message"]


def test_the_ledger_filters_by_sku_warehouse_reason_and_reference(api: TestClient) -> None:
    single(api, "A")
    single(api, "B")
    tokyo, osaka = warehouse(api, "TOKYO"), warehouse(api, "OSAKA")
    receive(api, "A", tokyo, 5)
    receive(api, "B", osaka, 5)
    api.post("/api/v1/stock/adjustments", json={"sku": "A", "warehouse_id": tokyo, "delta": 1, "reference": "CNT-1"})

    def entries(**params: object) -> list[tuple[str, str]]:
        response = api.get("/api/v1/stock/ledger", params=params)
        assert response.status_code == 200, response.text
        return [(m["sku"], m["reason"]) for m in response.json()["items"]]

    assert entries() == [("A", "adjustment"), ("B", "receipt"), ("A", "receipt")]  # newest first
    assert entries(sku="A") == [("A", "adjustment"), ("A", "receipt")]
    assert entries(warehouse_id=osaka) == [("B", "receipt")]
    assert entries(reason="receipt") == [("B", "receipt"), ("A", "receipt")]
    assert entries(reference="CNT-1") == [("A", "adjustment")]
    page = api.get("/api/v1/stock/ledger", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 3 and len(page["items"]) == 1
    unknown = api.get("/api/v1/stock/ledger", params={"reason": "theft"})
    assert unknown.status_code == 422 and "reason" in unknown.json()["message"]


def test_availability_of_a_sku_over_a_set_of_warehouses(api: TestClient) -> None:
    single(api, "CUP")
    api.post("/api/v1/products", json={"type": "kit", "sku": "PAIR", "name": "ペア", "selling_price": 1,
                                       "components": [{"sku": "CUP", "quantity": 2}]})  # fmt: skip
    tokyo, osaka, nagoya = warehouse(api, "TOKYO"), warehouse(api, "OSAKA"), warehouse(api, "NAGOYA")
    receive(api, "CUP", tokyo, 5)
    receive(api, "CUP", osaka, 3)
    everywhere = api.get("/api/v1/stock/availability", params={"sku": "CUP"}).json()
    assert everywhere["available"] == 8
    assert [(w["warehouse_code"], w["available"]) for w in everywhere["warehouses"]] == [
        ("TOKYO", 5), ("OSAKA", 3), ("NAGOYA", 0)]  # fmt: skip
    some = api.get("/api/v1/stock/availability", params={"sku": "CUP", "warehouse_id": [osaka, nagoya]}).json()
    assert some["available"] == 3
    kit = api.get("/api/v1/stock/availability", params={"sku": "PAIR"}).json()
    assert kit["available"] == 2 + 1  # assembled per warehouse: ⌊5/2⌋ + ⌊3/2⌋
    assert api.get("/api/v1/stock/availability", params={"sku": "NOPE"}).status_code == 404
    assert api.get("/api/v1/stock/availability", params={"sku": "CUP", "warehouse_id": 999}).status_code == 404
    assert api.get("/api/v1/stock/availability").status_code == 422


def test_a_stock_batch_applies_every_line_or_none_and_names_the_bad_ones(api: TestClient) -> None:
    single(api, "A-1")
    single(api, "B-1")
    tokyo = warehouse(api, "TOKYO")
    receive(api, "B-1", tokyo, 2)
    ok = api.post("/api/v1/stock/batches", json={"warehouse_id": tokyo, "reference": "GR-7", "lines": [
        {"sku": "A-1", "kind": "receipt", "quantity": 12},
        {"sku": "B-1", "kind": "count", "quantity": 5},
        {"sku": "A-1", "kind": "adjustment", "quantity": -2, "note": "damaged"},
    ]})  # fmt: skip
    assert ok.status_code == 201, ok.text
    assert ok.json()["movements"] == 3
    assert [(r["sku"], r["on_hand"], r["change"]) for r in ok.json()["results"]] == [
        ("A-1", 12, 12), ("B-1", 5, 3), ("A-1", 10, -2)]  # fmt: skip
    ledger = api.get("/api/v1/stock/ledger", params={"reference": "GR-7"}).json()
    assert ledger["total"] == 3 and {m["actor"] for m in ledger["items"]} == {"admin"}

    bad = api.post("/api/v1/stock/batches", json={"warehouse_id": tokyo, "lines": [
        {"sku": "A-1", "kind": "receipt", "quantity": 1}, {"sku": "NOPE", "kind": "receipt", "quantity": 1},
        {"sku": "B-1", "kind": "count", "quantity": -4}]})  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid" and bad.json()["details"]["field"] == "lines"
    assert "line 2: SKU 'NOPE'" in bad.json()["message"] and "line 3: a count" in bad.json()["message"]
    short = api.post("/api/v1/stock/batches", json={"warehouse_id": tokyo, "lines": [
        {"sku": "A-1", "kind": "receipt", "quantity": 1}, {"sku": "B-1", "kind": "adjustment", "quantity": -9}]})
    assert short.status_code == 409 and "Line 2 (B-1" in short.json()["message"]
    for body in ({"warehouse_id": tokyo, "lines": []},
                 {"warehouse_id": tokyo, "lines": [{"sku": "A-1", "kind": "restock", "quantity": 1}]},
                 {"warehouse_id": 999, "lines": [{"sku": "A-1", "kind": "receipt", "quantity": 1}]}):  # fmt: skip
        assert api.post("/api/v1/stock/batches", json=body).status_code in (404, 422)
    levels = {r["sku"]: r["on_hand"] for r in api.get("/api/v1/stock", params={"warehouse_id": tokyo}).json()["items"]}
    assert levels == {"A-1": 10, "B-1": 5}  # the refused batches wrote nothing
