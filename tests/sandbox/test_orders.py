"""RakutenPay Order API contract: searchOrder, getOrder versions, confirm, shipping, cancellations, sub-statuses."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rms_sandbox.config import SandboxConfig
from tests.sandbox.conftest import START, Env, make_env

ORDER_DT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0900$")
WINDOW = {"dateType": 1, "startDatetime": "2025-04-10T00:00:00+0900", "endDatetime": "2025-06-02T23:59:59+0900"}


def codes(response: Any) -> list[str]:
    return [m["messageCode"] for m in response.json()["MessageModelList"]]


def place(env: Env, units: int = 1) -> dict[str, Any]:
    stock = [s for s in env.client.get(f"/_sandbox/shops/{env.shop['shop_url']}/stock").json()["stock"]
             if s["quantity"] >= units]
    items = env.client.get(f"/_sandbox/shops/{env.shop['shop_url']}/stock").json()["stock"]
    assert items
    for s in stock:
        response = env.client.post(f"/_sandbox/shops/{env.shop['shop_url']}/orders", json={
            "items": [{"manageNumber": s["manageNumber"], "variantId": s["variantId"], "units": units}]})
        if response.status_code == 201:
            return dict(response.json())
    raise AssertionError("nothing purchasable")


def get_order(env: Env, number: str, version: int = 10) -> dict[str, Any]:
    response = env.order_api("getOrder", {"orderNumberList": [number], "version": version})
    assert response.status_code == 200
    return dict(response.json()["OrderModelList"][0])


def to_300(env: Env, number: str) -> None:
    assert codes(env.order_api("confirmOrder", {"orderNumberList": [number]})) == \
        ["ORDER_EXT_API_CONFIRM_ORDER_INFO_101"]
    env.client.post("/_sandbox/clock/advance", json={"seconds": env.sb.config.rakuten_processing_s})
    assert get_order(env, number)["orderProgress"] == 300


def test_search_answers_with_and_without_trailing_slash(env: Env) -> None:
    for path in ("/es/2.0/order/searchOrder/", "/es/2.0/order/searchOrder"):
        response = env.send("POST", path, WINDOW)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json;charset=utf-8"
        assert codes(response) == ["ORDER_EXT_API_SEARCH_ORDER_INFO_101"]


def test_search_results_are_in_the_window_and_paged(env: Env) -> None:
    body = {**WINDOW, "PaginationRequestModel": {"requestRecordsAmount": 10, "requestPage": 2,
                                                 "SortModelList": [{"sortColumn": 1, "sortDirection": 1}]}}
    page = env.order_api("searchOrder", body).json()
    total = page["PaginationResponseModel"]["totalRecordsAmount"]
    assert total > 20 and page["PaginationResponseModel"]["totalPages"] == -(-total // 10)
    assert page["PaginationResponseModel"]["requestPage"] == 2 and len(page["orderNumberList"]) == 10
    orders = env.order_api("getOrder", {"orderNumberList": page["orderNumberList"], "version": 10}).json()
    times = [o["orderDatetime"] for o in orders["OrderModelList"]]
    assert times == sorted(times) and all("2025-04-10" <= t[:10] <= "2025-06-02" for t in times)
    default = env.order_api("searchOrder", WINDOW).json()
    assert len(default["orderNumberList"]) == min(30, total)  # default page size 30


def test_search_filters_by_progress(env: Env) -> None:
    numbers = env.order_api("searchOrder", {**WINDOW, "orderProgressList": [700]}).json()["orderNumberList"]
    orders = env.order_api("getOrder", {"orderNumberList": numbers[:100], "version": 10}).json()["OrderModelList"]
    assert orders and {o["orderProgress"] for o in orders} == {700}


def test_search_zero_hits_shape(env: Env) -> None:
    body = {"dateType": 1, "startDatetime": "2024-07-01T00:00:00+0900", "endDatetime": "2024-07-02T00:00:00+0900"}
    response = env.order_api("searchOrder", body)
    assert response.status_code == 200
    assert response.json() == {
        "MessageModelList": [{"messageType": "INFO", "messageCode": "ORDER_EXT_API_SEARCH_ORDER_INFO_102",
                              "message": response.json()["MessageModelList"][0]["message"]}],
        "orderNumberList": [],
        "PaginationResponseModel": {"totalRecordsAmount": None, "totalPages": None, "requestPage": None},
    }


@pytest.mark.parametrize(("change", "code"), [
    ({"dateType": None}, "ORDER_EXT_API_SEARCH_ORDER_ERROR_009"),
    ({"dateType": 7}, "ORDER_EXT_API_SEARCH_ORDER_ERROR_011"),
    ({"startDatetime": ""}, "ORDER_EXT_API_SEARCH_ORDER_ERROR_010"),
    ({"startDatetime": "2025-05-01T00:00:00+09:00"}, "ORDER_EXT_API_SEARCH_ORDER_ERROR_011"),
    ({"endDatetime": "2025-05-01T00:00:00+0000"}, "ORDER_EXT_API_SEARCH_ORDER_ERROR_011"),
    ({"endDatetime": "2025-05-01 00:00:00"}, "ORDER_EXT_API_SEARCH_ORDER_ERROR_011"),
    ({"startDatetime": "2025-03-30T00:00:00+0900"}, "ORDER_EXT_API_SEARCH_ORDER_ERROR_012"),  # 64 days
    ({"startDatetime": "2023-06-01T00:00:00+0900", "endDatetime": "2023-07-01T00:00:00+0900"},
     "ORDER_EXT_API_SEARCH_ORDER_ERROR_013"),  # more than 730 days back
    ({"PaginationRequestModel": {"requestRecordsAmount": 1001, "requestPage": 1}},
     "ORDER_EXT_API_SEARCH_ORDER_ERROR_011"),
    ({"PaginationRequestModel": {"requestRecordsAmount": 10, "requestPage": 1,
                                 "SortModelList": [{"sortColumn": 2, "sortDirection": 1}]}},
     "ORDER_EXT_API_SEARCH_ORDER_ERROR_011"),
])
def test_search_validation(env: Env, change: dict[str, Any], code: str) -> None:
    body = {**WINDOW, **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = env.order_api("searchOrder", body)
    assert response.status_code == 400
    assert code in codes(response)
    assert response.json()["orderNumberList"] is None and response.json()["PaginationResponseModel"] is None


def test_search_window_of_exactly_63_days_is_allowed(env: Env) -> None:
    body = {**WINDOW, "startDatetime": "2025-03-31T23:59:59+0900"}
    assert env.order_api("searchOrder", body).status_code == 200


def test_result_cap_blocks_pages_beyond_it() -> None:
    e = make_env(SandboxConfig(clock="manual", clock_start=START, search_result_cap=40, rate_limits_enabled=False))
    ok = {**WINDOW, "PaginationRequestModel": {"requestRecordsAmount": 20, "requestPage": 2}}
    assert e.order_api("searchOrder", ok).status_code == 200
    beyond = {**WINDOW, "PaginationRequestModel": {"requestRecordsAmount": 20, "requestPage": 3}}
    response = e.order_api("searchOrder", beyond)
    assert response.status_code == 400 and codes(response) == ["ORDER_EXT_API_SEARCH_ORDER_ERROR_014"]


def test_get_order_versions(env: Env) -> None:
    number = env.order_api("searchOrder", {**WINDOW, "orderProgressList": [700]}).json()["orderNumberList"][0]
    v10 = env.order_api("getOrder", {"orderNumberList": [number], "version": 10}).json()
    assert v10["version"] == 10
    order = v10["OrderModelList"][0]
    assert ORDER_DT.match(order["orderDatetime"]) and ORDER_DT.match(order["shippingCmplRptDatetime"])
    package = order["PackageModelList"][0]
    assert "goodsTax" not in order and "SocialGiftModel" in package and "dropOffFlag" in package
    assert package["ItemModelList"][0]["SkuModelList"][0]["variantId"]
    assert re.fullmatch(r"\d{6}-\d{8}-\d{10}", order["orderNumber"])
    assert isinstance(package["ShippingModelList"][0]["deliveryCompany"], str)
    v9 = get_order(env, number, 9)
    assert "SocialGiftModel" not in v9["PackageModelList"][0] and "dropOffFlag" in v9["PackageModelList"][0]
    v8 = get_order(env, number, 8)
    assert "goodsTax" not in v8 and "dropOffFlag" not in v8["PackageModelList"][0]
    v7 = get_order(env, number, 7)
    assert v7["goodsTax"] == 0 and v7["PackageModelList"][0]["ItemModelList"][0]["SkuModelList"]
    v6 = env.order_api("getOrder", {"orderNumberList": [number], "version": 6}).json()
    assert v6["OrderModelList"][0]["PackageModelList"][0]["ItemModelList"][0]["SkuModelList"] == []
    assert v6["version"] == 6
    v5 = env.order_api("getOrder", {"orderNumberList": [number], "version": 5}).json()
    assert "version" not in v5 and "cautionDisplayDetailType" not in v5["OrderModelList"][0]
    assert "DueDateModelList" in v5["OrderModelList"][0]
    v4 = get_order(env, number, 4)
    assert "DueDateModelList" not in v4 and "defaultDeliveryCompanyCode" in v4["PackageModelList"][0]
    v3 = get_order(env, number, 3)
    assert "defaultDeliveryCompanyCode" not in v3["PackageModelList"][0]
    assert "isSingleItemShipping" not in v3["PackageModelList"][0]["ItemModelList"][0]


def test_get_order_limits(env: Env) -> None:
    response = env.order_api("getOrder", {"orderNumberList": ["x"]})
    assert response.status_code == 400 and codes(response) == ["ORDER_EXT_API_GET_ORDER_ERROR_009"]
    response = env.order_api("getOrder", {"version": 10})
    assert codes(response) == ["ORDER_EXT_API_GET_ORDER_ERROR_009"]
    for version in (1, 2, 11, "10"):
        response = env.order_api("getOrder", {"orderNumberList": ["x"], "version": version})
        assert response.status_code == 400 and codes(response) == ["ORDER_EXT_API_GET_ORDER_ERROR_011"]
    response = env.order_api("getOrder", {"orderNumberList": [f"n{i}" for i in range(101)], "version": 10})
    assert response.status_code == 400 and codes(response) == ["ORDER_EXT_API_GET_ORDER_ERROR_012"]
    response = env.order_api("getOrder", {"orderNumberList": [f"n{i}" for i in range(100)], "version": 10})
    assert response.status_code == 200 and response.json()["OrderModelList"] == []
    assert "ORDER_EXT_API_GET_ORDER_WARNING_101" in codes(response)


def test_confirm_moves_100_to_200_then_300(env: Env) -> None:
    number = place(env)["orderNumber"]
    assert get_order(env, number)["orderProgress"] == 100
    response = env.order_api("confirmOrder", {"orderNumberList": [number]})
    assert response.json()["MessageModelList"] == [{
        "messageType": "INFO", "messageCode": "ORDER_EXT_API_CONFIRM_ORDER_INFO_101",
        "message": response.json()["MessageModelList"][0]["message"], "orderNumber": number}]
    order = get_order(env, number)
    assert order["orderProgress"] == 200 and ORDER_DT.match(order["shopOrderCfmDatetime"])
    assert codes(env.order_api("confirmOrder", {"orderNumberList": [number]})) == \
        ["ORDER_EXT_API_CONFIRM_ORDER_ERROR_103"]
    env.client.post("/_sandbox/clock/advance", json={"seconds": env.sb.config.rakuten_processing_s})
    assert get_order(env, number)["orderProgress"] == 300
    too_many = env.order_api("confirmOrder", {"orderNumberList": [f"n{i}" for i in range(101)]})
    assert too_many.status_code == 400


def test_shipping_report_moves_300_to_500_600_700(env: Env) -> None:
    number = place(env)["orderNumber"]
    to_300(env, number)
    basket = get_order(env, number)["PackageModelList"][0]["basketId"]
    body = {"orderNumber": number, "BasketidModelList": [{"basketId": basket, "ShippingModelList": [
        {"deliveryCompany": "1001", "shippingNumber": "4912-3456-7890", "shippingDate": "2025-06-02"}]}]}
    response = env.order_api("updateOrderShipping", body)
    assert response.status_code == 200
    message = response.json()["MessageModelList"][0]
    assert message["messageCode"] == "ORDER_EXT_API_UPDATE_ORDERSHIPPING_INFO_101" and message["dataNumber"] == 1
    detail_id = message["shippingDetailId"]
    order = get_order(env, number)
    assert order["orderProgress"] == 500 and ORDER_DT.match(order["shippingCmplRptDatetime"])
    row = order["PackageModelList"][0]["ShippingModelList"][0]
    assert row == {"shippingDetailId": detail_id, "shippingNumber": "4912-3456-7890", "deliveryCompany": "1001",
                   "deliveryCompanyName": "ヤマト運輸", "shippingDate": "2025-06-02"}
    update = {"orderNumber": number, "BasketidModelList": [{"basketId": basket, "ShippingModelList": [
        {"shippingDetailId": detail_id, "shippingNumber": "1111-2222-3333"},
        {"deliveryCompany": "1002", "shippingNumber": "", "shippingDate": "2025-06-02"}]}]}
    response = env.order_api("updateOrderShipping", update)
    assert codes(response) == ["ORDER_EXT_API_UPDATE_ORDERSHIPPING_INFO_102",
                               "ORDER_EXT_API_UPDATE_ORDERSHIPPING_INFO_101"]
    assert [m["dataNumber"] for m in response.json()["MessageModelList"]] == [1, 2]
    rows = get_order(env, number)["PackageModelList"][0]["ShippingModelList"]
    assert rows[0]["shippingNumber"] == "1111-2222-3333" and rows[0]["deliveryCompany"] == "1001"
    assert rows[1]["shippingNumber"] is None
    delete = {"orderNumber": number, "BasketidModelList": [{"basketId": basket, "ShippingModelList": [
        {"shippingDetailId": rows[1]["shippingDetailId"], "shippingDeleteFlag": 1}]}]}
    assert codes(env.order_api("updateOrderShipping", delete)) == ["ORDER_EXT_API_UPDATE_ORDERSHIPPING_INFO_103"]
    reports = env.client.get(f"/_sandbox/shops/{env.shop['shop_url']}/shipping-reports").json()["shipping_reports"]
    assert [r["orderNumber"] for r in reports] == [number] * 3
    env.client.post("/_sandbox/clock/advance", json={"seconds": env.sb.config.payment_processing_after_s})
    assert get_order(env, number)["orderProgress"] == 600
    env.client.post("/_sandbox/clock/advance", json={"seconds": env.sb.config.payment_done_after_s})
    assert get_order(env, number)["orderProgress"] == 700


@pytest.mark.parametrize("row", [
    {"deliveryCompany": "佐川急便", "shippingDate": "2025-06-02"},
    {"deliveryCompany": 1001, "shippingDate": "2025-06-02"},
    {"deliveryCompany": "1032", "shippingDate": "2025-06-02"},
    {"deliveryCompany": "1001", "shippingDate": "2025/06/02"},
    {"deliveryCompany": "1001", "shippingNumber": "x" * 121},
])
def test_shipping_format_errors(env: Env, row: dict[str, Any]) -> None:
    number = place(env)["orderNumber"]
    to_300(env, number)
    basket = get_order(env, number)["PackageModelList"][0]["basketId"]
    body = {"orderNumber": number, "BasketidModelList": [{"basketId": basket, "ShippingModelList": [row]}]}
    response = env.order_api("updateOrderShipping", body)
    assert response.status_code == 400
    assert codes(response) == ["ORDER_EXT_API_UPDATE_ORDERSHIPPING_ERROR_011"]
    assert get_order(env, number)["orderProgress"] == 300


def test_shipping_rejected_before_300_and_after_cancel(env: Env) -> None:
    number = place(env)["orderNumber"]
    basket = get_order(env, number)["PackageModelList"][0]["basketId"]
    body = {"orderNumber": number, "BasketidModelList": [{"basketId": basket, "ShippingModelList": [
        {"deliveryCompany": "1001", "shippingDate": "2025-06-02"}]}]}
    assert env.order_api("updateOrderShipping", body).status_code == 400
    env.order_api("cancelOrder", {"orderNumber": number, "inventoryRestoreType": 1, "changeReasonDetailApply": 8})
    env.client.post("/_sandbox/clock/advance", json={"seconds": env.sb.config.cancel_confirm_after_s})
    response = env.order_api("updateOrderShipping", body)
    assert response.status_code == 400 and codes(response) == ["ORDER_EXT_API_UPDATE_ORDERSHIPPING_ERROR_102"]


def test_async_shipping_and_result(env: Env) -> None:
    first, second = place(env)["orderNumber"], place(env)["orderNumber"]
    to_300(env, first)
    basket = get_order(env, first)["PackageModelList"][0]["basketId"]
    other_basket = get_order(env, second)["PackageModelList"][0]["basketId"]
    body = {"OrderShippingModelList": [
        {"orderNumber": first, "BasketidModelList": [{"basketId": basket, "ShippingModelList": [
            {"deliveryCompany": "1003", "shippingNumber": "1234", "shippingDate": "2025-06-02"}]}]},
        {"orderNumber": second, "BasketidModelList": [{"basketId": other_basket, "ShippingModelList": [
            {"deliveryCompany": "1003", "shippingDate": "2025-06-02"}]}]}]}
    response = env.order_api("updateOrderShippingAsync", body)
    message = response.json()["MessageModelList"][0]
    assert message["messageCode"] == "ORDER_EXT_API_UPDATE_ORDERSHIPPING_ASYNC_INFO_101"
    assert re.fullmatch(r"[0-9a-f-]{36}_\d{14}", message["requestId"])
    assert message["dataNumber"] is None and message["shippingDetailId"] is None
    result = env.order_api("getResultUpdateOrderShippingAsync", {"requestId": message["requestId"]}).json()
    by_order = {r["orderNumber"]: r["MessageModelList"] for r in result["ResultShippingModelList"]}
    assert by_order[first][0]["messageCode"] == "ORDER_EXT_API_UPDATE_ORDERSHIPPING_INFO_101"
    assert by_order[second][0]["messageType"] == "ERROR"  # still at 100
    assert get_order(env, first)["orderProgress"] == 500
    unknown = env.order_api("getResultUpdateOrderShippingAsync", {"requestId": "nope"})
    assert unknown.status_code == 400


def test_async_validation_errors_come_back_as_200(env: Env) -> None:
    body = {"OrderShippingModelList": [{"orderNumber": "x", "BasketidModelList": [{"basketId": 1,
            "ShippingModelList": [{"deliveryCompany": "ヤマト", "shippingDate": "2025-06-02"}]}]}]}
    response = env.order_api("updateOrderShippingAsync", body)
    assert response.status_code == 200
    assert codes(response) == ["ORDER_EXT_API_UPDATE_ORDERSHIPPING_ASYNC_ERROR_011"]
    assert response.json()["MessageModelList"][0]["requestId"] is None
    many = {"OrderShippingModelList": [{**body["OrderShippingModelList"][0], "orderNumber": f"n{i}"}
                                       for i in range(101)]}
    assert "ORDER_EXT_API_UPDATE_ORDERSHIPPING_ASYNC_ERROR_012" in codes(env.order_api("updateOrderShippingAsync",
                                                                                        many))
    duplicate = {"OrderShippingModelList": body["OrderShippingModelList"] * 2}
    assert "ORDER_EXT_API_UPDATE_ORDERSHIPPING_ASYNC_ERROR_011" in codes(
        env.order_api("updateOrderShippingAsync", duplicate))


def test_cancel_order_restores_stock_when_confirmed(env: Env) -> None:
    placed = place(env, units=1)
    sku = placed["order"]["PackageModelList"][0]["ItemModelList"][0]
    variant = sku["SkuModelList"][0]["variantId"]
    stock_url = f"/_sandbox/shops/{env.shop['shop_url']}/stock"
    params = {"manage_number": sku["manageNumber"], "variant_id": variant}
    before = env.client.get(stock_url, params=params).json()["stock"][0]["quantity"]
    response = env.order_api("cancelOrder", {"orderNumber": placed["orderNumber"], "inventoryRestoreType": 1,
                                             "changeReasonDetailApply": 8})
    assert codes(response) == ["ORDER_EXT_API_CANCEL_ORDER_INFO_101"]
    order = get_order(env, placed["orderNumber"])
    assert order["orderProgress"] == 800 and order["ChangeReasonModelList"][0]["changeReasonDetail"] == 8
    env.client.post("/_sandbox/clock/advance", json={"seconds": env.sb.config.cancel_confirm_after_s})
    assert get_order(env, placed["orderNumber"])["orderProgress"] == 900
    assert env.client.get(stock_url, params=params).json()["stock"][0]["quantity"] == before + 1


def test_cancel_rules(env: Env) -> None:
    shipped = env.order_api("searchOrder", {**WINDOW, "orderProgressList": [500]}).json()["orderNumberList"][0]
    body = {"orderNumber": shipped, "inventoryRestoreType": 2, "changeReasonDetailApply": 2}
    assert env.order_api("cancelOrder", body).status_code == 400
    assert codes(env.order_api("cancelOrderAfterShipping", body)) == \
        ["ORDER_EXT_API_CANCEL_ORDER_AFTER_SHIPPING_INFO_101"]
    assert get_order(env, shipped)["orderProgress"] == 900
    fresh = place(env)["orderNumber"]
    assert env.order_api("cancelOrderAfterShipping", {**body, "orderNumber": fresh}).status_code == 400
    response = env.order_api("cancelOrder", {"orderNumber": fresh, "inventoryRestoreType": 5,
                                             "changeReasonDetailApply": 99})
    assert codes(response) == ["ORDER_EXT_API_CANCEL_ORDER_ERROR_011"] * 2
    assert codes(env.order_api("cancelOrder", {"orderNumber": fresh})) == ["ORDER_EXT_API_CANCEL_ORDER_ERROR_009"] * 2


def test_sub_statuses(env: Env) -> None:
    listing = env.order_api("getSubStatusList", {}).json()
    groups = listing["StatusModelList"]
    assert groups and all({"orderProgress", "SubStatusModelList"} <= set(g) for g in groups)
    sub = groups[0]["SubStatusModelList"][0]
    number = place(env)["orderNumber"]
    response = env.order_api("updateOrderSubStatus", {"subStatusId": sub["subStatusId"], "orderNumberList": [number]})
    assert codes(response) == ["ORDER_EXT_API_UPDATE_ORDERSUBSTATUS_INFO_101"]
    order = get_order(env, number)
    assert order["subStatusId"] == sub["subStatusId"] and order["subStatusName"] == sub["subStatusName"]
    found = env.order_api("searchOrder", {**WINDOW, "subStatusIdList": [sub["subStatusId"]]}).json()
    assert number in found["orderNumberList"]
    bad = env.order_api("updateOrderSubStatus", {"subStatusId": 1, "orderNumberList": [number]})
    assert bad.status_code == 400 and codes(bad) == ["ORDER_EXT_API_UPDATE_ORDERSUBSTATUS_ERROR_102"]


def test_order_api_is_post_only(env: Env) -> None:
    response = env.client.get("/es/2.0/order/getOrder/", headers=env.auth)
    assert response.status_code == 405
