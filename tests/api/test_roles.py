"""Roles: viewers read, operators write, admins also configure stores; no token, no API."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Headers, single, store, warehouse

WRITES = [
    ("post", "/api/v1/products", {"type": "single", "sku": "V-1", "name": "v", "selling_price": 1}),
    ("patch", "/api/v1/products/{product}", {"name": "v"}),
    ("delete", "/api/v1/products/{product}", None),
    ("patch", "/api/v1/skus/A", {"active": False}),
    ("post", "/api/v1/warehouses", {"code": "X", "name": "x"}),
    ("patch", "/api/v1/warehouses/{warehouse}", {"name": "x"}),
    ("post", "/api/v1/stock/receipts", {"sku": "A", "warehouse_id": 1, "quantity": 1}),
    ("post", "/api/v1/stock/adjustments", {"sku": "A", "warehouse_id": 1, "delta": 1}),
    ("post", "/api/v1/stock/transfers", {"sku": "A", "from_warehouse_id": 1, "to_warehouse_id": 2, "quantity": 1}),
    ("post", "/api/v1/orders", {"store_id": 1}),
    ("post", "/api/v1/orders/1/status", {"status": "Cancel"}),
    ("post", "/api/v1/orders/1/allocate", None),
    ("post", "/api/v1/stores", {"name": "x"}),
]


@pytest.fixture
def ids(api: TestClient) -> dict[str, int]:
    return {"product": int(single(api, "A")["id"]), "warehouse": warehouse(api, "T")}


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_viewers_can_not_write(
    api: TestClient, ids: dict[str, int], token_for: Callable[[str], Headers], method: str, path: str,
    body: dict[str, object] | None,
) -> None:  # fmt: skip
    viewer = token_for("viewer")
    kwargs: dict[str, object] = {"headers": viewer}
    if body is not None:
        kwargs["json"] = body
    response = api.request(method.upper(), path.format(**ids), **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert "operator" in response.json()["message"] or "admin" in response.json()["message"]


@pytest.mark.parametrize("path", ["/api/v1/products", "/api/v1/products/{product}", "/api/v1/skus/A",
                                  "/api/v1/warehouses", "/api/v1/stock", "/api/v1/stock/ledger",
                                  "/api/v1/stock/availability?sku=A", "/api/v1/orders", "/api/v1/stores"])  # fmt: skip
def test_viewers_can_read(api: TestClient, ids: dict[str, int], token_for: Callable[[str], Headers], path: str) -> None:
    assert api.get(path.format(**ids), headers=token_for("viewer")).status_code == 200


def test_operators_write_but_only_admins_add_stores(api: TestClient, token_for: Callable[[str], Headers]) -> None:
    operator = token_for("operator")
    created = api.post("/api/v1/warehouses", json={"code": "OP", "name": "op"}, headers=operator)
    assert created.status_code == 201
    product = api.post("/api/v1/products", json={"type": "single", "sku": "OP-1", "name": "o", "selling_price": 1},
                       headers=operator)  # fmt: skip
    assert product.status_code == 201
    assert api.delete(f"/api/v1/products/{product.json()['id']}", headers=operator).status_code == 204
    refused = api.post("/api/v1/stores", json={"name": "x"}, headers=operator)
    assert refused.status_code == 403 and "admin" in refused.json()["message"]
    assert store(api, "admin store") > 0


def test_the_api_needs_a_token(app_client: TestClient) -> None:
    response = app_client.get("/api/v1/products")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


def test_the_openapi_page_lists_every_area(app_client: TestClient) -> None:
    assert app_client.get("/docs").status_code == 200
    paths = app_client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/products",
        "/api/v1/skus/{code}",
        "/api/v1/warehouses",
        "/api/v1/stock/ledger",
        "/api/v1/stock/availability",
        "/api/v1/orders/{order_id}/status",
        "/api/v1/orders/{order_id}/allocate",
    ):
        assert path in paths, path
