"""The sandbox over real HTTP (uvicorn in a thread), as other test suites use it through running_sandbox."""

from __future__ import annotations

import httpx

from rms_sandbox.config import SandboxConfig
from rms_sandbox.testing import running_sandbox


def test_running_sandbox_serves_rms_and_admin_over_http() -> None:
    config = SandboxConfig(clock="manual", clock_start="2025-06-02T10:00:00+09:00", rate_limits_enabled=False)
    with running_sandbox(config=config, seed=11, items=10, orders=30) as sandbox:
        assert sandbox.base_url.startswith("http://127.0.0.1:")
        assert set(sandbox.shop) >= {"shop_url", "service_secret", "license_key", "shop_id"}
        with httpx.Client(base_url=sandbox.base_url, headers=sandbox.auth_header) as http:
            search = http.post("/es/2.0/order/searchOrder/", json={
                "dateType": 1, "startDatetime": "2025-05-01T00:00:00+0900",
                "endDatetime": "2025-06-02T10:00:00+0900"})
            assert search.status_code == 200
            numbers = search.json()["orderNumberList"]
            orders = http.post("/es/2.0/order/getOrder/", json={"orderNumberList": numbers[:5], "version": 10})
            assert [o["orderNumber"] for o in orders.json()["OrderModelList"]] == numbers[:5]
            assert http.get("/es/2.0/items/search").json()["numFound"] == 10
            upsert = http.post("/es/2.0/inventories/bulk-upsert", json={"inventories": [
                {"manageNumber": "kura-00001", "variantId": "x1", "mode": "ABSOLUTE", "quantity": 9}]})
            assert upsert.status_code == 204
        assert sandbox.admin.stock(sandbox.shop["shop_url"], sku="x1")[0]["quantity"] == 9
        assert [w["function"] for w in sandbox.admin.writes(sandbox.shop["shop_url"])] == ["inventories.bulk.upsert"]
        assert sandbox.admin.advance(60)["now"] == "2025-06-02T10:01:00+09:00"
        stats = {s["function"]: s["requests"] for s in sandbox.admin.stats()}
        assert stats["rpay.order.getOrder"] == 1 and stats["items.search"] == 1
        assert sandbox.admin.shops()[0]["shop_url"] == sandbox.shop["shop_url"]


def test_real_clock_marketplace_runs_in_the_background() -> None:
    config = SandboxConfig(clock="real", order_rate_per_hour=36000, market_tick_s=0.05)
    with running_sandbox(config=config, seed=12, items=10, orders=0) as sandbox:
        deadline = 50
        while deadline and sandbox.admin.shops()[0]["orders"] == 0:
            import time

            time.sleep(0.1)
            deadline -= 1
        assert sandbox.admin.shops()[0]["orders"] > 0
