"""A stock sheet in a real browser: download the template, fill it in, upload it on the inventory page, see the
refusal of a sheet that goes below zero and then the new levels in the table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kura.inventory.service import available
from tests.browser.conftest import LiveKura, sign_in
from tests.web.pages_support import seed_shop

pytestmark = pytest.mark.browser
FORM = "[data-testid=sheet-form]"


def _upload(page: Any, sheet: Path) -> None:
    page.select_option(f"{FORM} select[name=warehouse_id]", label="TOKYO — 東京倉庫")
    page.set_input_files(f"{FORM} input[name=file]", str(sheet))
    page.click(f"{FORM} button[type=submit]")


def test_upload_a_stock_sheet_and_see_the_new_levels(page: Any, live_kura: LiveKura, shot: Any,
                                                     tmp_path: Path) -> None:  # fmt: skip
    ids = seed_shop(live_kura.db)  # TOKYO: TEE-RED 10, MUG-1 3
    sign_in(page, live_kura, "en")
    page.goto(f"{live_kura.url}/inventory")
    with page.expect_download() as download_info:
        page.click("[data-testid=sheet-template]")
    header = Path(download_info.value.path()).read_text(encoding="utf-8-sig").splitlines()[0]
    assert header == "sku,kind,quantity,reference,note"

    sheet = tmp_path / "入荷.csv"
    sheet.write_text(f"{header}\nTEE-RED,receipt,7,GR-9,入荷\nMUG-1,adjustment,-5,,破損\n", encoding="utf-8")
    _upload(page, sheet)
    page.wait_for_selector("[data-testid=form-error]")
    assert "Line 3 (MUG-1, adjustment -5)" in page.inner_text("[data-testid=form-error]")
    shot(page, "1-refused")
    with live_kura.db.reader() as s:
        assert available(s, "TEE-RED", [ids["tokyo"]]) == 10  # nothing of the refused sheet was applied

    sheet.write_text(f"{header}\nTEE-RED,receipt,7,GR-9,入荷\nMUG-1,count,1,,棚卸し\n", encoding="utf-8")
    _upload(page, sheet)
    page.wait_for_selector("[data-testid=sheet-done]")
    assert "2 lines, 2 of them changed stock" in page.inner_text("[data-testid=sheet-done]")
    on_hand = page.locator("[data-testid=stock-list] tbody tr", has_text="TEE-RED").locator("td.num").first
    assert on_hand.inner_text() == "17"
    shot(page, "2-applied")
    with live_kura.db.reader() as s:
        assert available(s, "MUG-1", [ids["tokyo"]]) == 1
