"""Kura's RMS client against the RMS sandbox over real HTTP.

The two were written separately from `reference/rakuten-rms-api.md`; every test here checks that
they read it the same way. Numbers in the test names follow tests/channels/SANDBOX_TODO.md (now
retired): 1 ESA … 14 trailing slash, then paging under faults and limits.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from kura.channels.rakuten.client import (
    BasketShipping,
    InventoryUpdate,
    OrderQuery,
    RmsSettings,
    ShippingRow,
)
from kura.channels.rakuten.errors import InvalidRequest, NotFound, Permanent, Retryable, Suspended
from kura.channels.rakuten.mapping import listing_from_rakuten
from kura.ratelimit import RateLimiter
from rms_sandbox.testing import RunningSandbox
from tests.integration.conftest import (
    SEED_ITEMS,
    SEED_ORDERS,
    ClientFactory,
    sandbox_now,
    stats_for,
)

NewShop = Callable[..., dict[str, Any]]
DAY = timedelta(days=1)

# The reference's composed items.upsert example (§2.8), trimmed to what round-trips through mapping.
TEE: dict[str, Any] = {
    "itemNumber": "TEE-01",
    "title": "Organic cotton T-shirt",
    "tagline": "Soft and breathable",
    "itemType": "NORMAL",
    "genreId": "100371",
    "images": [{"type": "CABINET", "location": "/tees/tee01_main.jpg", "alt": "front"}],
    "hideItem": False,
    "payment": {"taxIncluded": True, "taxRate": "0.1", "cashOnDeliveryFeeIncluded": False},
    "variantSelectors": [
        {"key": "size", "displayName": "Size", "values": [{"displayValue": "M"}, {"displayValue": "L"}]}
    ],
    "variants": {
        "tee01-m": {
            "merchantDefinedSkuId": "TEE01-M",
            "selectorValues": {"size": "M"},
            "standardPrice": "2980",
            "referencePrice": {"displayType": "REFERENCE_PRICE", "type": 1, "value": "3480"},
            "articleNumber": {"exemptionReason": 3},
            "shipping": {"postageIncluded": True},
            "hidden": False,
        },
        "tee01-l": {
            "merchantDefinedSkuId": "TEE01-L",
            "selectorValues": {"size": "L"},
            "standardPrice": "3180",
            "articleNumber": {"exemptionReason": 3},
            "shipping": {"postageIncluded": True},
            "hidden": False,
        },
    },
}


def seeded_manage_numbers(n: int = SEED_ITEMS) -> list[str]:
    return [f"kura-{i:05d}" for i in range(1, n + 1)]


def own_orders(sandbox: RunningSandbox, shop_id: int, start: datetime, end: datetime, date_type: int = 1) -> list[str]:
    """The sandbox's own list of a shop's orders in [start, end] (order date), read from its store."""
    column = {1: "order_dt"}[date_type]
    rows = sandbox.app.state.sandbox.store.query(
        f"SELECT order_number FROM orders WHERE shop_id = ? AND {column} BETWEEN ? AND ? ORDER BY order_number",
        (shop_id, start.timestamp(), end.timestamp()),
    )
    return [r["order_number"] for r in rows]


def place_orders(sandbox: RunningSandbox, shop: dict[str, Any], n: int) -> list[str]:
    return [sandbox.admin.place_order(shop["shop_id"], seed=i)["orderNumber"] for i in range(n)]


def progress_of(sandbox: RunningSandbox, shop: dict[str, Any], number: str) -> int:
    return int(sandbox.admin.order(shop["shop_id"], number)["orderProgress"])


# --- 1, 2: ESA and licence -------------------------------------------------------------------------


def test_01_esa_right_keys_pass_wrong_secret_and_expired_key_suspend(
    sandbox: RunningSandbox, new_shop: NewShop, client_for: ClientFactory
) -> None:
    shop = new_shop(items=2)
    assert client_for(shop).client.get_item("kura-00001")["manageNumber"] == "kura-00001"

    wrong = client_for({**shop, "service_secret": shop["service_secret"] + "x"})
    with pytest.raises(Suspended) as caught:
        wrong.client.get_item("kura-00001")
    assert caught.value.status == 401
    assert caught.value.code == "ES01-01"
    assert len(wrong.calls) == 1  # never retried

    expired_at = sandbox.admin.clock()["epoch"] - 1
    sandbox.admin.set_license(shop["shop_id"], expires_at=expired_at)
    with pytest.raises(Suspended) as caught:
        client_for(shop).client.get_item("kura-00001")
    assert caught.value.code == "ES01-01"


def test_02_licence_expiry_is_read_from_the_sandbox(sandbox: RunningSandbox, client_for: ClientFactory) -> None:
    expiry = client_for().client.get_license_expiry()
    view = sandbox.admin.http.get(f"/_sandbox/shops/{sandbox.shop['shop_id']}").json()
    assert expiry.expires_at is not None, expiry.raw
    assert expiry.expires_at.utcoffset() == timedelta(hours=9)
    assert abs(expiry.expires_at.timestamp() - view["license_expires_at"]["epoch"]) < 1
    # 90 days [C] §1.2 after the key was issued at the sandbox's start
    issued = datetime.fromisoformat("2025-06-02T10:00:00+09:00")
    assert expiry.expires_at - issued == timedelta(days=90)


# --- 3, 4: items ------------------------------------------------------------------------------------


def test_03_item_upsert_get_patch_delete_round_trip(
    sandbox: RunningSandbox, new_shop: NewShop, client_for: ClientFactory
) -> None:
    shop = new_shop(items=0)
    c = client_for(shop).client
    assert c.upsert_item("Demo-Tee-01", copy.deepcopy(TEE)) is True  # 201: created
    assert c.upsert_item("demo-tee-01", copy.deepcopy(TEE)) is False  # 204: replaced

    item = c.get_item("demo-tee-01")
    listing = listing_from_rakuten(item, shop["shop_url"])
    assert listing.manage_number == "demo-tee-01"  # upper case folded to lower [C] §2.2
    assert listing.title == TEE["title"]
    assert listing.item_number == "TEE-01"
    assert listing.hidden is False
    assert listing.tax_rate == "0.1"
    assert [s.key for s in listing.selectors] == ["size"]
    assert listing.selectors[0].values == ("M", "L")
    prices = {v.variant_id: v.standard_price for v in listing.variants}
    assert prices == {"tee01-m": 2980, "tee01-l": 3180}
    skus = {v.variant_id: (v.sku, v.selector_values) for v in listing.variants}
    assert skus["tee01-m"] == ("TEE01-M", {"size": "M"})
    ref = next(v.reference_price for v in listing.variants if v.variant_id == "tee01-m")
    assert ref is not None and (ref.display_type, ref.kind, ref.amount) == ("REFERENCE_PRICE", 1, 3480)
    assert listing.images == (f"https://image.rakuten.co.jp/{shop['shop_url']}/cabinet/tees/tee01_main.jpg",)
    assert listing.created_at is not None and listing.updated_at is not None

    c.patch_item("demo-tee-01", {"hideItem": True, "variants": {"tee01-m": {"standardPrice": "2480"}}})
    patched = listing_from_rakuten(c.get_item("demo-tee-01"), shop["shop_url"])
    assert patched.hidden is True
    assert {v.variant_id: v.standard_price for v in patched.variants} == {"tee01-m": 2480, "tee01-l": 3180}

    c.upsert_item("demo-tee-03", copy.deepcopy(TEE))
    c.delete_item("demo-tee-01")
    with pytest.raises(NotFound) as caught:
        c.get_item("demo-tee-01")
    assert caught.value.code == "GE0014"

    # items.search may keep a deleted item for a while as a bare manageNumber [C] §2.6
    sandbox.admin.configure(search_deleted_stub_s=86400)
    found = {r["item"]["manageNumber"]: listing_from_rakuten(r["item"], shop["shop_url"]) for r in c.iter_items()}
    assert set(found) == {"demo-tee-01", "demo-tee-03"}
    assert found["demo-tee-01"].deleted is True
    assert found["demo-tee-03"].deleted is False


def test_04_price_out_of_range_is_permanent_with_ie0003_and_property_path(
    new_shop: NewShop, client_for: ClientFactory
) -> None:
    h = client_for(new_shop(items=0))
    item = copy.deepcopy(TEE)
    item["variants"]["tee01-m"]["standardPrice"] = "1000000000"
    with pytest.raises(Permanent) as caught:
        h.client.upsert_item("demo-tee-02", item)
    error = caught.value
    assert not isinstance(error, InvalidRequest)  # RMS refused it, not Kura
    assert error.status == 400
    assert error.code == "IE0003"
    assert error.response["errors"][0]["metadata"]["propertyPath"] == "variants.tee01-m.standardPrice"
    assert "variants.tee01-m.standardPrice" in str(error)
    assert len(h.calls) == 1
    with pytest.raises(NotFound):
        h.client.get_item("demo-tee-02")


# --- 5, 6: item paging and bulk get -------------------------------------------------------------------


def test_05_iter_items_returns_every_manage_number_once(client_for: ClientFactory) -> None:
    h = client_for()
    numbers = [r["item"]["manageNumber"] for r in h.client.iter_items()]
    assert len(numbers) == SEED_ITEMS
    assert sorted(numbers) == seeded_manage_numbers()
    # 100 per page [C] §2.6, then the empty page whose nextCursorMark does not move
    assert len(h.calls_of("items.search")) == SEED_ITEMS // 100 + 1


def test_06_bulk_get_items_batches_by_50_and_drops_duplicates(client_for: ClientFactory) -> None:
    h = client_for()
    wanted = seeded_manage_numbers(120)
    items = h.client.bulk_get_items([*wanted, wanted[7].upper()])
    assert sorted(i["manageNumber"] for i in items) == wanted
    calls = h.calls_of("items.bulk.get")
    assert [c.status for c in calls] == [200, 200, 200]  # 50 + 50 + 20, never IE1106
    assert [len(c.request_body["manageNumbers"]) for c in calls] == [50, 50, 20]


# --- 7: inventory -------------------------------------------------------------------------------------


def test_07_inventory_bulk_upsert_and_its_refusals(
    sandbox: RunningSandbox, new_shop: NewShop, client_for: ClientFactory
) -> None:
    shop = new_shop(items=200)
    pairs = [(s["manageNumber"], s["variantId"]) for s in sandbox.admin.stock(shop["shop_id"])][:400]
    assert len(pairs) == 400
    h = client_for(shop)
    updates = [InventoryUpdate(m, v, (i * 37) % 1000) for i, (m, v) in enumerate(pairs)]
    h.client.bulk_upsert_inventories(updates)
    got = {(r["manageNumber"], r["variantId"]): r["quantity"] for r in h.client.bulk_get_inventories(pairs)}
    assert got == {(u.manage_number, u.variant_id): u.quantity for u in updates}
    assert len(h.calls_of("inventories.bulk.get")) == 1  # ≤1000 per call

    with pytest.raises(Permanent) as caught:
        h.client.bulk_upsert_inventories([InventoryUpdate("no-such-item", "no-such-sku", 3, "RELATIVE")])
    assert caught.value.code == "IE0500"

    m, v = pairs[1]
    below = -(got[(m, v)] + 1)
    with pytest.raises(Permanent) as caught:
        h.client.upsert_inventory(m, v, below, "RELATIVE")
    assert caught.value.code == "IE0117"
    assert h.client.get_inventory(m, v)["quantity"] == got[(m, v)]  # unchanged

    # Unknown pairs are not an error with ABSOLUTE: RMS keeps an orphan record [C] §3.2.
    h.client.upsert_inventory("no-such-item", "no-such-sku", 5)
    assert h.client.get_inventory("no-such-item", "no-such-sku")["quantity"] == 5


# --- 8: order search ----------------------------------------------------------------------------------


def test_08a_ninety_day_import_equals_the_sandbox_list(sandbox: RunningSandbox, client_for: ClientFactory) -> None:
    now = sandbox_now(sandbox)
    h = client_for()
    query = OrderQuery(date_type=1, start=now - 90 * DAY, end=now)
    numbers = list(h.client.iter_order_numbers(query, now=now))
    expected = own_orders(sandbox, sandbox.shop["shop_id"], query.start, query.end)
    assert len(numbers) == len(set(numbers))
    assert sorted(numbers) == expected
    assert 1500 < len(expected) < SEED_ORDERS
    searches = h.calls_of("rpay.order.searchOrder")
    starts = sorted({c.request_body["startDatetime"] for c in searches})
    assert len(starts) == 2  # 63 + 27 days
    assert all(s.endswith("+0900") for s in starts)  # [C] §4.3: no colon


def test_08b_whole_seeded_history_in_windows(sandbox: RunningSandbox, client_for: ClientFactory) -> None:
    now = sandbox_now(sandbox)
    h = client_for()
    query = OrderQuery(date_type=1, start=now - 121 * DAY, end=now)
    numbers = list(h.client.iter_order_numbers(query, now=now))
    assert sorted(numbers) == own_orders(sandbox, sandbox.shop["shop_id"], query.start, query.end)
    assert len(numbers) == SEED_ORDERS
    windows = {(c.request_body["startDatetime"], c.request_body["endDatetime"]) for c in h.calls}
    assert len(windows) == 2
    for start, end in windows:
        span = datetime.strptime(end, "%Y-%m-%dT%H:%M:%S%z") - datetime.strptime(start, "%Y-%m-%dT%H:%M:%S%z")
        assert span <= 63 * DAY


def test_08c_a_window_beyond_the_result_cap_is_halved(sandbox: RunningSandbox, client_for: ClientFactory) -> None:
    # Both sides make the 15,000 cap configurable; a cap of 400 exercises the same halving without
    # seeding 30,000 orders.
    sandbox.admin.configure(search_result_cap=400)
    now = sandbox_now(sandbox)
    h = client_for(settings=RmsSettings(order_search_result_cap=400))
    query = OrderQuery(date_type=1, start=now - 90 * DAY, end=now)
    numbers = list(h.client.iter_order_numbers(query, now=now))
    assert sorted(numbers) == own_orders(sandbox, sandbox.shop["shop_id"], query.start, query.end)
    windows = {(c.request_body["startDatetime"], c.request_body["endDatetime"]) for c in h.calls}
    assert len(windows) > 4
    assert all(c.status == 200 for c in h.calls)  # never asked for a page beyond the cap (ERROR_014)


def test_08d_search_limits(sandbox: RunningSandbox, client_for: ClientFactory) -> None:
    now = sandbox_now(sandbox)
    h = client_for()
    too_old = OrderQuery(date_type=1, start=now - 731 * DAY, end=now - 700 * DAY)
    with pytest.raises(InvalidRequest):
        list(h.client.iter_order_numbers(too_old, now=now))
    assert h.calls == []  # refused before any call

    # The sandbox refuses the Item/Inventory offset form in the Order API [C] §4.3, §9.3.
    jst = timezone(timedelta(hours=9))
    body = {
        "dateType": 1,
        "startDatetime": (now - 5 * DAY).astimezone(jst).isoformat(timespec="seconds"),
        "endDatetime": now.astimezone(jst).isoformat(timespec="seconds"),
    }
    assert body["startDatetime"].endswith("+09:00")
    reply = httpx.post(
        f"{sandbox.base_url}/es/2.0/order/searchOrder/",
        json=body,
        headers={**sandbox.auth_header, "Content-Type": "application/json; charset=utf-8"},
    )
    assert reply.status_code == 400
    codes = {m["messageCode"] for m in reply.json()["MessageModelList"]}
    assert codes == {"ORDER_EXT_API_SEARCH_ORDER_ERROR_011"}
    assert reply.json()["orderNumberList"] is None


# --- 9: getOrder in batches ---------------------------------------------------------------------------


def test_09_get_orders_in_batches_with_a_foreign_order(
    sandbox: RunningSandbox, new_shop: NewShop, client_for: ClientFactory
) -> None:
    other = new_shop(items=5)
    foreign = place_orders(sandbox, other, 1)[0]
    now = sandbox_now(sandbox)
    own = own_orders(sandbox, sandbox.shop["shop_id"], now - 120 * DAY, now)[:249]
    h = client_for()
    result = h.client.get_orders([*own[:120], foreign, *own[120:], own[3]])
    assert len(h.calls_of("rpay.order.getOrder")) == 3
    assert sorted(o["orderNumber"] for o in result.orders) == sorted(own)
    assert set(result.failed) == {foreign}
    assert isinstance(result.failed[foreign], NotFound)
    assert all(c.response_body["version"] == 10 for c in h.calls)  # newest version [C] §4.4


# --- 10, 11: order lifecycle and sub-statuses --------------------------------------------------------


def test_10_order_lifecycle(sandbox: RunningSandbox, new_shop: NewShop, client_for: ClientFactory) -> None:
    shop = new_shop(items=30)
    a, b, c_, d, e = place_orders(sandbox, shop, 5)
    h = client_for(shop)
    c = h.client

    confirmed = c.confirm_orders([a, b, c_, d, e])
    assert confirmed.failed == {}
    assert {m.order_number for m in confirmed.messages} == {a, b, c_, d, e}
    assert progress_of(sandbox, shop, a) == 200
    again = c.confirm_orders([a])  # already confirmed: a per-order error, not a failed call
    assert set(again.failed) == {a}
    sandbox.admin.advance(600)  # Rakuten finishes processing: 200 → 300
    assert {progress_of(sandbox, shop, n) for n in (a, b, c_, d, e)} == {300}

    order = c.get_orders([a]).orders[0]
    basket = order["PackageModelList"][0]["basketId"]

    # add a row without a date: stays 300
    added = c.update_order_shipping(a, [BasketShipping(basket, [ShippingRow("1001", "4912-3456-7890")])])
    assert [m.code for m in added] == ["ORDER_EXT_API_UPDATE_ORDERSHIPPING_INFO_101"]
    assert added[0].data_number == 1
    row_id = added[0].shipping_detail_id
    assert isinstance(row_id, int)
    # update the row: date set → shipped (500)
    updated = c.update_order_shipping(
        a, [BasketShipping(basket, [ShippingRow(shipped_on=date(2025, 6, 3), shipping_detail_id=row_id)])]
    )
    assert [(m.code, m.shipping_detail_id) for m in updated] == [
        ("ORDER_EXT_API_UPDATE_ORDERSHIPPING_INFO_102", row_id)
    ]
    shipped = c.get_orders([a]).orders[0]
    assert shipped["orderProgress"] == 500
    rows = shipped["PackageModelList"][0]["ShippingModelList"]
    assert rows == [
        {
            "shippingDetailId": row_id,
            "shippingNumber": "4912-3456-7890",
            "deliveryCompany": "1001",
            "deliveryCompanyName": "ヤマト運輸",
            "shippingDate": "2025-06-03",
        }
    ]
    # delete it
    deleted = c.update_order_shipping(
        a, [BasketShipping(basket, [ShippingRow(shipping_detail_id=row_id, delete=True)])]
    )
    assert [m.code for m in deleted] == ["ORDER_EXT_API_UPDATE_ORDERSHIPPING_INFO_103"]
    assert c.get_orders([a]).orders[0]["PackageModelList"][0]["ShippingModelList"] == []

    # cancelOrder on 300 → 800, then the same again surfaces for that order
    cancelled = c.cancel_order(b, reason=8, restore_inventory=1)
    assert cancelled.code == "ORDER_EXT_API_CANCEL_ORDER_INFO_101"
    assert progress_of(sandbox, shop, b) == 800
    with pytest.raises(Permanent) as caught:
        c.cancel_order(b, reason=8)
    assert caught.value.order_number == b
    assert not isinstance(caught.value, Retryable)

    # async shipping: one good order, one cancelled → results per order
    baskets = {n: c.get_orders([n]).orders[0]["PackageModelList"][0]["basketId"] for n in (c_, b)}
    sandbox.admin.advance(3600)  # 800 → 900
    request_id = c.update_order_shipping_async(
        {n: [BasketShipping(baskets[n], [ShippingRow("1002", "1111-2222-3333", date(2025, 6, 3))])] for n in (c_, b)}
    )
    assert request_id
    results = c.get_result_update_order_shipping_async(request_id)
    assert set(results.failed) == {b}
    assert results.failed[b].code == "ORDER_EXT_API_UPDATE_ORDERSHIPPING_ERROR_102"
    assert progress_of(sandbox, shop, c_) == 500
    with pytest.raises(Permanent) as caught:  # the synchronous call refuses it just the same
        c.update_order_shipping(b, [BasketShipping(baskets[b], [ShippingRow("1002", "1", date(2025, 6, 3))])])
    assert caught.value.order_number == b
    assert caught.value.code == "ORDER_EXT_API_UPDATE_ORDERSHIPPING_ERROR_102"

    # cancelOrderAfterShipping on 500
    after = c.cancel_order_after_shipping(c_, reason=15, restore_inventory=2)
    assert after.order_number == c_
    assert progress_of(sandbox, shop, c_) == 900
    assert len(h.calls_of("rpay.order.cancelOrder")) == 2  # non-idempotent calls are never repeated


def test_11_sub_statuses(sandbox: RunningSandbox, new_shop: NewShop, client_for: ClientFactory) -> None:
    shop = new_shop(items=10)
    first, second = place_orders(sandbox, shop, 2)
    c = client_for(shop).client
    subs = c.get_sub_status_list()
    assert subs
    assert all(s.progress in (100, 200, 300, 400, 500, 600, 700, 800, 900) for s in subs)
    chosen = subs[0]
    result = c.update_order_sub_status(chosen.sub_status_id, [first, second])
    assert result.failed == {}
    orders = c.get_orders([first, second]).orders
    assert {o["subStatusId"] for o in orders} == {chosen.sub_status_id}
    assert {o["subStatusName"] for o in orders} == {chosen.name}


# --- 12: faults -----------------------------------------------------------------------------------------


def test_12a_429_is_backed_off_and_retried(sandbox: RunningSandbox, client_for: ClientFactory) -> None:
    sandbox.admin.set_faults("items.get", error_429=1.0)

    def lift_after_first(seconds: float) -> None:
        sandbox.admin.clear_faults()
        time.sleep(seconds)

    h = client_for(sleep=lift_after_first)
    assert h.client.get_item("kura-00002")["manageNumber"] == "kura-00002"
    assert [c.status for c in h.calls] == [429, 200]
    assert len(h.sleeps) == 1
    # The sandbox sends no Retry-After (the reference documents none [U] §8), so the client used
    # its own backoff; honouring a Retry-After is covered by tests/channels.
    assert 0 <= h.sleeps[0] <= 0.02


def test_12b_maintenance_503_is_retried_until_it_ends(sandbox: RunningSandbox, client_for: ClientFactory) -> None:
    sandbox.admin.set_faults("*", maintenance=True)
    sleeps = 0

    def maintenance_ends_later(seconds: float) -> None:
        nonlocal sleeps
        sleeps += 1
        if sleeps == 2:
            sandbox.admin.clear_faults()

    h = client_for(sleep=maintenance_ends_later)
    now = sandbox_now(sandbox)
    page = h.client.search_orders(OrderQuery(date_type=1, start=now - DAY, end=now))
    assert [c.status for c in h.calls] == [503, 503, 200]
    assert page.total_records == len(page.order_numbers) > 0

    sandbox.admin.set_faults("*", maintenance=True)
    stuck = client_for(sleep=lambda s: None, max_retries=2)
    with pytest.raises(Retryable) as caught:
        stuck.client.get_item("kura-00001")
    assert caught.value.status == 503
    assert caught.value.maybe_applied is False
    assert len(stuck.calls) == 3


def test_12c_a_timed_out_relative_bulk_upsert_is_not_repeated(
    sandbox: RunningSandbox, new_shop: NewShop, client_for: ClientFactory
) -> None:
    shop = new_shop(items=3)
    pair = next((s["manageNumber"], s["variantId"]) for s in sandbox.admin.stock(shop["shop_id"]))
    sandbox.admin.set_faults("inventories.bulk.upsert", timeout=1.0)
    h = client_for(shop, timeout=0.3)
    with pytest.raises(Retryable) as caught:
        h.client.bulk_upsert_inventories([InventoryUpdate(*pair, 1, "RELATIVE")])
    assert caught.value.maybe_applied is True
    assert len(h.calls) == 1
    time.sleep(0.8)  # let the sandbox finish holding the request
    assert stats_for(sandbox, "inventories.bulk.upsert")["requests"] == 1

    # ABSOLUTE is safe to repeat: the client tries again and gets through once the fault is gone.
    def fault_gone(seconds: float) -> None:
        sandbox.admin.clear_faults()

    sandbox.admin.set_faults("inventories.bulk.upsert", timeout=1.0)
    again = client_for(shop, timeout=0.3, sleep=fault_gone)
    again.client.bulk_upsert_inventories([InventoryUpdate(*pair, 7)])
    assert [c.status for c in again.calls] == [None, 204]
    assert again.client.get_inventory(*pair)["quantity"] == 7


# --- 13: rate limits ----------------------------------------------------------------------------------


def test_13_a_burst_at_the_default_rates_never_meets_a_429(sandbox: RunningSandbox, client_for: ClientFactory) -> None:
    sandbox.admin.configure(rate_limits_enabled=True)
    h = client_for(limiter=RateLimiter("memory://"))  # Kura's defaults, the figures of §8
    started = time.monotonic()
    for number in seeded_manage_numbers(30):
        h.client.get_item(number)
    elapsed = time.monotonic() - started
    counters = stats_for(sandbox, "items.get")
    assert counters["requests"] == 30
    assert counters["rate_limited"] == 0
    assert [c.status for c in h.calls] == [200] * 30
    assert elapsed >= 5.0  # 30 calls at 5/s: the limiter, not luck, kept it under


def test_13b_without_the_limiter_the_sandbox_does_throttle(sandbox: RunningSandbox, client_for: ClientFactory) -> None:
    """The control for 13: the same burst, unthrottled and without retries, meets 429s."""
    sandbox.admin.configure(rate_limits_enabled=True)
    h = client_for(limiter=RateLimiter("memory://", rates={"items.get": "1000/second"}), max_retries=0)
    refused = []
    for number in seeded_manage_numbers(8):
        try:
            h.client.get_item(number)
        except Retryable as exc:
            refused.append(exc)
    assert refused and all(e.status == 429 and e.maybe_applied is False for e in refused)
    assert stats_for(sandbox, "items.get")["rate_limited"] == len(refused)


# --- 14: trailing slash --------------------------------------------------------------------------------


@pytest.mark.parametrize("slash", [True, False])
def test_14_order_api_with_and_without_the_trailing_slash(
    sandbox: RunningSandbox, client_for: ClientFactory, slash: bool
) -> None:
    h = client_for(settings=RmsSettings(order_trailing_slash=slash))
    now = sandbox_now(sandbox)
    page = h.client.search_orders(OrderQuery(date_type=1, start=now - 2 * DAY, end=now))
    assert page.order_numbers
    assert h.calls[0].path == "/es/2.0/order/searchOrder" + ("/" if slash else "")
    assert h.calls[0].status == 200


# --- paging through faults -------------------------------------------------------------------------------


def test_paging_survives_5xx_429_and_timeouts(sandbox: RunningSandbox, client_for: ClientFactory) -> None:
    sandbox.admin.configure(fault_timeout_s=0.4)
    for function in ("items.search", "rpay.order.searchOrder"):
        sandbox.admin.set_faults(function, error_5xx=0.05, error_429=0.15, timeout=0.05)
    h = client_for(max_retries=10, timeout=0.25)

    numbers = [r["item"]["manageNumber"] for r in h.client.iter_items(hits=25)]
    assert sorted(numbers) == seeded_manage_numbers()

    paged = client_for(max_retries=10, timeout=0.25, settings=RmsSettings(order_search_page_size=200))
    now = sandbox_now(sandbox)
    query = OrderQuery(date_type=1, start=now - 121 * DAY, end=now)
    orders = list(paged.client.iter_order_numbers(query, now=now))
    assert sorted(orders) == own_orders(sandbox, sandbox.shop["shop_id"], query.start, now)
    assert len(orders) == SEED_ORDERS

    calls = h.calls + paged.calls
    failures = [c for c in calls if c.status != 200]
    assert failures, "no fault was injected; raise the shares"
    assert {c.status for c in failures} <= {None, 429, 500, 504}
    ok = [c for c in calls if c.status == 200]
    assert len(ok) == len({(c.function, c.path, str(c.request_body)) for c in ok})  # each page fetched once
