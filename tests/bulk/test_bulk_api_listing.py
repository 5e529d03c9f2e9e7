"""The bulk API (templates, upload, report download) and "list the uploaded products on a store" through the
listing job, against the RMS sandbox."""

from __future__ import annotations

import io
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from kura.channels.rakuten.listing import LISTING_JOB
from kura.db import Database
from kura.jobs import outbox, registry
from kura.jobs.queue import execute
from rms_sandbox.testing import RunningSandbox
from tests.bulk.conftest import from_template, workbook
from tests.listing.conftest import rms, unique

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_templates_download_with_bilingual_headers_and_instructions(api: TestClient) -> None:
    firsts = {"single": "SKU / SKU", "kit": "セットSKU / Kit SKU", "group": "グループコード / Group code"}
    for kind, first in firsts.items():
        response = api.get(f"/api/v1/bulk/templates/{kind}.xlsx")
        assert response.status_code == 200 and response.headers["content-type"] == XLSX
        book = load_workbook(io.BytesIO(response.content))
        assert book.sheetnames[1] == "説明 Instructions"
        assert book.worksheets[0]["A1"].value == first
        assert book.worksheets[0]["A2"].number_format == "@"  # codes stay text


def test_an_upload_answers_the_summary_and_the_report_downloads(api: TestClient) -> None:
    data = from_template("single", [{"sku": "OK-1", "name": "良い", "selling_price": 100},
                                    {"sku": "BAD-1", "name": "悪い", "selling_price": -5}])  # fmt: skip
    response = api.post("/api/v1/bulk/uploads", files={"file": ("p.xlsx", data, XLSX)})
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["created"], body["products_failed"]) == (1, 1)
    assert body["problems"][0]["row"] == 3 and body["problems"][0]["column"].startswith("C ")
    report = api.get(body["report_url"])
    assert report.status_code == 200
    rows = list(load_workbook(io.BytesIO(report.content)).worksheets[1].iter_rows(values_only=True))
    assert rows[1][1] == 3 and "-5" in str(rows[1][3])
    assert api.get(f"/api/v1/bulk/uploads/{body['upload_id']}").json()["status"] == "done"


def test_uploaded_products_are_listed_on_the_store_by_the_listing_job(
    api: TestClient, db: Database, sandbox: RunningSandbox, store_id: int, test_queue: Any
) -> None:
    good, bad_sku = unique("UP"), unique("UP") + ".x"
    data = workbook({"single": [{"sku": good, "name": "出品する", "selling_price": 1200, "retail_price": 1500},
                                {"sku": bad_sku, "name": "SKUに点", "selling_price": 1000}]})  # fmt: skip
    response = api.post(f"/api/v1/bulk/uploads?store_id={store_id}", files={"file": ("p.xlsx", data, XLSX)})
    body = response.json()
    assert (body["created"], body["queued_for_listing"], body["products_failed"]) == (1, 1, 1)
    # Rakuten's manageNumber and variantId rules are checked before anything is created
    assert {p["column"].split(" ")[0] for p in body["problems"]} == {"A"}
    assert any("SKU number" in p["message"] for p in body["problems"])
    assert (LISTING_JOB, store_id, None) in [t.args for t in test_queue.pending()]

    registry.bind_database(db)
    try:
        run = execute(LISTING_JOB, store_id)
    finally:
        registry.bind_database(None)

    assert run.counts == {"listed": 1, "refused": 0}
    variant = rms(sandbox).get_item(good.lower())["variants"][good]
    assert str(variant["standardPrice"]) == "1200" and str(variant["referencePrice"]["value"]) == "1500"
    with db.reader() as s:  # the listing is done; its stock waits for the stock pusher (one code path)
        assert [(r.kind, r.key) for r in outbox.pending(s, store_id)] == [("stock", good)]
