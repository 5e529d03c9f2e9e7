"""The main pages in a real browser: a group product with six variants, stock, search, a transfer, an order."""

from __future__ import annotations

from typing import Any

import pytest

from kura.inventory.service import available
from tests.browser.conftest import LiveKura, sign_in
from tests.web.pages_support import seed_shop

pytestmark = pytest.mark.browser


def _add_warehouse(page: Any, live: LiveKura, code: str, name: str) -> None:
    page.goto(f"{live.url}/inventory/warehouses")
    page.fill("[data-testid=warehouse-form] input[name=code]", code)
    page.fill("[data-testid=warehouse-form] input[name=name]", name)
    page.click("[data-testid=warehouse-form] button[type=submit]")
    page.wait_for_selector(f"[data-testid=warehouses] td:has-text('{name}')")


def test_group_product_with_six_variants_stock_and_search(page: Any, live_kura: LiveKura, shot: Any) -> None:
    sign_in(page, live_kura, "ja")
    _add_warehouse(page, live_kura, "TOKYO", "東京倉庫")

    page.goto(f"{live_kura.url}/products/new?type=group")
    page.fill("input[name=code]", "TSHIRT")
    page.fill("input[name=name]", "オーガニック Tシャツ")
    page.fill("input[name=selling_price]", "2980")
    page.fill("input[name=brand]", "Kura")
    page.fill("input[name=axis_name_1]", "カラー")
    page.fill("input[name=axis_values_1]", "赤, 青, 白")
    page.fill("input[name=axis_name_2]", "サイズ")
    page.fill("input[name=axis_values_2]", "M, L")
    page.click("[data-testid=make-variants]")
    page.wait_for_selector("[data-testid=variant-rows] tbody tr >> nth=5")
    assert page.locator("[data-testid=variant-rows] tbody tr").count() == 6
    page.fill("[data-testid=variant-rows] tbody tr >> nth=0 >> input[name=variant_price]", "3280")
    shot(page, "1-variant-rows")
    page.click("[data-testid=save]")
    page.wait_for_selector("[data-testid=variants]")
    assert page.locator("[data-testid=variants] tbody tr").count() == 6
    assert "￥3,280" in page.content() or "¥3,280" in page.content()
    shot(page, "2-product-created")

    page.click("[data-testid=stock] a:has-text('在庫を追加') >> nth=0")
    page.wait_for_selector("[data-testid=adjust-form]")
    assert page.input_value("[data-testid=adjust-form] input[name=sku]") == "TSHIRT-赤-M"
    page.select_option("[data-testid=adjust-form] select[name=reason]", "receipt")
    page.fill("[data-testid=adjust-form] input[name=change]", "12")
    page.click("[data-testid=adjust-form] button[type=submit]")
    page.wait_for_selector("[data-testid=stock-list] td:has-text('TSHIRT-赤-M')")
    shot(page, "3-stock-adjusted")
    with live_kura.db.reader() as s:
        assert available(s, "TSHIRT-赤-M") == 12

    page.goto(f"{live_kura.url}/products")
    page.fill("input[name=q]", "tshirt")  # htmx filters as you type
    page.wait_for_url(lambda url: "q=tshirt" in url)
    page.wait_for_selector("[data-testid=product-list] td:has-text('TSHIRT')")
    shot(page, "4-found-in-list")


def test_transfer_between_warehouses(page: Any, live_kura: LiveKura, shot: Any) -> None:
    seed_shop(live_kura.db)
    sign_in(page, live_kura, "en")
    page.goto(f"{live_kura.url}/inventory?sku=TEE-RED")
    form = "[data-testid=transfer-form]"
    page.select_option(f"{form} select[name=from_warehouse_id]", label="TOKYO")
    page.select_option(f"{form} select[name=to_warehouse_id]", label="OSAKA")
    page.fill(f"{form} input[name=quantity]", "99")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("[data-testid=form-error]")
    shot(page, "1-refused")
    page.fill(f"{form} input[name=quantity]", "4")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("text=The transfer was done")
    shot(page, "2-transferred")
    with live_kura.db.reader() as s:
        assert available(s, "TEE-RED") == 10


def test_order_status_change(page: Any, live_kura: LiveKura, shot: Any) -> None:
    ids = seed_shop(live_kura.db)
    sign_in(page, live_kura, "ja")
    page.goto(f"{live_kura.url}/orders")
    page.click("text=R-100")
    page.wait_for_selector("[data-testid=orderer]")
    shot(page, "1-order")
    page.click("button:has-text('在庫を引き当てる')")
    page.wait_for_selector("[data-testid=order-status]:has-text('ピッキング待ち')")
    page.click("button[data-to=Packed]")
    page.wait_for_selector("[data-testid=order-status]:has-text('梱包済')")
    shot(page, "2-packed")
    assert page.locator("[data-testid=history] tbody tr").count() == 3
    assert ids["order"]
