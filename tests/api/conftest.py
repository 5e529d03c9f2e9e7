"""API fixtures: the web fixtures (app, admin, `api` client with an admin token), tokens for other roles,
and small builders that go through the API itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kura.auth.service import create_token, create_user
from kura.db import Database
from tests.web.conftest import admin, api, app_client, settings  # noqa: F401

Headers = dict[str, str]


@pytest.fixture
def token_for(db: Database) -> Callable[[str], Headers]:
    """Headers with a Bearer token of a new user with the given role."""

    def make(role: str) -> Headers:
        with db.transaction() as s:
            user = create_user(s, f"{role}-user", "password123", role)
            token = create_token(s, user, "tests")
        return {"Authorization": f"Bearer {token}"}

    return make


def single(client: TestClient, sku: str, price: int = 1980, **more: Any) -> dict[str, Any]:
    body = {"type": "single", "sku": sku, "name": f"商品 {sku}", "selling_price": price, **more}
    response = client.post("/api/v1/products", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def warehouse(client: TestClient, code: str, name: str | None = None) -> int:
    response = client.post("/api/v1/warehouses", json={"code": code, "name": name or f"{code} 倉庫"})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def receive(client: TestClient, sku: str, warehouse_id: int, quantity: int) -> None:
    body = {"sku": sku, "warehouse_id": warehouse_id, "quantity": quantity}
    response = client.post("/api/v1/stock/receipts", json=body)
    assert response.status_code == 201, response.text


def store(client: TestClient, name: str = "手動ストア") -> int:
    response = client.post("/api/v1/stores", json={"name": name})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


ADDRESS = {
    "family_name": "山田",
    "given_name": "太郎",
    "family_name_kana": "ヤマダ",
    "given_name_kana": "タロウ",
    "postal_code": "1000001",
    "prefecture": "東京",
    "address_line1": "千代田区千代田",
    "address_line2": "1-1",
    "phone": "03-1234-5678",
}


def order_body(store_id: int, lines: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return {"store_id": store_id, "orderer": ADDRESS, "lines": lines, "payment_method": "クレジットカード", **more}


def create_order(client: TestClient, store_id: int, lines: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    response = client.post("/api/v1/orders", json=order_body(store_id, lines, **more))
    assert response.status_code == 201, response.text
    return dict(response.json())
