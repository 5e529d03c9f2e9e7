"""The living marketplace: buyers take stock as Rakuten does, orders move on their own, buyers cancel."""

from __future__ import annotations

from rms_sandbox.config import SandboxConfig
from tests.sandbox.conftest import START, Env, make_env


def stock_map(env: Env) -> dict[tuple[str, str], int]:
    rows = env.client.get(f"/_sandbox/shops/{env.shop['shop_url']}/stock").json()["stock"]
    return {(r["manageNumber"], r["variantId"]): r["quantity"] for r in rows}


def test_a_sold_out_sku_cannot_be_bought(env: Env) -> None:
    shop = env.shop["shop_url"]
    (mn, vid), _ = next((k, q) for k, q in stock_map(env).items() if q > 0)
    env.client.put(f"/_sandbox/shops/{shop}/stock", json={"stock": [{"manageNumber": mn, "variantId": vid,
                                                                      "quantity": 2}]})
    order = {"items": [{"manageNumber": mn, "variantId": vid, "units": 2}]}
    response = env.client.post(f"/_sandbox/shops/{shop}/orders", json=order)
    if response.status_code == 409:  # hidden item/variant: not on sale at all
        assert "not on sale" in response.json()["error"]
        return
    assert response.status_code == 201
    assert stock_map(env)[(mn, vid)] == 0
    again = env.client.post(f"/_sandbox/shops/{shop}/orders", json={"items": [{"manageNumber": mn, "variantId": vid}]})
    assert again.status_code == 409 and stock_map(env)[(mn, vid)] == 0


def test_hidden_items_cannot_be_bought(env: Env) -> None:
    env.send("PATCH", "/es/2.0/items/manage-numbers/kura-00005", {"hideItem": True})
    vid = next(iter(env.get("/es/2.0/items/manage-numbers/kura-00005").json()["variants"]))
    response = env.client.post(f"/_sandbox/shops/{env.shop['shop_url']}/orders",
                               json={"items": [{"manageNumber": "kura-00005", "variantId": vid}]})
    assert response.status_code == 409


def test_buyers_order_at_the_configured_rate_and_never_oversell() -> None:
    config = SandboxConfig(clock="manual", clock_start=START, rate_limits_enabled=False, order_rate_per_hour=120,
                           auto_confirm_after_s=600)
    env = make_env(config, orders=0)
    before = stock_map(env)
    result = env.client.post("/_sandbox/clock/advance", json={"seconds": 3600}).json()
    assert 80 <= result["orders"] + result["sold_out"] <= 170
    after = stock_map(env)
    assert all(q >= 0 for q in after.values())
    orders = env.sb.store.query("SELECT data FROM orders")
    assert len(orders) == result["orders"]
    import json
    sold: dict[tuple[str, str], int] = {}
    for row in orders:
        for package in json.loads(row["data"])["PackageModelList"]:
            for item in package["ItemModelList"]:
                key = (item["manageNumber"], item["SkuModelList"][0]["variantId"])
                sold[key] = sold.get(key, 0) + item["units"]
    for key, units in sold.items():
        assert before[key] - after[key] == units
    progress = {r[0] for r in env.sb.store.query("SELECT progress FROM orders")}
    assert progress <= {100, 200, 300} and 300 in progress  # auto-confirmed and processed on their own


def test_buyers_cancel_at_the_configured_share() -> None:
    config = SandboxConfig(clock="manual", clock_start=START, rate_limits_enabled=False, buyer_cancel_share=1.0,
                           buyer_cancel_after_s=60, cancel_confirm_after_s=60)
    env = make_env(config, orders=0)
    number = env.client.post(f"/_sandbox/shops/{env.shop['shop_url']}/orders", json={"seed": 1}).json()["orderNumber"]
    env.client.post("/_sandbox/clock/advance", json={"seconds": 61})
    assert env.client.get(f"/_sandbox/shops/{env.shop['shop_url']}/orders/{number}").json()["orderProgress"] == 800
    env.client.post("/_sandbox/clock/advance", json={"seconds": 61})
    assert env.client.get(f"/_sandbox/shops/{env.shop['shop_url']}/orders/{number}").json()["orderProgress"] == 900


def test_the_marketplace_replays_the_same_way() -> None:
    results = []
    for _ in range(2):
        config = SandboxConfig(clock="manual", clock_start=START, order_rate_per_hour=60, market_seed=3)
        env = make_env(config, orders=0)
        env.client.post("/_sandbox/clock/advance", json={"seconds": 7200})
        results.append([tuple(r) for r in env.sb.store.query("SELECT order_number, order_dt, data FROM orders")])
    assert results[0] == results[1] and results[0]


def test_market_settings_change_at_run_time(env: Env) -> None:
    env.client.put("/_sandbox/config", json={"order_rate_per_hour": 3600})
    result = env.client.post("/_sandbox/clock/advance", json={"seconds": 60}).json()
    assert result["orders"] + result["sold_out"] > 20
    assert env.client.put("/_sandbox/config", json={"nope": 1}).status_code == 400
