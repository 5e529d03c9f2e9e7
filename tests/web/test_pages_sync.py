"""Rakuten order and stock pages: list filters and the Rakuten status column, the order's Rakuten block (packages,
timeline, hold, raw order masked for all but admins, Cancel on Rakuten), Sync Orders / Sync Stock, the order-sync
settings, the warehouse mapping and buffers, and what each store was last told about a SKU."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kura.catalog.models import Sku
from kura.catalog.service import ProductFields, create_single
from kura.channels.rakuten import orders as ordersync
from kura.channels.rakuten.orders import apply_order
from kura.db import Database
from kura.inventory import channel_stock
from kura.inventory.models import Warehouse
from kura.inventory.service import create_warehouse, receive
from kura.jobs.runs import JobRun
from kura.orders.models import Order
from kura.orders.service import create_store
from kura.stores.models import Binding, BindingEntity, Store
from kura.stores.warehouses import store_warehouse_ids
from tests.web.conftest import csrf_from
from tests.web.pages_support import post_form, sign_in_as, token

EN = {"Accept-Language": "en"}
PAYLOAD = Path(__file__).resolve().parents[1] / "channels" / "payloads" / "get_order.json"


def rakuten_model(number: str, progress: int, sku: str) -> dict[str, Any]:
    model = copy.deepcopy(json.loads(PAYLOAD.read_text())["OrderModelList"][0])
    model["orderNumber"], model["orderProgress"] = number, progress
    model["PackageModelList"][0]["ItemModelList"][0]["SkuModelList"][0]["merchantDefinedSkuId"] = sku
    if progress < 500:
        model["PackageModelList"][0]["ShippingModelList"] = []
    return model


def seed_rakuten(db: Database) -> dict[str, int]:
    """A Rakuten store with two imported orders (one waiting for shipping with a known SKU, one shipped with a
    SKU Kura does not know), a manual store with one order, and a warehouse with stock."""
    with db.transaction() as s:
        tokyo = create_warehouse(s, "TOKYO", "東京倉庫")
        create_warehouse(s, "OSAKA", "大阪倉庫")
        tee = create_single(s, "TEE01-M", ProductFields(name="Tシャツ M", selling_price=2980))
        receive(s, tokyo.id, "TEE01-M", 10, actor="test")
        rakuten = create_store(s, "楽天ショップ", "rakuten")
        manual = create_store(s, "店頭", "manual")
        apply_order(s, rakuten, rakuten_model("987654-20240503-0000000001", 300, "TEE01-M"), [tokyo.id])
        apply_order(s, rakuten, rakuten_model("987654-20240503-0000000002", 500, "GHOST-1"), [tokyo.id])
        orders = {o.order_number: o.id for o in s.scalars(select(Order))}
        return {"store": rakuten.id, "manual": manual.id, "tokyo": tokyo.id, "tee": tee.skus[0].id,
                "waiting": orders["987654-20240503-0000000001"],
                "shipped": orders["987654-20240503-0000000002"]}  # fmt: skip


def test_list_filters_by_store_and_rakuten_status_and_shows_it_beside_the_oms_status(
    signed_in: TestClient, db: Database
) -> None:
    ids = seed_rakuten(db)
    page = signed_in.get("/orders", headers=EN).text
    assert 'status-RFP">RFP</span> <span class="badge rakuten" data-testid="rakuten-status" data-progress="300"' in page
    assert 'title="Rakuten status">300 Waiting for shipping</span>' in page and ">500 Shipped</span>" in page
    assert "300 Waiting for shipping (1)" in page and "500 Shipped (1)" in page  # counts per Rakuten status
    only_shipped = signed_in.get("/orders?rakuten=500", headers=EN).text
    assert "0000000002" in only_shipped and "0000000001" not in only_shipped
    assert "No orders match" in signed_in.get(f"/orders?store={ids['manual']}", headers=EN).text
    by_store = signed_in.get(f"/orders?store={ids['store']}&q=GHOST", headers=EN).text
    assert "0000000002" in by_store and "0000000001" not in by_store
    part = signed_in.get("/orders?rakuten=300", headers={"HX-Request": "true", "HX-Target": "results"})
    assert "<html" not in part.text and "0000000001" in part.text
    assert "発送待ち" in signed_in.get("/orders", headers={"Accept-Language": "ja"}).text


def test_order_page_shows_packages_timeline_and_the_unknown_sku_hold(signed_in: TestClient, db: Database) -> None:
    ids = seed_rakuten(db)
    assert 'data-testid="rakuten-slot"' in signed_in.get(f"/orders/{ids['shipped']}", headers=EN).text
    block = signed_in.get(f"/orders/{ids['shipped']}/rakuten", headers=EN).text
    assert 'data-testid="order-rakuten-status" data-progress="500">500 Shipped' in block
    assert "On hold: unknown SKU" in block and "<code>GHOST-1</code>" in block
    assert "/products/new?type=single&amp;code=GHOST-1" in block
    assert "宅配便" in block and "14:00–16:00" in block and "〒150-0001" in block and "山田 花子 様" in block
    assert "4912-3456-7890" in block  # the package's shipment
    timeline = block.split('data-testid="timeline"')[1].split("</table>")[0]
    assert "500 Shipped" in timeline and "In transit" in timeline
    assert "Cancel on Rakuten" not in block  # shipped: Rakuten no longer cancels
    waiting = signed_in.get(f"/orders/{ids['waiting']}/rakuten", headers=EN).text
    assert 'data-testid="cancel-on-rakuten"' in waiting and "On hold" not in waiting


def test_a_manual_order_has_no_rakuten_block(signed_in: TestClient, db: Database) -> None:
    from tests.web.pages_support import seed_shop

    ids = seed_shop(db)
    assert signed_in.get(f"/orders/{ids['order']}/rakuten").text == ""


def test_raw_payload_is_whole_for_admins_and_masked_for_operators(
    signed_in: TestClient, app_client: TestClient, db: Database
) -> None:
    ids = seed_rakuten(db)
    admin_view = signed_in.get(f"/orders/{ids['waiting']}/rakuten", headers=EN).text
    assert 'data-masked="no"' in admin_view and "HANAKO YAMADA" in admin_view and "神宮前1-2-3" in admin_view
    app_client.cookies.clear()
    sign_in_as(app_client, db, "olivia", "operator")
    operator_view = app_client.get(f"/orders/{ids['waiting']}/rakuten", headers=EN).text
    raw = operator_view.split('data-testid="raw-payload"')[1]
    assert 'data-masked="yes"' in operator_view and "Personal data is shown to admins only." in raw
    for personal in ("HANAKO YAMADA", "神宮前1-2-3", "a1b2c3d4e5s1@pc.fw.rakuten.ne.jp", "090-1111-2222"):
        assert personal not in raw, personal
    assert "***" in raw and "東京都" in raw  # the prefecture identifies no one


def test_cancel_on_rakuten_needs_a_reason_and_reports_rakutens_answer(
    signed_in: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = seed_rakuten(db)
    csrf = token(signed_in, "/orders")
    url = f"/orders/{ids['waiting']}/cancel-on-rakuten"
    refused = post_form(signed_in, url, {"csrf_token": csrf, "reason": ""}, follow_redirects=False)
    assert refused.status_code == 303 and "rakuten_error=" in refused.headers["location"]
    calls: list[tuple[int, int, str | None]] = []
    monkeypatch.setattr(ordersync, "cancel_on_rakuten",
                        lambda db, order_id, reason, actor=None: calls.append((order_id, reason, actor)))  # fmt: skip
    done = post_form(signed_in, url, {"csrf_token": csrf, "reason": "8"}, follow_redirects=False)
    assert done.headers["location"].endswith("rakuten_done=cancelled") and calls == [(ids["waiting"], 8, "admin")]
    monkeypatch.undo()
    shipped = post_form(signed_in, f"/orders/{ids['shipped']}/cancel-on-rakuten", {"csrf_token": csrf, "reason": "8"},
                        follow_redirects=False)  # fmt: skip
    page = signed_in.get(shipped.headers["location"], headers=EN)
    error = signed_in.get(f"/orders/{ids['shipped']}/rakuten?error=" + shipped.headers["location"].split("=", 1)[1],
                          headers=EN).text  # fmt: skip
    assert page.status_code == 200 and "only before it ships" in error


def test_creating_the_unknown_sku_then_matching_again_lifts_the_hold(signed_in: TestClient, db: Database) -> None:
    ids = seed_rakuten(db)
    csrf = token(signed_in, "/orders")
    url = f"/orders/{ids['shipped']}/resolve-skus"
    first = post_form(signed_in, url, {"csrf_token": csrf}, follow_redirects=False)
    assert "rakuten_error=" in first.headers["location"]
    form = signed_in.get("/products/new?type=single&code=GHOST-1&name=Ghost", headers=EN).text
    assert 'name="code" value="GHOST-1"' in form
    with db.transaction() as s:
        create_single(s, "GHOST-1", ProductFields(name="Ghost", selling_price=100))
    assert (
        post_form(signed_in, url, {"csrf_token": csrf}, follow_redirects=False)
        .headers["location"]
        .endswith("rakuten_done=resolved")
    )
    with db.reader() as s:
        assert s.get_one(Order, ids["shipped"]).hold is None
    assert "On hold" not in signed_in.get(f"/orders/{ids['shipped']}/rakuten", headers=EN).text


def test_store_page_shows_the_order_and_stock_blocks(signed_in: TestClient, db: Database) -> None:
    ids = seed_rakuten(db)
    page = signed_in.get(f"/integrations/stores/{ids['store']}", headers=EN).text
    for testid in ("sync-orders", "sync-stock", "order-settings", "stock-sync", "store-warehouses", "buffers"):
        assert f'data-testid="{testid}"' in page, testid
    assert 'name="new_orders_interval_s" inputmode="numeric" value="300"' in page
    assert 'data-testid="pending-pushes"' in page and "No reconciliation yet" in page


def test_order_settings_refuse_an_interval_under_30_seconds_and_save_good_ones(
    signed_in: TestClient, db: Database
) -> None:
    ids = seed_rakuten(db)
    url = f"/integrations/stores/{ids['store']}/order-settings"
    csrf = token(signed_in, f"/integrations/stores/{ids['store']}")
    good = {"csrf_token": csrf, "history_days": "30", "new_orders_interval_s": "60", "status_interval_s": "600",
            "auto_confirm": "1", "packed_sub_status": "梱包済み"}  # fmt: skip
    fast = post_form(signed_in, url, {**good, "new_orders_interval_s": "10"}, headers=EN)
    assert fast.status_code == 422
    assert "The new-order check interval must be at least 30 seconds; got 10." in fast.text
    bad_days = post_form(signed_in, url, {**good, "history_days": "900"}, headers=EN)
    assert bad_days.status_code == 422 and "History days must be from 1 to 730" in bad_days.text
    saved = post_form(signed_in, url, good, headers=EN)
    assert saved.status_code == 200 and "Order sync settings saved." in saved.text
    with db.reader() as s:
        settings = ordersync.OrderSyncSettings.of(s.get_one(Store, ids["store"]))
    assert (settings.history_days, settings.new_orders_interval_s, settings.status_interval_s) == (30, 60, 600)
    assert settings.auto_confirm and settings.packed_sub_status == "梱包済み"
    post_form(signed_in, url, {**good, "auto_confirm": "", "packed_sub_status": ""})
    with db.reader() as s:
        settings = ordersync.OrderSyncSettings.of(s.get_one(Store, ids["store"]))
    assert not settings.auto_confirm and settings.packed_sub_status is None


def test_sync_orders_and_sync_stock_queue_runs_the_page_follows(signed_in: TestClient, db: Database) -> None:
    ids = seed_rakuten(db)
    base = f"/integrations/stores/{ids['store']}"
    csrf = token(signed_in, base)
    backwards = post_form(signed_in, base + "/sync/orders", {"csrf_token": csrf, "date_from": "2024-05-10",
                                                             "date_to": "2024-05-01"}, headers=EN)  # fmt: skip
    assert backwards.status_code == 422 and "to is before from" in backwards.text
    odd = post_form(signed_in, base + "/sync/orders", {"csrf_token": csrf, "date_from": "May 1"}, headers=EN)
    assert odd.status_code == 422 and "YYYY-MM-DD" in odd.text
    today = dt.date.today()
    started = post_form(signed_in, base + "/sync/orders", {"csrf_token": csrf, "date_from": str(today),
                                                           "date_to": str(today)}, follow_redirects=False)  # fmt: skip
    assert started.status_code == 303 and "?run=" in started.headers["location"]
    stock_run = post_form(signed_in, base + "/sync/stock", {"csrf_token": csrf}, follow_redirects=False)
    with db.reader() as s:
        kinds = [r.kind for r in s.scalars(select(JobRun).order_by(JobRun.id))]
    assert kinds[-2:] == [ordersync.KIND_SYNC, "rakuten.stock.sync"]
    page = signed_in.get(stock_run.headers["location"], headers=EN).text
    assert 'sse-connect="/integrations/runs/' in page


def test_warehouse_mapping_and_buffers_save_and_validate(signed_in: TestClient, db: Database) -> None:
    ids = seed_rakuten(db)
    base = f"/integrations/stores/{ids['store']}"
    csrf = token(signed_in, base)
    with db.reader() as s:
        osaka = next(w for w in s.scalars(select(Warehouse)) if w.code == "OSAKA").id
    saved = post_form(signed_in, base + "/warehouses", [("csrf_token", csrf), (f"feeds_{ids['tokyo']}", "1"),
                      (f"priority_{ids['tokyo']}", "2"), (f"feeds_{osaka}", "1"), (f"priority_{osaka}", "1")],
                      headers=EN)  # fmt: skip
    assert saved.status_code == 200 and "Warehouses saved." in saved.text
    with db.reader() as s:
        assert store_warehouse_ids(s, ids["store"]) == [osaka, ids["tokyo"]]  # lower priority number first
    bad = post_form(signed_in, base + "/warehouses", [("csrf_token", csrf), (f"feeds_{osaka}", "1"),
                                                      (f"priority_{osaka}", "first")], headers=EN)  # fmt: skip
    assert bad.status_code == 422 and "Priority must be a whole number" in bad.text
    too_much = post_form(signed_in, base + "/buffer", {"csrf_token": csrf, "mode": "percent", "value": "150"},
                         headers=EN)  # fmt: skip
    assert too_much.status_code == 422 and "A percent buffer is 0–100; got 150." in too_much.text
    default = post_form(signed_in, base + "/buffer", {"csrf_token": csrf, "mode": "percent", "value": "10"})
    assert default.status_code == 200
    unknown = post_form(signed_in, base + "/buffer/sku", {"csrf_token": csrf, "sku": "NOPE", "mode": "units",
                                                          "value": "1"}, headers=EN)  # fmt: skip
    assert unknown.status_code == 404
    page = post_form(signed_in, base + "/buffer/sku", {"csrf_token": csrf, "sku": "TEE01-M", "mode": "units",
                                                       "value": "5"}, headers=EN).text  # fmt: skip
    overrides = page.split('data-testid="buffer-overrides"')[1].split("</table>")[0]
    assert "<code>TEE01-M</code>" in overrides and "5 units" in overrides
    with db.reader() as s:
        store = s.get_one(Store, ids["store"])
        assert channel_stock.store_buffer(store) == channel_stock.Buffer(channel_stock.BufferMode.percent, 10)
        assert channel_stock.sku_buffers(s, ids["store"])[ids["tee"]].value == 5
    post_form(signed_in, base + "/buffer/sku", {"csrf_token": csrf, "sku": "TEE01-M", "clear": "1"})
    with db.reader() as s:
        assert channel_stock.sku_buffers(s, ids["store"]) == {}
    guard = page.split('data-testid="sales-guard"')[1].split("</form>")[0]
    assert 'name="on" value="1" checked' in guard  # on by default
    off = post_form(signed_in, base + "/sales-guard", {"csrf_token": csrf}, headers=EN)
    assert off.status_code == 200 and "Sales guard saved." in off.text
    assert 'value="1" checked' not in off.text.split('data-testid="sales-guard"')[1].split("</form>")[0]
    with db.reader() as s:
        assert s.get_one(Store, ids["store"]).settings["stock_sales_guard"] is False
    post_form(signed_in, base + "/sales-guard", {"csrf_token": csrf, "on": "1"})
    with db.reader() as s:
        assert s.get_one(Store, ids["store"]).settings["stock_sales_guard"] is True


def test_product_page_shows_what_each_store_was_last_told(signed_in: TestClient, db: Database) -> None:
    ids = seed_rakuten(db)
    pushed_at = dt.datetime(2025, 5, 1, 3, 0, tzinfo=dt.UTC)
    with db.transaction() as s:
        s.add(Binding(store_id=ids["store"], entity=BindingEntity.sku, local_id=ids["tee"],
                      external_id="demo-tee-01/tee01-m", data={"manage_number": "demo-tee-01",
                                                               "variant_id": "tee01-m"}))  # fmt: skip
        s.add(channel_stock.ChannelStock(store_id=ids["store"], sku_id=ids["tee"], pushed_qty=7, pushed_at=pushed_at))
        product_id = s.scalar(select(Sku.product_id).where(Sku.id == ids["tee"]))
    assert 'data-testid="channel-stock-slot"' in signed_in.get(f"/products/{product_id}", headers=EN).text
    block = signed_in.get(f"/products/{product_id}/channel-stock", headers=EN).text
    assert "楽天ショップ" in block and 'data-testid="pushed-qty">7<' in block and "2025-05-01 12:00:00" in block


def test_writes_need_the_csrf_token_and_the_right_role(app_client: TestClient, signed_in: TestClient,
                                                       db: Database) -> None:  # fmt: skip
    ids = seed_rakuten(db)
    base = f"/integrations/stores/{ids['store']}"
    no_token = post_form(signed_in, base + "/sync/stock", {}, headers=EN)
    assert no_token.status_code == 403 and "reload the page" in no_token.text
    app_client.cookies.clear()
    csrf = sign_in_as(app_client, db, "vera", "viewer")
    for url, form in ((base + "/sync/orders", {}), (base + "/sync/stock", {}), (base + "/buffer", {"mode": "units",
                      "value": "1"}), (f"/orders/{ids['waiting']}/cancel-on-rakuten", {"reason": "8"})):  # fmt: skip
        assert post_form(app_client, url, {"csrf_token": csrf, **form}).status_code == 403, url
    viewer_page = app_client.get(base, headers=EN).text
    assert 'data-testid="sync-orders"' not in viewer_page and 'data-testid="stock-sync"' in viewer_page
    assert "Cancel on Rakuten" not in app_client.get(f"/orders/{ids['waiting']}/rakuten", headers=EN).text
    app_client.cookies.clear()
    csrf = sign_in_as(app_client, db, "otto", "operator")
    assert post_form(app_client, base + "/order-settings", {"csrf_token": csrf, "history_days": "5"}).status_code == 403
    assert csrf_from(app_client.get(base).text) == csrf
    assert "Only an admin changes these settings." in app_client.get(base, headers=EN).text


def test_sync_pages_in_japanese(signed_in: TestClient, db: Database) -> None:
    ids = seed_rakuten(db)
    ja = {"Accept-Language": "ja"}
    store = signed_in.get(f"/integrations/stores/{ids['store']}", headers=ja).text
    for text in ("受注を同期", "在庫を同期", "受注同期", "この店舗に在庫を供給する倉庫", "安全在庫"):
        assert text in store, text
    block = signed_in.get(f"/orders/{ids['waiting']}/rakuten", headers=ja).text
    assert "300 発送待ち" in block and "楽天でキャンセル" in block and "14:00–16:00" in block
