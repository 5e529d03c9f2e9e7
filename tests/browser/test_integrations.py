"""Connect a sandbox shop through the Integrations page, watch the import finish over SSE, see its products."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rms_sandbox.config import SandboxConfig
from rms_sandbox.testing import RunningSandbox, running_sandbox
from tests.browser.conftest import LiveKura, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def rms() -> Iterator[RunningSandbox]:
    config = SandboxConfig(db_path=":memory:", clock="manual", rate_limits_enabled=False)
    with running_sandbox(config=config, seed=7, items=40, orders=0) as sandbox:
        yield sandbox


# `rms` before `live_kura` (here and in test_sync_pages): fixtures end in the reverse order, so the sandbox outlives
# Kura and Kura's embedded jobs never call a stopped sandbox (a job retrying into one outlived the test).
def test_connect_a_shop_watch_the_import_and_see_products(page: Any, rms: RunningSandbox, live_kura: LiveKura,
                                                          shot: Any) -> None:  # fmt: skip
    sign_in(page, live_kura)
    page.goto(f"{live_kura.url}/integrations")
    page.fill("input[name=name]", "Sandbox shop")
    page.fill("input[name=shop_url]", f"https://www.rakuten.co.jp/{rms.shop['shop_url']}/")
    page.fill("input[name=license_key]", rms.shop["license_key"])
    page.fill("input[name=service_secret]", rms.shop["service_secret"])
    page.fill("input[name=api_base_url]", rms.base_url)
    page.click("[data-testid=connect-rakuten] button[type=submit]")
    page.wait_for_url("**/integrations/stores/*")
    page.wait_for_selector("[data-testid=run-progress][data-status=done]", timeout=60_000)
    assert page.inner_text("[data-testid=run-done]") == "40"
    shot(page, "imported")
    html = page.content()
    assert rms.shop["license_key"] not in html and rms.shop["service_secret"] not in html
    page.goto(f"{live_kura.url}/products")
    assert "No." in page.content()  # the sandbox's item titles
    shot(page, "products")
