"""Bulk upload in a real browser: download a template, fill it with one bad row, upload it, read the problem on
the page and download the report."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from kura.catalog.service import get_product_by_code
from tests.browser.conftest import LiveKura, sign_in

pytestmark = pytest.mark.browser


def test_upload_a_template_with_one_bad_row_and_read_the_report(page: Any, live_kura: LiveKura, shot: Any,
                                                                tmp_path: Path) -> None:  # fmt: skip
    sign_in(page, live_kura, "en")
    page.goto(f"{live_kura.url}/products")
    page.click("[data-testid=bulk-upload-link]")
    page.wait_for_url(f"{live_kura.url}/products/bulk")

    with page.expect_download() as download_info:
        page.click("[data-testid=template-single]")
    template = tmp_path / "single.xlsx"
    download_info.value.save_as(template)
    book = load_workbook(template)
    sheet = book.worksheets[0]
    for row, values in enumerate(
        [["BR-1", "ブラウザ商品", 1200, 1500], ["BR-2", "価格が変", "千円"], ["BR-3", "三つ目", 800]], 2
    ):  # typed in as a person would, from row 2
        for column, value in enumerate(values, 1):
            sheet.cell(row=row, column=column, value=value)
    book.save(template)

    page.set_input_files("input[name=file]", str(template))
    page.click("[data-testid=upload-form] button[type=submit]")
    page.wait_for_selector("[data-testid=upload-summary]")
    shot(page, "bulk-result")

    assert "3 rows: 2 created, 0 updated, 1 products with problems" in page.inner_text("[data-testid=summary-line]")
    cells = page.locator("[data-testid=problems] tbody tr").first.locator("td").all_inner_texts()
    assert cells[:4] == ["単品 Single", "3", "C 販売価格 / Selling price", "千円"]
    assert "whole number" in cells[4]

    with page.expect_download() as report_info:
        page.click("[data-testid=report-link]")
    report = load_workbook(io.BytesIO(Path(report_info.value.path()).read_bytes()), read_only=True)
    rows = list(report["問題 Problems"].iter_rows(values_only=True))
    assert rows[1][:4] == ("単品 Single", 3, "C 販売価格 / Selling price", "千円")
    with live_kura.db.reader() as s:
        assert get_product_by_code(s, "BR-3").selling_price == 800
