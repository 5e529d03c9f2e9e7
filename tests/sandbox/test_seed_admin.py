"""Seeding (same seed → same shop, the variety a client must cope with), admin endpoints, persistence, CLI."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from rms_sandbox.app import create_app
from rms_sandbox.cli import build_parser, config_from_args
from rms_sandbox.config import SandboxConfig
from rms_sandbox.seed import seed_shop, shop_view
from tests.sandbox.conftest import START, Env, make_env


def dump(env: Env) -> dict[str, Any]:
    store = env.sb.store
    return {
        "shop": {k: env.shop[k] for k in ("shop_id", "shop_url", "service_secret", "license_key")},
        "items": [tuple(r) for r in store.query("SELECT manage_number, data FROM items ORDER BY manage_number")],
        "stock": [tuple(r) for r in store.query("SELECT manage_number, variant_id, quantity FROM inventory "
                                                "ORDER BY manage_number, variant_id")],
        "orders": [tuple(r) for r in store.query("SELECT order_number, progress, data FROM orders ORDER BY 1")],
    }


def test_same_seed_gives_the_same_shop() -> None:
    first, second, other = make_env(seed=42), make_env(seed=42), make_env(seed=43)
    assert dump(first) == dump(second)
    assert dump(first)["items"] != dump(other)["items"]
    assert dump(first)["shop"]["service_secret"] != dump(other)["shop"]["service_secret"]


@pytest.fixture(scope="module")
def big() -> dict[str, Any]:
    app = create_app(SandboxConfig(clock="manual", clock_start=START))
    sb = app.state.sandbox
    shop_id = seed_shop(sb, 42, 200, 3000)
    items = {r["manage_number"]: json.loads(r["data"]) for r in sb.store.query("SELECT * FROM items")}
    orders = [json.loads(r["data"]) for r in sb.store.query("SELECT data FROM orders")]
    stock = [r["quantity"] for r in sb.store.query("SELECT quantity FROM inventory")]
    return {"shop": shop_view(sb, shop_id), "items": items, "orders": orders, "stock": stock,
            "now": sb.clock.now(), "dts": [r[0] for r in sb.store.query("SELECT order_dt FROM orders")]}


def test_seeded_catalog_has_the_variety_a_client_meets(big: dict[str, Any]) -> None:
    items = big["items"].values()
    assert all(any("\u3040" <= ch <= "\u9fff" or "\u30a0" <= ch <= "\u30ff" for ch in i["title"]) for i in items)
    axes = Counter(len(i.get("variantSelectors") or []) for i in items)
    assert axes[0] and axes[1] and axes[2]
    image_types = {img["type"] for i in items for img in i["images"]}
    assert image_types == {"CABINET", "GOLD"}
    assert any(i["hideItem"] for i in items)
    variants = [v for i in items for v in i["variants"].values()]
    skus = Counter(v["merchantDefinedSkuId"] for v in variants if "merchantDefinedSkuId" in v)
    assert any(n > 1 for n in skus.values())
    assert any("merchantDefinedSkuId" not in v for v in variants)
    assert any("referencePrice" in v for v in variants)
    assert 0 in big["stock"] and max(big["stock"]) > 0


def test_seeded_orders_cover_the_lifecycle(big: dict[str, Any]) -> None:
    orders = big["orders"]
    assert len(orders) == 3000
    assert {o["orderProgress"] for o in orders} == {100, 200, 300, 400, 500, 600, 700, 800, 900}
    assert min(big["dts"]) >= big["now"] - 120 * 86400 and max(big["dts"]) <= big["now"]
    assert any(len(o["PackageModelList"]) > 1 for o in orders)
    assert any(o["CouponModelList"] for o in orders)
    assert any(o["PointModel"]["usedPoint"] > 0 for o in orders)
    assert any(o["totalPrice"] == -9999 and o["orderProgress"] == 100 for o in orders)
    shipped = [o for o in orders if o["orderProgress"] in (500, 600, 700)]
    assert all(o["PackageModelList"][0]["ShippingModelList"] for o in shipped)


def test_admin_shops_and_credentials(env: Env) -> None:
    listed = env.client.get("/_sandbox/shops").json()["shops"]
    assert [s["shop_url"] for s in listed] == [env.shop["shop_url"]]
    assert {"shop_url", "service_secret", "license_key", "shop_id"} <= set(listed[0])
    created = env.client.post("/_sandbox/shops", json={"seed": 5, "items": 3, "orders": 4})
    assert created.status_code == 201 and created.json()["items"] == 3 and created.json()["orders"] == 4
    assert len(env.client.get("/_sandbox/shops").json()["shops"]) == 2
    env.client.post("/_sandbox/reset", json={})
    assert env.client.get("/_sandbox/shops").json()["shops"] == []
    reseeded = env.client.post("/_sandbox/reset", json={"seed": 7, "items": 30, "orders": 200}).json()["shop"]
    assert reseeded["service_secret"] == env.shop["service_secret"]


def test_writes_log_records_client_writes(env: Env) -> None:
    body = {"inventories": [{"manageNumber": "kura-00001", "variantId": "zz", "mode": "ABSOLUTE", "quantity": 4}]}
    env.send("POST", "/es/2.0/inventories/bulk-upsert", body)
    env.get("/es/2.0/items/search")  # reads are not writes
    writes = env.client.get(f"/_sandbox/shops/{env.shop['shop_id']}/writes").json()["writes"]
    assert len(writes) == 1
    assert writes[0]["function"] == "inventories.bulk.upsert" and writes[0]["body"] == body
    assert writes[0]["status"] == 204 and writes[0]["at"]["jst"].endswith("+09:00")
    stock = env.client.get(f"/_sandbox/shops/{env.shop['shop_id']}/stock", params={"sku": "zz"}).json()["stock"]
    assert stock == [{"manageNumber": "kura-00001", "variantId": "zz", "merchantDefinedSkuId": None,
                      "quantity": 4, "updated": stock[0]["updated"]}]


def test_clock_endpoints(env: Env) -> None:
    clock = env.client.get("/_sandbox/clock").json()
    assert clock["mode"] == "manual" and clock["now"] == "2025-06-02T10:00:00+09:00"
    advanced = env.client.post("/_sandbox/clock/advance", json={"seconds": 3600}).json()
    assert advanced["now"] == "2025-06-02T11:00:00+09:00"
    assert env.client.post("/_sandbox/clock/advance", json={"seconds": -1}).status_code == 400


def test_admin_is_never_under_es(env: Env) -> None:
    assert env.client.get("/es/_sandbox/shops").status_code == 404


def test_state_survives_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "sandbox.db")
    config = SandboxConfig(db_path=db, clock="manual", clock_start=START)
    app = create_app(config)
    shop = shop_view(app.state.sandbox, seed_shop(app.state.sandbox, 9, 5, 10))
    app.state.sandbox.clock.advance(100)
    app.state.sandbox.store.close()
    again = create_app(SandboxConfig(db_path=db, clock="manual", clock_start=START))
    kept = shop_view(again.state.sandbox, shop["shop_id"])
    assert kept["license_key"] == shop["license_key"] and kept["items"] == 5 and kept["orders"] == 10
    assert again.state.sandbox.clock.now() == app.state.sandbox.clock.now()


def test_cli_arguments() -> None:
    args = build_parser().parse_args(["--seed", "42", "--items", "500", "--orders", "3000", "--no-rate-limits",
                                      "--clock", "manual", "--order-rate", "10", "--db", ":memory:"])
    config = config_from_args(args)
    assert (args.seed, args.items, args.orders) == (42, 500, 3000)
    assert config.rate_limits_enabled is False and config.clock == "manual" and config.order_rate_per_hour == 10
