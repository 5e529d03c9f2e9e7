"""Bad input is a JSON error with a stable code and a message saying what to fix — never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import single, store, warehouse


def _problem(response: object) -> tuple[int, str, str]:
    body = response.json()  # type: ignore[attr-defined]
    return response.status_code, body["code"], body["message"]  # type: ignore[attr-defined]


def test_malformed_json_is_422_invalid(api: TestClient) -> None:
    response = api.post(
        "/api/v1/products", content=b'{"type": "single", "sku": ', headers={"Content-Type": "application/json"}
    )
    status, code, message = _problem(response)
    assert (status, code) == (422, "invalid")
    assert message.startswith("Fix the request:") and "JSON" in message


def test_a_body_that_is_not_an_object_is_422(api: TestClient) -> None:
    response = api.post("/api/v1/warehouses", json=["TOKYO", "東京"])
    assert _problem(response)[:2] == (422, "invalid")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "single", "sku": "A", "name": "a", "selling_price": "1980円"}, "selling_price"),
        ({"type": "single", "sku": "A", "name": "a", "selling_price": 19.8}, "selling_price"),
        ({"type": "single", "sku": "A", "name": "a", "selling_price": True}, "selling_price"),
        ({"type": "single", "sku": "A", "name": "a", "selling_price": -1}, "selling_price"),
        ({"type": "single", "sku": "A", "name": "a", "selling_price": 10**30}, "selling_price"),
        ({"type": "single", "sku": 123, "name": "a", "selling_price": 1}, "sku"),
        ({"type": "single", "sku": "S" * 101, "name": "a", "selling_price": 1}, "sku"),
        ({"type": "single", "sku": "A", "name": "a\x00b", "selling_price": 1}, "name"),
        ({"type": "single", "sku": "A", "name": "a", "selling_price": 1, "active": "yes"}, "active"),
        ({"type": "single", "sku": "A", "name": "a", "selling_price": 1, "attributes": {"k": "a\x00"}}, "attributes"),
        ({"type": "single", "sku": "A", "selling_price": 1}, "name"),
        ({"type": "bundle", "sku": "A", "name": "a", "selling_price": 1}, "body"),
    ],
)
def test_wrong_types_and_values_name_the_field(api: TestClient, body: dict[str, object], field: str) -> None:
    response = api.post("/api/v1/products", json=body)
    status, code, message = _problem(response)
    assert (status, code) == (422, "invalid")
    fields = [p["field"] for p in response.json()["details"]["problems"]]
    assert any(f == field or f.endswith(f".{field}") or f.startswith(field) for f in fields), fields
    assert message.startswith("Fix the request:")


def test_an_unknown_product_type_names_the_allowed_ones(api: TestClient) -> None:
    response = api.post("/api/v1/products", json={"type": "bundle", "sku": "A", "name": "a", "selling_price": 1})
    assert "'single', 'kit', 'group'" in response.json()["message"]
    listed = api.get("/api/v1/products", params={"type": "bundle"})
    assert _problem(listed)[:2] == (422, "invalid") and "single" in listed.json()["message"]


def test_a_sku_with_control_characters_is_refused(api: TestClient) -> None:
    response = api.post("/api/v1/products", json={"type": "single", "sku": "A\nB", "name": "a", "selling_price": 1})
    status, code, message = _problem(response)
    assert (status, code) == (422, "invalid") and "control characters" in message


def test_negative_and_zero_quantities_are_refused(api: TestClient) -> None:
    single(api, "A")
    wid = warehouse(api, "T")
    for quantity in (-1, 0):
        response = api.post("/api/v1/stock/receipts", json={"sku": "A", "warehouse_id": wid, "quantity": quantity})
        assert _problem(response)[:2] == (422, "invalid")
        assert response.json()["details"]["problems"][0]["field"] == "quantity"
    order = api.post("/api/v1/orders", json={"store_id": store(api), "payment_method": "x", "orderer": {},
                                             "lines": [{"sku": "A", "quantity": -2}]})  # fmt: skip
    assert _problem(order)[:2] == (422, "invalid")
    assert "lines.0.quantity" in [p["field"] for p in order.json()["details"]["problems"]]


def test_a_too_long_sku_in_a_query_or_path_is_refused(api: TestClient) -> None:
    long = "S" * 101
    assert _problem(api.get("/api/v1/stock", params={"sku": long}))[:2] == (422, "invalid")
    assert _problem(api.get(f"/api/v1/skus/{long}"))[:2] == (422, "invalid")
    assert _problem(api.get("/api/v1/skus/A%00B"))[:2] == (422, "invalid")


@pytest.mark.parametrize(
    "path",
    ["/api/v1/products/987654", "/api/v1/skus/NOPE", "/api/v1/warehouses/987654", "/api/v1/orders/987654"],
)
def test_unknown_ids_are_404_not_found(api: TestClient, path: str) -> None:
    status, code, message = _problem(api.get(path))
    assert (status, code) == (404, "not_found") and message.startswith("No ")


@pytest.mark.parametrize("path", ["/api/v1/products/abc", "/api/v1/products/0", "/api/v1/orders/99999999999999999999"])
def test_ids_that_are_not_ids_are_422(api: TestClient, path: str) -> None:
    assert _problem(api.get(path))[:2] == (422, "invalid")


@pytest.mark.parametrize("path", ["/api/v1/products", "/api/v1/warehouses", "/api/v1/stock", "/api/v1/stock/ledger",
                                  "/api/v1/orders", "/api/v1/stores"])  # fmt: skip
def test_every_list_bounds_its_limit_and_offset(api: TestClient, path: str) -> None:
    ok = api.get(path, params={"limit": 500, "offset": 0})
    assert ok.status_code == 200 and {"items", "total", "limit", "offset"} <= set(ok.json())
    for params, field in (({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"limit": "ten"}, "limit"),
                          ({"offset": -1}, "offset")):  # fmt: skip
        response = api.get(path, params=params)
        status, code, message = _problem(response)
        assert (status, code) == (422, "invalid"), (path, params)
        assert field in message


def test_unknown_fields_are_refused_so_typos_do_not_pass_silently(api: TestClient) -> None:
    response = api.post("/api/v1/warehouses", json={"code": "T", "name": "t", "nmae": "typo"})
    assert _problem(response)[:2] == (422, "invalid")
    assert response.json()["details"]["problems"][0]["field"] == "nmae"


def test_a_naive_order_date_is_refused(api: TestClient) -> None:
    from tests.api.conftest import order_body

    body = order_body(store(api), [{"sku": "X", "name": "x", "quantity": 1, "unit_price": 1}],
                      ordered_at="2026-01-01T00:00:00")  # fmt: skip
    response = api.post("/api/v1/orders", json=body)
    assert _problem(response)[:2] == (422, "invalid")
    assert "ordered_at" in response.json()["message"]
