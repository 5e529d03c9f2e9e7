"""Inventory pages: stock levels with search, adjustments, transfers and stock sheets with clear refusals, ledger,
warehouses."""

from __future__ import annotations

import io

import httpx
from fastapi.testclient import TestClient
from openpyxl import Workbook

from kura.db import Database
from kura.inventory.service import available, ledger
from kura.inventory.sheets import MAX_SHEET_BYTES, read_stock_sheet
from tests.web.pages_support import post_form, seed_shop, sign_in_as, token

EN = {"Accept-Language": "en"}
JA = {"Accept-Language": "ja"}


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


def _upload(
    client: TestClient,
    csrf: str,
    warehouse_id: int,
    name: str,
    data: bytes,
    headers: dict[str, str] | None = None,
    reference: str = "",
    follow_redirects: bool = True,
) -> httpx.Response:
    """Posts the stock sheet form (multipart) as a browser does."""
    return client.post(
        "/inventory/sheet",
        data={"csrf_token": csrf, "warehouse_id": str(warehouse_id), "reference": reference},
        files={"file": (name, data, "application/octet-stream")},
        headers=headers,
        follow_redirects=follow_redirects,
    )


def _xlsx(*rows: tuple[object, ...]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_stock_sheet_from_csv_or_excel_is_applied_and_the_page_counts_the_lines(
    signed_in: TestClient, db: Database
) -> None:
    ids = seed_shop(db)  # TOKYO: TEE-RED 10, MUG-1 3
    csrf = token(signed_in, "/inventory")
    sheet = "sku,kind,quantity,note\nTEE-RED,receipt,5,入荷\nMUG-1,count,3,棚卸し\n".encode("cp932")  # Excel in Japan
    applied = _upload(signed_in, csrf, ids["tokyo"], "入荷.csv", sheet, reference="GR-7", follow_redirects=False)
    assert applied.status_code == 303 and "done=sheet" in applied.headers["location"]
    page = signed_in.get(applied.headers["location"], headers=EN)
    assert "The stock sheet was applied: 2 lines, 1 of them changed stock (1 already right)." in page.text
    assert "在庫シートを反映しました：2 行（在庫が変わった行 1、変更不要 1）" in signed_in.get(
        applied.headers["location"], headers=JA).text  # fmt: skip
    with db.reader() as s:
        assert available(s, "TEE-RED", [ids["tokyo"]]) == 15
        entry = ledger(s, sku="TEE-RED").items[0]
        assert (entry.on_hand_change, entry.reference, entry.note, entry.actor) == (5, "GR-7", "入荷", "admin")

    workbook = _xlsx(("SKU", "Kind", "Quantity"), ("TEE-RED", "count", 12), (None, None, None), ("MUG-1", "receipt", 2))
    excel = _upload(signed_in, csrf, ids["osaka"], "count.xlsx", workbook, headers=EN)
    assert excel.status_code == 200 and "2 lines, 2 of them changed stock" in excel.text
    with db.reader() as s:
        assert available(s, "TEE-RED", [ids["osaka"]]) == 12 and available(s, "MUG-1", [ids["osaka"]]) == 2


def test_a_bad_sheet_names_each_bad_line_and_applies_nothing(signed_in: TestClient, db: Database) -> None:
    ids = seed_shop(db)
    csrf = token(signed_in, "/inventory")
    bad = b"sku,kind,quantity\nTEE-RED,receipt,5\nMUG-1,restock,2\nMUG-1,count,many\n"
    refused = _upload(signed_in, csrf, ids["tokyo"], "bad.csv", bad, headers=EN, reference="GR-8")
    assert refused.status_code == 422 and 'data-testid="form-error"' in refused.text
    assert "2 lines of bad.csv can&#39;t be read, so nothing was applied" in refused.text
    assert "line 3: kind &#39;restock&#39;" in refused.text and "line 4: quantity &#39;many&#39;" in refused.text
    assert 'value="GR-8"' in refused.text  # the form keeps what was typed
    ja = _upload(signed_in, csrf, ids["tokyo"], "bad.csv", bad, headers=JA)
    assert "3 行目: 種類（kind）&#39;restock&#39;" in ja.text and "4 行目: 数量（quantity）&#39;many&#39;" in ja.text

    unknown = _upload(signed_in, csrf, ids["tokyo"], "s.csv", b"sku,kind,quantity\nTEE-RED,receipt,5\nNOPE,count,1\n",
                      headers=EN)  # fmt: skip
    assert unknown.status_code == 422 and "line 3: SKU &#39;NOPE&#39; does not exist" in unknown.text  # the file's line
    no_header = _upload(signed_in, csrf, ids["tokyo"], "s.csv", b"TEE-RED,5\n", headers=EN)
    assert no_header.status_code == 422 and "needs a header line with sku,kind,quantity" in no_header.text
    not_text = _upload(signed_in, csrf, ids["tokyo"], "s.csv", b"sku,kind,quantity\n\xff\xfe\x81,count,1\n", headers=EN)
    assert not_text.status_code == 422 and "neither UTF-8 nor Shift_JIS" in not_text.text
    too_big = _upload(signed_in, csrf, ids["tokyo"], "big.csv", b"x" * (MAX_SHEET_BYTES + 1), headers=EN)
    assert too_big.status_code == 422 and "larger than 5 MB" in too_big.text
    no_file = signed_in.post("/inventory/sheet", data={"csrf_token": csrf, "warehouse_id": str(ids["tokyo"])},
                             files={"file": ("", b"", "text/csv")}, headers=EN)  # fmt: skip
    assert no_file.status_code == 422 and "Choose a stock sheet" in no_file.text
    with db.reader() as s:
        assert available(s, "TEE-RED", [ids["tokyo"]]) == 10 and available(s, "MUG-1", [ids["tokyo"]]) == 3


def test_a_sheet_going_below_zero_is_refused_whole(signed_in: TestClient, db: Database) -> None:
    ids = seed_shop(db)
    csrf = token(signed_in, "/inventory")
    sheet = b"sku,kind,quantity\nMUG-1,receipt,4\nTEE-RED,adjustment,-50\n"
    refused = _upload(signed_in, csrf, ids["tokyo"], "short.csv", sheet, headers=EN)
    assert refused.status_code == 422
    assert "Line 3 (TEE-RED, adjustment -50) would leave -40 on hand" in refused.text
    with db.reader() as s:
        assert available(s, "MUG-1", [ids["tokyo"]]) == 3 and available(s, "TEE-RED", [ids["tokyo"]]) == 10


def test_a_viewer_sees_no_sheet_form_and_cannot_apply_one(app_client: TestClient, db: Database) -> None:
    ids = seed_shop(db)
    csrf = sign_in_as(app_client, db, "miru", "viewer")
    assert 'data-testid="sheet-form"' not in app_client.get("/inventory").text
    refused = _upload(app_client, csrf, ids["tokyo"], "s.csv", b"sku,kind,quantity\nTEE-RED,receipt,5\n")
    assert refused.status_code == 403
    with db.reader() as s:
        assert available(s, "TEE-RED", [ids["tokyo"]]) == 10


def test_the_sheet_form_links_a_template_that_reads_back(signed_in: TestClient, db: Database) -> None:
    seed_shop(db)
    page = signed_in.get("/inventory", headers=EN).text
    assert 'data-testid="sheet-form"' in page and 'enctype="multipart/form-data"' in page
    assert "sku,kind,quantity (optional: reference,note)" in page
    assert "在庫シートを反映" in signed_in.get("/inventory", headers=JA).text
    template = signed_in.get("/inventory/stock-sheet-template.csv")
    assert template.status_code == 200 and template.headers["content-type"].startswith("text/csv")
    assert "attachment" in template.headers["content-disposition"]
    assert template.content.decode("utf-8-sig").startswith("sku,kind,quantity,reference,note")
    assert [(line.kind.value, line.quantity) for line in read_stock_sheet(template.content, "t.csv")] == [
        ("receipt", 12), ("count", 30)]  # fmt: skip
