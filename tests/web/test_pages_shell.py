"""Dashboard and integrations pages, and the rules every page keeps: sign-in, CSRF, viewers only read."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from kura.db import Database
from kura.inventory.service import available
from tests.web.pages_support import post_form, seed_shop, sign_in_as

EN = {"Accept-Language": "en"}
PAGES = [
    "/",
    "/products",
    "/products/new",
    "/inventory",
    "/inventory/ledger",
    "/inventory/warehouses",
    "/orders",
    "/integrations",
]


def test_dashboard_shows_catalog_stock_orders_and_low_stock(signed_in: TestClient, db: Database) -> None:
    seed_shop(db)
    page = signed_in.get("/", headers=EN).text
    for text in ("Products", "SKUs", "Units on hand", "Orders by status", "Low stock"):
        assert text in page
    assert ">13<" in page  # 10 + 3 units on hand
    assert "MUG-1" in page  # 3 available: low


def test_integrations_says_plainly_that_nothing_is_connected_and_offers_the_rakuten_form(
    signed_in: TestClient,
) -> None:
    page = signed_in.get("/integrations", headers=EN).text
    assert "No sales channel is connected yet" in page
    assert 'name="license_key"' in page
    assert (
        "販売チャネルはまだ接続されていません" in signed_in.get("/integrations", headers={"Accept-Language": "ja"}).text
    )


@pytest.mark.parametrize("path", PAGES)
def test_every_page_needs_sign_in(app_client: TestClient, path: str) -> None:
    response = app_client.get(path, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_in_both_languages(signed_in: TestClient, db: Database, path: str) -> None:
    seed_shop(db)
    for lang in ("en", "ja"):
        assert signed_in.get(path, headers={"Accept-Language": lang}).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/products/new",
        "/inventory/adjust",
        "/inventory/transfer",
        "/inventory/warehouses",
        "/orders/1/status",
        "/orders/1/allocate",
        "/products/1/edit",
    ],
)
def test_writes_without_the_csrf_token_are_refused(signed_in: TestClient, db: Database, path: str) -> None:
    seed_shop(db)
    response = post_form(signed_in, path, {"sku": "TEE-RED", "change": "5", "warehouse_id": "1", "to": "RFP"})
    assert response.status_code == 403
    with db.reader() as s:
        assert available(s, "TEE-RED") == 10


def test_a_viewer_reads_but_cannot_write(app_client: TestClient, db: Database) -> None:
    ids = seed_shop(db)
    csrf = sign_in_as(app_client, db, "miru", "viewer")
    assert app_client.get("/products").status_code == 200
    assert "New single product" not in app_client.get("/products", headers=EN).text
    assert app_client.get("/products/new").status_code == 403
    adjust = {"csrf_token": csrf, "sku": "TEE-RED", "change": "5", "warehouse_id": str(ids["tokyo"])}
    assert post_form(app_client, "/inventory/adjust", adjust).status_code == 403
    assert post_form(app_client, f"/orders/{ids['order']}/status", {"csrf_token": csrf, "to": "RFP"}).status_code == 403
    assert "Your role can only view orders" in app_client.get(f"/orders/{ids['order']}", headers=EN).text
    with db.reader() as s:
        assert available(s, "TEE-RED") == 10


def test_an_operator_can_write(app_client: TestClient, db: Database) -> None:
    ids = seed_shop(db)
    csrf = sign_in_as(app_client, db, "tanaka", "operator")
    adjust = {"csrf_token": csrf, "sku": "TEE-RED", "change": "5", "warehouse_id": str(ids["tokyo"])}
    assert post_form(app_client, "/inventory/adjust", adjust, follow_redirects=False).status_code == 303
