"""Inventory pages: stock levels with search, adjustments and transfers with clear refusals, ledger, warehouses."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kura.db import Database
from kura.inventory.service import available
from tests.web.pages_support import post_form, seed_shop, token

EN = {"Accept-Language": "en"}


def test_stock_levels_list_and_search(signed_in: TestClient, db: Database) -> None:
    ids = seed_shop(db)
    page = signed_in.get("/inventory", headers=EN)
    assert page.status_code == 200 and "TEE-RED" in page.text and "MUG-1" in page.text
    assert "MUG-1" not in signed_in.get("/inventory?q=tee").text
    assert "TEE-RED" not in signed_in.get(f"/inventory?warehouse={ids['osaka']}").text
    part = signed_in.get("/inventory?q=mug", headers={"HX-Request": "true", "HX-Target": "results"})
    assert "<html" not in part.text and "MUG-1" in part.text


def test_adjust_and_receive(signed_in: TestClient, db: Database) -> None:
    ids = seed_shop(db)
    csrf = token(signed_in, "/inventory")
    form = {
        "csrf_token": csrf,
        "sku": "TEE-RED",
        "warehouse_id": str(ids["tokyo"]),
        "change": "-3",
        "reason": "adjustment",
        "note": "棚卸",
    }
    assert post_form(signed_in, "/inventory/adjust", form, follow_redirects=False).status_code == 303
    post_form(signed_in, "/inventory/adjust", {**form, "change": "5", "reason": "receipt"})
    with db.reader() as s:
        assert available(s, "TEE-RED") == 12


def test_adjust_below_zero_is_refused_with_the_numbers(signed_in: TestClient, db: Database) -> None:
    ids = seed_shop(db)
    csrf = token(signed_in, "/inventory")
    response = post_form(
        signed_in,
        "/inventory/adjust",
        {
            "csrf_token": csrf,
            "sku": "TEE-RED",
            "change": "-50",
            "warehouse_id": str(ids["tokyo"]),
            "reason": "adjustment",
        },
        headers=EN,
    )
    assert response.status_code == 422
    assert "Nothing was saved" in response.text and "10 on hand" in response.text
    bad = post_form(
        signed_in,
        "/inventory/adjust",
        {"csrf_token": csrf, "sku": "TEE-RED", "change": "two", "warehouse_id": str(ids["tokyo"])},
        headers=EN,
    )
    assert bad.status_code == 422 and "whole number" in bad.text
    with db.reader() as s:
        assert available(s, "TEE-RED") == 10


def test_transfer_moves_stock_and_refuses_too_much(signed_in: TestClient, db: Database) -> None:
    ids = seed_shop(db)
    csrf = token(signed_in, "/inventory")
    form = {
        "csrf_token": csrf,
        "sku": "TEE-RED",
        "from_warehouse_id": str(ids["tokyo"]),
        "to_warehouse_id": str(ids["osaka"]),
        "quantity": "4",
    }
    assert post_form(signed_in, "/inventory/transfer", form, follow_redirects=False).status_code == 303
    with db.reader() as s:
        assert available(s, "TEE-RED", [ids["osaka"]]) == 4
    too_much = post_form(signed_in, "/inventory/transfer", {**form, "quantity": "99"}, headers=EN)
    assert too_much.status_code == 422 and "6 available" in too_much.text
    same = post_form(signed_in, "/inventory/transfer", {**form, "to_warehouse_id": str(ids["tokyo"])}, headers=EN)
    assert same.status_code == 422 and "two different warehouses" in same.text


def test_ledger_filters(signed_in: TestClient, db: Database) -> None:
    ids = seed_shop(db)
    page = signed_in.get("/inventory/ledger", headers=EN)
    assert page.status_code == 200 and "TEE-RED" in page.text and "MUG-1" in page.text
    only = signed_in.get("/inventory/ledger?sku=MUG-1").text
    assert "MUG-1" in only and "TEE-RED" not in only
    assert "No ledger entries match" in signed_in.get(f"/inventory/ledger?warehouse={ids['osaka']}", headers=EN).text
    assert "No SKU &#39;NOPE&#39;" in signed_in.get("/inventory/ledger?sku=NOPE").text
    assert "TEE-RED" in signed_in.get("/inventory/ledger?reason=receipt").text


def test_warehouses_list_and_create(signed_in: TestClient, db: Database) -> None:
    csrf = token(signed_in, "/inventory/warehouses")
    created = post_form(
        signed_in,
        "/inventory/warehouses",
        {"csrf_token": csrf, "code": "NAGOYA", "name": "名古屋"},
        follow_redirects=False,
    )
    assert created.status_code == 303
    assert "名古屋" in signed_in.get("/inventory/warehouses").text
    again = post_form(
        signed_in, "/inventory/warehouses", {"csrf_token": csrf, "code": "NAGOYA", "name": "x"}, headers=EN
    )
    assert again.status_code == 422 and "exists already" in again.text
