"""Order pages: status tabs with counts, search, the order page with address, totals, history and transitions."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kura.db import Database
from kura.inventory.service import available
from tests.web.pages_support import post_form, seed_shop, token

EN = {"Accept-Language": "en"}


def test_list_tabs_counts_and_search(signed_in: TestClient, db: Database) -> None:
    seed_shop(db)
    page = signed_in.get("/orders", headers=EN)
    assert page.status_code == 200 and "R-100" in page.text
    assert 'data-status="New"' in page.text
    assert "R-100" not in signed_in.get("/orders?status=Packed").text
    assert "R-100" in signed_in.get("/orders?q=ヤマダ").text
    assert "R-100" in signed_in.get("/orders?q=TEE-RED").text
    assert "No orders match" in signed_in.get("/orders?q=佐藤", headers=EN).text
    part = signed_in.get("/orders?q=R-1", headers={"HX-Request": "true", "HX-Target": "results"})
    assert "<html" not in part.text and "R-100" in part.text


def test_detail_shows_japanese_address_totals_and_history(signed_in: TestClient, db: Database) -> None:
    ids = seed_shop(db)
    page = signed_in.get(f"/orders/{ids['order']}", headers=EN)
    assert page.status_code == 200
    for text in (
        "〒100-0001",
        "東京都千代田区千代田",
        "山田 太郎 様",
        "ヤマダ タロウ",
        "TEL 03-1234-5678",
        "¥4,460",
        "¥500",
    ):
        assert text in page.text, text
    assert 'data-to="RFP"' in page.text and 'data-to="Cancel"' in page.text
    assert 'data-to="Complete"' not in page.text  # not allowed from New


def test_allocate_then_move_along_and_cancel_gives_stock_back(signed_in: TestClient, db: Database) -> None:
    ids = seed_shop(db)
    csrf = token(signed_in, "/orders")
    url = f"/orders/{ids['order']}"
    assert post_form(signed_in, url + "/allocate", {"csrf_token": csrf}, follow_redirects=False).status_code == 303
    with db.reader() as s:
        assert available(s, "TEE-RED") == 8
    assert (
        post_form(signed_in, url + "/status", {"csrf_token": csrf, "to": "Packed"}, follow_redirects=False).status_code
        == 303
    )
    page = signed_in.get(url, headers=EN).text
    assert 'data-testid="order-status">Packed' in page and "admin" in page
    post_form(signed_in, url + "/status", {"csrf_token": csrf, "to": "Cancel"})
    with db.reader() as s:
        assert available(s, "TEE-RED") == 10


def test_a_transition_the_table_forbids_is_refused_with_the_allowed_ones(signed_in: TestClient, db: Database) -> None:
    ids = seed_shop(db)
    csrf = token(signed_in, "/orders")
    response = post_form(
        signed_in, f"/orders/{ids['order']}/status", {"csrf_token": csrf, "to": "Complete"}, headers=EN
    )
    assert response.status_code == 409
    assert "Nothing was changed" in response.text and "Allowed next" in response.text


def test_order_pages_in_japanese(signed_in: TestClient, db: Database) -> None:
    ids = seed_shop(db)
    ja = {"Accept-Language": "ja"}
    assert "新規受付" in signed_in.get("/orders", headers=ja).text
    assert "ステータス履歴" in signed_in.get(f"/orders/{ids['order']}", headers=ja).text
