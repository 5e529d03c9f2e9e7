"""The RMS client's own behaviour over httpx.MockTransport: wire format, paging, batching, errors."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import date, datetime, timedelta

import httpx
import pytest
from rakuten_fakes import LICENSE, SECRET, Harness, body_of, payload

from kura.channels.rakuten.client import (
    BasketShipping,
    InventoryUpdate,
    OrderQuery,
    RmsSettings,
    ShippingRow,
    esa_header,
)
from kura.channels.rakuten.errors import InvalidRequest, NotFound, Permanent
from kura.channels.rakuten.mapping import JST

Make = Callable[..., Harness]
ORDER_CT = "application/json; charset=utf-8"


def ok(json: object = None, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=json) if json is not None else httpx.Response(status)


def info(code: str, **extra: object) -> dict[str, object]:
    return {"messageType": "INFO", "messageCode": code, "message": "ok", **extra}


def error(code: str, **extra: object) -> dict[str, object]:
    return {"messageType": "ERROR", "messageCode": code, "message": "refused", **extra}


# --- authentication and wire format


def test_esa_header_is_plain_base64_of_secret_colon_key() -> None:
    assert esa_header("SP1_a", "SL1_b") == "ESA " + base64.b64encode(b"SP1_a:SL1_b").decode()


def test_every_request_carries_the_esa_header(harness: Make) -> None:
    h = harness(ok({"manageNumber": "a"}))
    h.client.get_item("a")
    assert h.requests[0].headers["Authorization"] == esa_header(SECRET, LICENSE)


def test_order_api_posts_utf8_json_to_the_documented_trailing_slash_path(harness: Make) -> None:
    h = harness(ok(payload("search_order.json")))
    start = datetime(2024, 5, 1, tzinfo=JST)
    page = h.client.search_orders(OrderQuery(1, start, start + timedelta(days=30), progress=(100, 300)))
    request = h.requests[0]
    assert (request.method, request.url.path) == ("POST", "/es/2.0/order/searchOrder/")
    assert request.headers["Content-Type"] == ORDER_CT
    assert body_of(request) == {
        "dateType": 1,
        "startDatetime": "2024-05-01T00:00:00+0900",
        "endDatetime": "2024-05-31T00:00:00+0900",
        "orderProgressList": [100, 300],
        "PaginationRequestModel": {
            "requestRecordsAmount": 1000,
            "requestPage": 1,
            "SortModelList": [{"sortColumn": 1, "sortDirection": 1}],
        },
    }
    assert page.order_numbers == ["987654-20240503-0000123401", "987654-20240507-0000123877"]
    assert (page.total_records, page.total_pages) == (2, 1)


def test_zero_hit_search_with_null_pagination_is_an_empty_page(harness: Make) -> None:
    body = {
        "MessageModelList": [info("ORDER_EXT_API_SEARCH_ORDER_INFO_102")],
        "orderNumberList": [],
        "PaginationResponseModel": {"totalRecordsAmount": None, "totalPages": None, "requestPage": None},
    }
    h = harness(ok(body))
    start = datetime(2024, 5, 1, tzinfo=JST)
    page = h.client.search_orders(OrderQuery(1, start, start))
    assert (page.order_numbers, page.total_records, page.total_pages) == ([], 0, 0)


@pytest.mark.parametrize(
    ("call", "method", "path"),
    [
        (lambda c: c.get_item("demo-tee-01"), "GET", "/es/2.0/items/manage-numbers/demo-tee-01"),
        (
            lambda c: c.patch_item("demo-tee-01", {"hideItem": True}),
            "PATCH",
            "/es/2.0/items/manage-numbers/demo-tee-01",
        ),
        (lambda c: c.delete_item("demo-tee-01"), "DELETE", "/es/2.0/items/manage-numbers/demo-tee-01"),
        (
            lambda c: c.get_inventory("demo-tee-01", "tee01-m"),
            "GET",
            "/es/2.0/inventories/manage-numbers/demo-tee-01/variants/tee01-m",
        ),
        (
            lambda c: c.upsert_inventory("demo-tee-01", "tee01-m", 40),
            "PUT",
            "/es/2.0/inventories/manage-numbers/demo-tee-01/variants/tee01-m",
        ),
        (
            lambda c: c.delete_inventory("demo-tee-01", "tee01-m"),
            "DELETE",
            "/es/2.0/inventories/manage-numbers/demo-tee-01/variants/tee01-m",
        ),
        (lambda c: c.bulk_get_inventories([("demo-tee-01", "tee01-m")]), "POST", "/es/2.0/inventories/bulk-get"),
        (
            lambda c: c.bulk_upsert_inventories([InventoryUpdate("demo-tee-01", "tee01-m", 3)]),
            "POST",
            "/es/2.0/inventories/bulk-upsert",
        ),
        (lambda c: c.bulk_get_items(["demo-tee-01"]), "POST", "/es/2.0/items/bulk-get"),
    ],
)
def test_item_and_inventory_calls_use_the_documented_method_and_path(
    harness: Make, call: Callable[..., object], method: str, path: str
) -> None:
    h = harness(ok({}))
    call(h.client)
    request = h.requests[0]
    assert (request.method, request.url.path) == (method, path)
    if request.content:
        assert request.headers["Content-Type"] == "application/json"


def test_inventory_api_version_is_configurable(harness: Make) -> None:
    h = harness(ok(status=204), settings=RmsSettings(inventory_api="2.1"))
    h.client.upsert_inventory("demo-tee-01", "tee01-m", 40)
    assert h.requests[0].url.path == "/es/2.1/inventories/manage-numbers/demo-tee-01/variants/tee01-m"
    assert body_of(h.requests[0]) == {"mode": "ABSOLUTE", "quantity": 40}


def test_upsert_tells_a_created_item_from_a_replaced_one(harness: Make) -> None:
    created = harness(ok({"manageNumber": "demo-tee-01"}, status=201))
    assert created.client.upsert_item("demo-tee-01", payload("item_multi_variant.json")) is True
    replaced = harness(ok(status=204))
    assert replaced.client.upsert_item("demo-tee-01", {"title": "x"}) is False
    assert replaced.requests[0].method == "PUT"


def test_missing_item_raises_not_found(harness: Make) -> None:
    h = harness(ok({"errors": [{"code": "GE0014", "message": "Not found for inputs; manageNumber=x"}]}, 404))
    with pytest.raises(NotFound):
        h.client.get_item("x")


# --- item search and paging


def test_iter_items_follows_cursor_mark_from_star_until_it_stops_moving(harness: Make) -> None:
    pages = {"*": ("c1", ["a", "b"]), "c1": ("c2", ["c"]), "c2": ("c2", [])}

    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params["cursorMark"]
        nxt, names = pages[cursor]
        return httpx.Response(
            200, json={"numFound": 3, "nextCursorMark": nxt, "results": [{"item": {"manageNumber": n}} for n in names]}
        )

    h = harness(handler)
    found = [r["item"]["manageNumber"] for r in h.client.iter_items({"isHiddenItem": False})]
    assert found == ["a", "b", "c"]
    assert [r.url.params["cursorMark"] for r in h.requests] == ["*", "c1", "c2"]
    assert h.requests[0].url.params["isHiddenItem"] == "false"
    assert h.requests[0].url.params["hits"] == "100"
    assert "offset" not in h.requests[0].url.params


def test_offset_search_sends_offset_and_sort(harness: Make) -> None:
    h = harness(ok(payload("items_search.json")))
    page = h.client.search_items({"title": "tee"}, hits=50, offset=100, sort_key="created", sort_order="asc")
    params = h.requests[0].url.params
    assert (params["offset"], params["hits"], params["sortKey"], params["sortOrder"]) == ("100", "50", "created", "asc")
    assert page.num_found == 2 and len(page.results) == 2


@pytest.mark.parametrize(
    "kwargs",
    [{"cursor_mark": "*", "offset": 0}, {"cursor_mark": "*", "sort_key": "created"}, {"offset": 10001}, {"hits": 101}],
)
def test_search_arguments_rms_would_refuse_are_refused_before_sending(harness: Make, kwargs: dict) -> None:
    h = harness(ok({}))
    with pytest.raises(InvalidRequest):
        h.client.search_items(**kwargs)
    assert h.requests == []


def test_bulk_get_items_batches_by_50_and_drops_duplicates(harness: Make) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        names = body_of(request)["manageNumbers"]
        return httpx.Response(200, json={"results": [{"manageNumber": n} for n in names]})

    h = harness(handler)
    numbers = [f"item-{i}" for i in range(120)] + ["ITEM-1"]
    found = h.client.bulk_get_items(numbers)
    assert [len(body_of(r)["manageNumbers"]) for r in h.requests] == [50, 50, 20]
    assert len(found) == 120


# --- inventory writes


def test_bulk_upsert_of_more_than_400_is_refused_before_sending(harness: Make) -> None:
    h = harness(ok(status=204))
    updates = [InventoryUpdate("item", f"v{i}", 1) for i in range(401)]
    with pytest.raises(InvalidRequest, match="at most 400"):
        h.client.bulk_upsert_inventories(updates)
    assert h.requests == []
    h.client.bulk_upsert_inventories(updates[:400])
    assert len(body_of(h.requests[0])["inventories"]) == 400


def test_bulk_upsert_sends_absolute_and_relative_rows(harness: Make) -> None:
    h = harness(ok(status=204))
    h.client.bulk_upsert_inventories(
        [InventoryUpdate("demo-tee-01", "tee01-m", -1, "RELATIVE"), InventoryUpdate("demo-tee-01", "tee01-l", 15)]
    )
    assert body_of(h.requests[0]) == {
        "inventories": [
            {"manageNumber": "demo-tee-01", "variantId": "tee01-m", "mode": "RELATIVE", "quantity": -1},
            {"manageNumber": "demo-tee-01", "variantId": "tee01-l", "mode": "ABSOLUTE", "quantity": 15},
        ]
    }


@pytest.mark.parametrize(
    ("updates", "match"),
    [
        ([InventoryUpdate("a", "v", 1), InventoryUpdate("A", "v", 2)], "appears twice"),
        ([InventoryUpdate("a", "v", 100000)], "outside 0–99999"),
        ([InventoryUpdate("a", "v", -1)], "outside 0–99999"),
        ([], "no inventory updates"),
    ],
)
def test_bulk_upsert_refuses_duplicates_and_out_of_range_quantities(harness: Make, updates: list, match: str) -> None:
    h = harness(ok(status=204))
    with pytest.raises(InvalidRequest, match=match):
        h.client.bulk_upsert_inventories(updates)
    assert h.requests == []


# --- orders


def test_get_orders_batches_by_100_with_the_configured_version(harness: Make) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        numbers = body_of(request)["orderNumberList"]
        return httpx.Response(
            200,
            json={
                "MessageModelList": [info("ORDER_EXT_API_GET_ORDER_INFO_101")],
                "OrderModelList": [{"orderNumber": n} for n in numbers],
            },
        )

    h = harness(handler, settings=RmsSettings(get_order_version=7))
    result = h.client.get_orders([f"987654-20240503-{i:010d}" for i in range(250)])
    assert [len(body_of(r)["orderNumberList"]) for r in h.requests] == [100, 100, 50]
    assert {body_of(r)["version"] for r in h.requests} == {7}
    assert len(result.orders) == 250 and result.failed == {}
    assert h.requests[0].url.path == "/es/2.0/order/getOrder/"


def test_get_orders_reports_per_order_errors_and_orders_rms_left_out(harness: Make) -> None:
    good, bad, missing = "987654-20240503-0000000001", "987654-20240503-0000000002", "987654-20240503-0000000003"
    body = {
        "MessageModelList": [
            info("ORDER_EXT_API_GET_ORDER_INFO_101"),
            error("ORDER_EXT_API_GET_ORDER_ERROR_101", orderNumber=bad),
        ],
        "OrderModelList": [{"orderNumber": good}],
    }
    h = harness(ok(body))
    result = h.client.get_orders([good, bad, missing])
    assert [o["orderNumber"] for o in result.orders] == [good]
    assert isinstance(result.failed[bad], Permanent) and result.failed[bad].order_number == bad
    assert result.failed[bad].code == "ORDER_EXT_API_GET_ORDER_ERROR_101"
    assert isinstance(result.failed[missing], NotFound)


def test_confirm_orders_files_each_refused_order_separately_even_in_a_400(harness: Make) -> None:
    a, b = "987654-20240503-0000000001", "987654-20240503-0000000002"
    body = {
        "MessageModelList": [
            info("ORDER_EXT_API_CONFIRM_ORDER_INFO_101", orderNumber=a),
            error("ORDER_EXT_API_CONFIRM_ORDER_ERROR_103", orderNumber=b),
        ]
    }
    h = harness(ok(body, status=400))
    result = h.client.confirm_orders([a, b])
    assert result.succeeded([a, b]) == [a]
    assert result.failed[b].code == "ORDER_EXT_API_CONFIRM_ORDER_ERROR_103"


def test_confirm_orders_refuses_more_than_100(harness: Make) -> None:
    h = harness(ok({}))
    with pytest.raises(InvalidRequest, match="1–100"):
        h.client.confirm_orders([f"n{i}" for i in range(101)])


def test_update_order_shipping_sends_basket_rows_with_carrier_codes(harness: Make) -> None:
    body = {
        "MessageModelList": [info("ORDER_EXT_API_UPDATE_ORDERSHIPPING_INFO_101", dataNumber=1, shippingDetailId=700001)]
    }
    h = harness(ok(body))
    rows = [
        ShippingRow("1001", "4912-3456-7890", date(2024, 5, 6)),
        ShippingRow(shipping_detail_id=5, tracking_number="", shipped_on=""),
        ShippingRow(shipping_detail_id=6, delete=True),
    ]
    messages = h.client.update_order_shipping("987654-20240503-0000123401", [BasketShipping(55001234, rows)])
    assert body_of(h.requests[0]) == {
        "orderNumber": "987654-20240503-0000123401",
        "BasketidModelList": [
            {
                "basketId": 55001234,
                "ShippingModelList": [
                    {"deliveryCompany": "1001", "shippingNumber": "4912-3456-7890", "shippingDate": "2024-05-06"},
                    {"shippingDetailId": 5, "shippingNumber": "", "shippingDate": ""},
                    {"shippingDetailId": 6, "shippingDeleteFlag": 1},
                ],
            }
        ],
    }
    assert messages[0].shipping_detail_id == 700001 and messages[0].data_number == 1


def test_shipping_with_a_carrier_name_instead_of_a_code_is_refused(harness: Make) -> None:
    h = harness(ok({}))
    with pytest.raises(InvalidRequest, match="not a Rakuten carrier code"):
        h.client.update_order_shipping("n", [BasketShipping(1, [ShippingRow("佐川急便", "1", date(2024, 5, 6))])])
    assert h.requests == []


def test_shipping_refused_by_rms_raises_for_that_order(harness: Make) -> None:
    body = {"MessageModelList": [error("ORDER_EXT_API_UPDATE_ORDERSHIPPING_ERROR_011", dataNumber=1)]}
    h = harness(ok(body, status=400))
    with pytest.raises(Permanent) as caught:
        h.client.update_order_shipping("n1", [BasketShipping(1, [ShippingRow("1001", "1", date(2024, 5, 6))])])
    assert caught.value.code == "ORDER_EXT_API_UPDATE_ORDERSHIPPING_ERROR_011"


def test_async_shipping_returns_request_id_and_200_with_errors_raises(harness: Make) -> None:
    accepted = harness(
        ok(
            {
                "MessageModelList": [
                    info("ORDER_EXT_API_UPDATE_ORDERSHIPPING_ASYNC_INFO_101", requestId="6f1c_20240506120000")
                ]
            }
        )
    )
    basket = [BasketShipping(1, [ShippingRow("1001", "1", date(2024, 5, 6))])]
    assert accepted.client.update_order_shipping_async({"n1": basket, "n2": basket}) == "6f1c_20240506120000"
    assert [o["orderNumber"] for o in body_of(accepted.requests[0])["OrderShippingModelList"]] == ["n1", "n2"]
    refused = harness(ok({"MessageModelList": [error("ORDER_EXT_API_UPDATE_ORDERSHIPPING_ASYNC_ERROR_011")]}))
    with pytest.raises(Permanent) as caught:
        refused.client.update_order_shipping_async({"n1": basket})
    assert caught.value.status == 200 and caught.value.code.endswith("ASYNC_ERROR_011")


def test_async_shipping_results_are_filed_per_order(harness: Make) -> None:
    body = {
        "MessageModelList": [info("X_INFO")],
        "ResultShippingModelList": [
            {"orderNumber": "n1", "MessageModelList": [info("ORDER_EXT_API_UPDATE_ORDERSHIPPING_INFO_101")]},
            {"orderNumber": "n2", "MessageModelList": [error("ORDER_EXT_API_UPDATE_ORDERSHIPPING_ERROR_102")]},
        ],
    }
    h = harness(ok(body))
    result = h.client.get_result_update_order_shipping_async("rid")
    assert body_of(h.requests[0]) == {"requestId": "rid"}
    assert result.succeeded(["n1", "n2"]) == ["n1"]
    assert result.failed["n2"].order_number == "n2"


def test_cancel_order_sends_reason_and_restore_type(harness: Make) -> None:
    h = harness(ok({"MessageModelList": [info("ORDER_EXT_API_CANCEL_ORDER_INFO_101", orderNumber="n1")]}))
    message = h.client.cancel_order("n1", reason=8, restore_inventory=1)
    assert body_of(h.requests[0]) == {"orderNumber": "n1", "inventoryRestoreType": 1, "changeReasonDetailApply": 8}
    assert message.code == "ORDER_EXT_API_CANCEL_ORDER_INFO_101"
    h.client.cancel_order_after_shipping("n1", reason=15)
    assert h.requests[1].url.path == "/es/2.0/order/cancelOrderAfterShipping/"


def test_sub_statuses_are_listed_and_updated(harness: Make) -> None:
    listing = {
        "MessageModelList": [],
        "StatusModelList": [
            {
                "orderProgress": 300,
                "SubStatusModelList": [{"subStatusId": 11, "subStatusName": "Processed", "orderby": 1}],
            }
        ],
    }
    h = harness(ok(listing))
    (sub,) = h.client.get_sub_status_list()
    assert (sub.progress, sub.sub_status_id, sub.name) == (300, 11, "Processed")
    h.client.update_order_sub_status(11, ["n1", "n2"])
    assert body_of(h.requests[1]) == {"subStatusId": 11, "orderNumberList": ["n1", "n2"]}


def test_licence_expiry_is_read_and_the_key_is_masked_in_the_record(harness: Make) -> None:
    h = harness(ok({"expiryDate": "2024-07-31T23:59:59+0900"}))
    expiry = h.client.get_license_expiry()
    assert expiry.expires_at == datetime(2024, 7, 31, 23, 59, 59, tzinfo=JST)
    assert h.requests[0].url.params["licenseKey"] == LICENSE
    assert h.requests[0].url.path == "/es/1.0/license-management/license-key/expiry-date"
    assert LICENSE not in h.records[0].path and "licenseKey=%2A%2A%2A" in h.records[0].path


# --- order search across windows


def test_iter_order_numbers_splits_90_days_into_63_day_windows_and_pages_1000(harness: Make) -> None:
    now = datetime(2024, 6, 30, tzinfo=JST)

    def handler(request: httpx.Request) -> httpx.Response:
        body = body_of(request)
        page = body["PaginationRequestModel"]["requestPage"]
        start = body["startDatetime"][:10]
        numbers = [f"{start}-{page}-{i}" for i in range(1000 if page == 1 else 500)]
        return httpx.Response(
            200,
            json={
                "orderNumberList": numbers,
                "PaginationResponseModel": {"totalRecordsAmount": 1500, "totalPages": 2, "requestPage": page},
            },
        )

    h = harness(handler)
    numbers = list(h.client.iter_order_numbers(OrderQuery(1, now - timedelta(days=90), now), now=now))
    sent = [
        (body_of(r)["startDatetime"], body_of(r)["endDatetime"], body_of(r)["PaginationRequestModel"]["requestPage"])
        for r in h.requests
    ]
    assert sent == [
        ("2024-04-01T00:00:00+0900", "2024-06-03T00:00:00+0900", 1),
        ("2024-04-01T00:00:00+0900", "2024-06-03T00:00:00+0900", 2),
        ("2024-06-03T00:00:01+0900", "2024-06-30T00:00:00+0900", 1),
        ("2024-06-03T00:00:01+0900", "2024-06-30T00:00:00+0900", 2),
    ]
    assert len(numbers) == 3000


def test_window_over_the_15000_result_cap_is_halved_until_each_part_fits(harness: Make) -> None:
    start = datetime(2024, 6, 1, tzinfo=JST)
    end = start + timedelta(days=4)

    def handler(request: httpx.Request) -> httpx.Response:
        body = body_of(request)
        lo, hi = (datetime.strptime(body[k], "%Y-%m-%dT%H:%M:%S%z") for k in ("startDatetime", "endDatetime"))
        total = int((hi - lo).total_seconds() / 86400 * 5000)  # 5000 orders a day
        return httpx.Response(
            200,
            json={
                "orderNumberList": [f"{lo:%d%H%M%S}-{i}" for i in range(min(total, 3))],
                "PaginationResponseModel": {"totalRecordsAmount": total, "totalPages": 1, "requestPage": 1},
            },
        )

    h = harness(handler)
    list(h.client.iter_order_numbers(OrderQuery(1, start, end), now=end))
    windows = [(body_of(r)["startDatetime"], body_of(r)["endDatetime"]) for r in h.requests]
    assert windows[0] == ("2024-06-01T00:00:00+0900", "2024-06-05T00:00:00+0900")  # 20000: too many
    assert windows[1:] == [
        ("2024-06-01T00:00:00+0900", "2024-06-03T00:00:00+0900"),
        ("2024-06-03T00:00:01+0900", "2024-06-05T00:00:00+0900"),
    ]
