"""Rakuten order and stock pages in a browser: connect a sandbox shop, import its orders with Sync Orders, see
them listed with their Rakuten statuses, open one, map the store's warehouses, set a buffer, Sync Stock, see the
last push."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from kura.db import utcnow
from rms_sandbox.config import SandboxConfig
from rms_sandbox.testing import RunningSandbox, running_sandbox
from tests.browser.conftest import LiveKura, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def rms() -> Iterator[RunningSandbox]:
    config = SandboxConfig(db_path=":memory:", clock="manual", rate_limits_enabled=False)
    with running_sandbox(config=config, seed=11, items=12, orders=0) as sandbox:
        sandbox.admin.http.put("/_sandbox/clock", json={"now": utcnow().isoformat()}).raise_for_status()
        yield sandbox


def connect(page: Any, live: LiveKura, rms: RunningSandbox) -> str:
    page.goto(f"{live.url}/integrations")
    page.fill("input[name=name]", "Sandbox shop")
    page.fill("input[name=shop_url]", f"https://www.rakuten.co.jp/{rms.shop['shop_url']}/")
    page.fill("input[name=license_key]", rms.shop["license_key"])
    page.fill("input[name=service_secret]", rms.shop["service_secret"])
    page.fill("input[name=api_base_url]", rms.base_url)
    page.click("[data-testid=connect-rakuten] button[type=submit]")
    page.wait_for_url("**/integrations/stores/*")
    page.wait_for_selector("[data-testid=run-progress][data-status=done]", timeout=60_000)
    return str(page.url.split("?")[0])


def place_orders(rms: RunningSandbox) -> list[str]:
    """Orders placed over the last days; moving the clock to now lets the marketplace move the older ones on."""
    now = utcnow()
    numbers = []
    for i, hours in enumerate((72, 30, 6, 0.1)):
        at = (now - dt.timedelta(hours=hours)).isoformat()
        numbers.append(rms.admin.place_order(rms.shop["shop_url"], at=at, seed=i)["orderNumber"])
    rms.admin.http.put("/_sandbox/clock", json={"now": utcnow().isoformat()}).raise_for_status()
    return numbers


def test_sync_orders_see_rakuten_statuses_then_map_warehouses_buffer_and_sync_stock(
    page: Any, rms: RunningSandbox, live_kura: LiveKura, shot: Any  # rms first: it outlives Kura's jobs
) -> None:
    sign_in(page, live_kura)
    store_url = connect(page, live_kura, rms)
    numbers = place_orders(rms)

    page.click("[data-testid=sync-orders]")
    page.wait_for_url("**/integrations/stores/*?run=*")
    page.wait_for_selector("[data-testid=run-progress][data-status=done]", timeout=60_000)
    shot(page, "orders-synced")

    page.goto(f"{live_kura.url}/orders")
    listed = page.inner_text("[data-testid=order-list]")
    for number in numbers:
        assert number in listed, number
    badges = page.locator("[data-testid=rakuten-status]")
    assert badges.count() >= len(numbers)
    progresses = {badges.nth(i).get_attribute("data-progress") for i in range(badges.count())}
    shot(page, "order-list")
    chosen = sorted(progresses)[0]
    page.select_option("[data-testid=filter-rakuten]", chosen)
    page.wait_for_url(f"**rakuten={chosen}**")
    page.wait_for_timeout(300)
    filtered = page.locator("[data-testid=rakuten-status]")
    assert filtered.count() >= 1
    assert {filtered.nth(i).get_attribute("data-progress") for i in range(filtered.count())} == {chosen}

    page.click(f"[data-testid=order-list] a:has-text('{numbers[0]}')")
    page.wait_for_selector("[data-testid=rakuten-block]")
    assert page.get_attribute("[data-testid=order-rakuten-status]", "data-progress")
    assert page.locator("[data-testid=package]").count() >= 1
    assert page.locator("[data-testid=timeline] tbody tr").count() >= 1
    page.click("[data-testid=raw-payload] summary")
    assert numbers[0] in page.inner_text("[data-testid=raw-payload] pre")
    shot(page, "order-detail")

    page.goto(store_url)
    rows = page.locator("[data-testid=warehouse-row]")
    assert rows.count() >= 1
    first = rows.nth(0)
    first.locator("input[type=checkbox]").check()
    first.locator("input[name^=priority_]").fill("1")
    page.click("[data-testid=save-warehouses]")
    page.wait_for_selector("[data-testid=notice]")
    assert page.locator("[data-testid=warehouse-row]").nth(0).locator("input[type=checkbox]").is_checked()
    page.fill("[data-testid=buffers] form.row input[name=value] >> nth=0", "1")
    page.click("[data-testid=save-buffer]")
    page.wait_for_selector("[data-testid=notice]")
    assert page.input_value("[data-testid=buffers] input[name=value] >> nth=0") == "1"

    page.click("[data-testid=sync-stock]")
    page.wait_for_url("**/integrations/stores/*?run=*")
    page.wait_for_selector("[data-testid=run-progress][data-status=done]", timeout=60_000)
    page.reload()
    last_push = page.inner_text("[data-testid=last-push]")
    assert last_push.strip() not in ("", "—"), last_push
    shot(page, "stock-synced")
