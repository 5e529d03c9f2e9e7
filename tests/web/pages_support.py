"""Helpers for the page tests: posting forms with repeated fields, signing in as a given role, seeding data."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlencode

import httpx
from fastapi.testclient import TestClient

from kura.auth.service import create_user
from kura.catalog.service import ProductFields, create_single
from kura.db import Database
from kura.inventory.service import create_warehouse, receive
from kura.orders.models import Address
from kura.orders.service import LineSpec, NewOrder, create_order, create_store
from tests.web.conftest import csrf_from


def token(client: TestClient, path: str = "/products") -> str:
    return csrf_from(client.get(path).text)


def post_form(
    client: TestClient,
    url: str,
    pairs: Sequence[tuple[str, str]] | dict[str, str],
    headers: dict[str, str] | None = None,
    follow_redirects: bool = True,
) -> httpx.Response:
    """Posts an urlencoded form; a list of pairs may repeat a field (variant rows, component rows)."""
    items = list(pairs.items()) if isinstance(pairs, dict) else list(pairs)
    return client.post(
        url,
        content=urlencode(items),
        follow_redirects=follow_redirects,
        headers={"content-type": "application/x-www-form-urlencoded", **(headers or {})},
    )


def sign_in_as(client: TestClient, db: Database, username: str, role: str) -> str:
    with db.transaction() as s:
        create_user(s, username, "a long enough password", role)
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": username,
            "password": "a long enough password",
            "csrf_token": csrf_from(page.text),
            "next": "/",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    return csrf_from(client.get("/products").text)


def field_values(html: str, name: str) -> list[str]:
    return re.findall(rf'name="{name}" value="([^"]*)"', html)


def seed_shop(db: Database) -> dict[str, int]:
    """Two warehouses, two single products with stock, a store and one New order for 2 × TEE-RED."""
    with db.transaction() as s:
        tokyo = create_warehouse(s, "TOKYO", "東京倉庫")
        osaka = create_warehouse(s, "OSAKA", "大阪倉庫")
        red = create_single(s, "TEE-RED", ProductFields(name="Tシャツ 赤", selling_price=1980, brand="Kura"))
        create_single(s, "MUG-1", ProductFields(name="マグカップ", selling_price=1200, brand="Other", active=False))
        receive(s, tokyo.id, "TEE-RED", 10, actor="test")
        receive(s, tokyo.id, "MUG-1", 3, actor="test")
        store = create_store(s, "楽天テスト店", "manual")
        address = Address(
            "山田",
            "太郎",
            "ヤマダ",
            "タロウ",
            "100-0001",
            "東京都",
            "千代田区千代田",
            "1-1 皇居ビル 101",
            "03-1234-5678",
        )
        order = create_order(
            s,
            store.id,
            NewOrder(
                orderer=address,
                payment_method="クレジットカード",
                order_number="R-100",
                shipping_fee=500,
                lines=[LineSpec(sku="TEE-RED", name="Tシャツ 赤", quantity=2, unit_price=1980)],
            ),
        )
        return {"tokyo": tokyo.id, "osaka": osaka.id, "red": red.id, "order": order.id, "store": store.id}
