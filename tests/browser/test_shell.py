"""The web shell in a real browser: sign in, navigate, switch language."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveKura, sign_in

pytestmark = pytest.mark.browser


def test_sign_in_and_switch_to_japanese(page: Any, live_kura: LiveKura, shot: Any) -> None:
    sign_in(page, live_kura, "en")
    assert page.locator("nav a[data-nav=products]").inner_text() == "Products"
    shot(page, "dashboard-en")
    page.click("text=日本語")
    page.wait_for_selector("nav a[data-nav=products]:has-text('商品')")
    shot(page, "dashboard-ja")
