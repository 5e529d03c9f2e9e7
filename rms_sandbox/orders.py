"""RakutenPay Order API: searchOrder, getOrder, confirmOrder, shipping (sync and async), cancellations and
sub-statuses. Message codes 009/010/011 and the INFO codes are documented; codes marked [U] are the
sandbox's own choice where the reference has none."""

from __future__ import annotations

import json
import random
import sqlite3
import unicodedata
import uuid
from typing import Any

from starlette.responses import Response

from rms_sandbox.core import Ctx
from rms_sandbox.errors import OrderApiError, json_response, order_code, order_message, raw_json_response
from rms_sandbox.market import (
    CANCELLABLE,
    CANCELLABLE_AFTER_SHIPPING,
    OrderRecord,
    cancel_after_shipping,
    cancel_apply,
    confirm,
    load_order,
    save_order,
    shipping_reported,
)
from rms_sandbox.orderdata import CARRIERS, amounts_fixed, for_version
from rms_sandbox.store import Store
from rms_sandbox.timefmt import date_start_ts, parse_date, parse_order_dt, to_jst

MISSING, EMPTY, FORMAT = "009", "010", "011"  # [C]/[T]
LIMIT, TOO_OLD, BEYOND_CAP, STATE, NOT_FOUND = "012", "013", "014", "103", "101"  # [U] sandbox choices
DAY = 86400.0
WINDOW_DAYS, HISTORY_DAYS = 63, 730
PROGRESS_CODES = (100, 200, 300, 400, 500, 600, 700, 800, 900)
DATE_COLUMNS = {1: "order_dt", 2: "confirm_dt", 3: "fix_dt", 4: "ship_dt", 5: "ship_rpt_dt", 6: "settle_dt"}
CANCEL_REASONS = (1, 2, 3, 4, 5, 6, 8, 10, 13, 14, 15)


def _m(ctx: Ctx, kind: str, number: str, text: str, **extra: Any) -> dict[str, Any]:
    return order_message(kind, order_code(ctx.short, kind, number), text, **extra)


def _missing(ctx: Ctx, name: str) -> dict[str, Any]:
    return _m(ctx, "ERROR", MISSING, f"{name}の項目を指定して下さい。")


def _empty(ctx: Ctx, name: str) -> dict[str, Any]:
    return _m(ctx, "ERROR", EMPTY, f"{name}の値を指定して下さい。")


def _bad(ctx: Ctx, name: str) -> dict[str, Any]:
    return _m(ctx, "ERROR", FORMAT, f"{name}の書式が不正です。")


def _body(ctx: Ctx) -> dict[str, Any]:
    body = ctx.json()
    if not isinstance(body, dict):
        raise OrderApiError(400, [_bad(ctx, "request")])
    return body


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------- searchOrder

def _search_params(ctx: Ctx, body: dict[str, Any]) -> tuple[int, float, float, list[str]]:
    errors: list[dict[str, Any]] = []
    date_type = body.get("dateType")
    if date_type is None:
        errors.append(_missing(ctx, "dateType"))
    elif not _int(date_type) or date_type not in DATE_COLUMNS:
        errors.append(_bad(ctx, "dateType"))
    bounds: dict[str, float] = {}
    for name in ("startDatetime", "endDatetime"):
        if name not in body or body[name] is None:
            errors.append(_missing(ctx, name))
        elif body[name] == "":
            errors.append(_empty(ctx, name))
        else:
            ts = parse_order_dt(body[name])
            if ts is None:
                errors.append(_bad(ctx, name))
            else:
                bounds[name] = ts
    for name in ("orderProgressList", "subStatusIdList", "orderTypeList"):
        value = body.get(name)
        if value is not None and (not isinstance(value, list) or not all(_int(v) for v in value)):
            errors.append(_bad(ctx, name))
    progress = body.get("orderProgressList")
    if isinstance(progress, list) and any(p not in PROGRESS_CODES for p in progress):
        errors.append(_bad(ctx, "orderProgressList"))
    if body.get("subStatusIdList") == [-1] and not progress:
        errors.append(_missing(ctx, "orderProgressList"))
    errors.extend(_pagination_errors(ctx, body.get("PaginationRequestModel")))
    if len(bounds) == 2:
        start, end = bounds["startDatetime"], bounds["endDatetime"]
        if start > end:
            errors.append(_m(ctx, "ERROR", LIMIT, "startDatetimeはendDatetimeより前の日時を指定して下さい。"))
        elif end - start > WINDOW_DAYS * DAY:
            errors.append(_m(ctx, "ERROR", LIMIT, f"検索期間は{WINDOW_DAYS}日以内で指定して下さい。"))
        if start < ctx.now - HISTORY_DAYS * DAY:
            errors.append(_m(ctx, "ERROR", TOO_OLD, f"startDatetimeは過去{HISTORY_DAYS}日以内で指定して下さい。"))
    if errors:
        raise OrderApiError(400, errors, {"orderNumberList": None, "PaginationResponseModel": None})
    assert isinstance(date_type, int)
    return date_type, bounds["startDatetime"], bounds["endDatetime"], []


def _pagination_errors(ctx: Ctx, model: Any) -> list[dict[str, Any]]:
    if model is None:
        return []
    if not isinstance(model, dict):
        return [_bad(ctx, "PaginationRequestModel")]
    errors = []
    amount = model.get("requestRecordsAmount")
    if amount is None:
        errors.append(_missing(ctx, "requestRecordsAmount"))
    elif not _int(amount) or not 1 <= amount <= 1000:
        errors.append(_bad(ctx, "requestRecordsAmount"))
    page = model.get("requestPage")
    if page is None:
        errors.append(_missing(ctx, "requestPage"))
    elif not _int(page) or page < 1:
        errors.append(_bad(ctx, "requestPage"))
    sorts = model.get("SortModelList")
    if sorts is not None:
        if not isinstance(sorts, list):
            errors.append(_bad(ctx, "SortModelList"))
        else:
            for sort in sorts:
                if not isinstance(sort, dict) or sort.get("sortColumn") != 1:
                    errors.append(_bad(ctx, "sortColumn"))
                elif sort.get("sortDirection") not in (1, 2):
                    errors.append(_bad(ctx, "sortDirection"))
    return errors


_PYTHON_FILTERS = ("subStatusIdList", "orderTypeList", "settlementMethod", "searchKeywordType", "searchKeyword",
                   "ordererMailAddress", "shippingDateBlankFlag", "shippingNumberBlankFlag", "couponUseFlag",
                   "deliveryName", "phoneNumber")


def _keyword_fields(order: dict[str, Any], kind: int) -> list[str]:
    items = [i for p in order["PackageModelList"] for i in p["ItemModelList"]]
    skus = [s for i in items for s in i.get("SkuModelList") or []]
    orderer = order.get("OrdererModel") or {}
    table: dict[int, list[Any]] = {
        1: [i.get("itemName") for i in items], 2: [i.get("itemNumber") for i in items], 3: [order.get("memo")],
        4: [f"{orderer.get('familyName', '')}{orderer.get('firstName', '')}"],
        5: [f"{orderer.get('familyNameKana', '')}{orderer.get('firstNameKana', '')}"],
        6: [f"{p['SenderModel'].get('familyName', '')}{p['SenderModel'].get('firstName', '')}"
            for p in order["PackageModelList"]],
        7: [s.get("variantId") for s in skus], 8: [s.get("merchantDefinedSkuId") for s in skus],
        9: [s.get("skuInfo") for s in skus],
    }
    return [v for v in table.get(kind, []) if v]


def _passes(order: dict[str, Any], body: dict[str, Any]) -> bool:
    subs = body.get("subStatusIdList")
    if subs:
        sub = order.get("subStatusId")
        if not ((sub is None and -1 in subs) or sub in subs):
            return False
    if body.get("orderTypeList") and order.get("orderType") not in body["orderTypeList"]:
        return False
    if body.get("settlementMethod") is not None and \
            order["SettlementModel"].get("settlementMethodCode") != body["settlementMethod"]:
        return False
    keyword, kind = body.get("searchKeyword"), body.get("searchKeywordType")
    if keyword and kind and not any(keyword in v for v in _keyword_fields(order, kind)):
        return False
    if body.get("ordererMailAddress") and order["OrdererModel"].get("emailAddress") != body["ordererMailAddress"]:
        return False
    rows = [r for p in order["PackageModelList"] for r in p["ShippingModelList"]]
    if body.get("shippingDateBlankFlag") == 1 and any(r.get("shippingDate") for r in rows):
        return False
    if body.get("shippingNumberBlankFlag") == 1 and any(r.get("shippingNumber") for r in rows):
        return False
    if body.get("couponUseFlag") == 1 and not order.get("CouponModelList"):
        return False
    if body.get("deliveryName") and order["DeliveryModel"].get("deliveryName") != body["deliveryName"]:
        return False
    if body.get("phoneNumber"):
        people = [order["OrdererModel"]] if body.get("phoneNumberType", 1) == 1 else \
            [p["SenderModel"] for p in order["PackageModelList"]]
        phones = {f"{p.get('phoneNumber1', '')}{p.get('phoneNumber2', '')}{p.get('phoneNumber3', '')}" for p in people}
        if body["phoneNumber"].replace("-", "") not in phones:
            return False
    return True


def search_order(ctx: Ctx) -> Response:
    body = _body(ctx)
    date_type, start, end, _ = _search_params(ctx, body)
    column = DATE_COLUMNS[date_type]
    sql = f"SELECT order_number, order_dt, data FROM orders WHERE shop_id = ? AND {column} BETWEEN ? AND ?"  # noqa: S608
    params: list[Any] = [ctx.shop_id, start, end]
    progress = body.get("orderProgressList")
    if progress:
        sql += f" AND progress IN ({','.join('?' * len(progress))})"
        params.extend(progress)
    pagination = body.get("PaginationRequestModel") or {}
    direction = "ASC"
    for sort in pagination.get("SortModelList") or []:
        direction = "ASC" if sort.get("sortDirection") == 1 else "DESC"
    sql += f" ORDER BY order_dt {direction}, order_number {direction}"
    needs_data = any(body.get(k) not in (None, [], "", 0) for k in _PYTHON_FILTERS)
    rows = ctx.sb.store.query(sql if needs_data else sql.replace(", data FROM", " FROM"), params)
    numbers = [r["order_number"] for r in rows if not needs_data or _passes(json.loads(r["data"]), body)]
    amount = int(pagination.get("requestRecordsAmount", 30))
    page = int(pagination.get("requestPage", 1))
    if not numbers:
        return json_response({
            "MessageModelList": [_m(ctx, "INFO", "102", "注文検索に成功しました。(検索結果0件)")],
            "orderNumberList": [],
            "PaginationResponseModel": {"totalRecordsAmount": None, "totalPages": None, "requestPage": None},
        }, family="order")
    cap = ctx.sb.config.search_result_cap
    first = (page - 1) * amount
    if first >= cap:
        raise OrderApiError(400, [_m(ctx, "ERROR", BEYOND_CAP, f"{cap}件を超える検索結果は取得できません。")],
                            {"orderNumberList": None, "PaginationResponseModel": None})
    chunk = numbers[first:min(first + amount, cap)]
    total = len(numbers)  # [U] whether the real total or the capped one is reported
    return json_response({
        "MessageModelList": [_m(ctx, "INFO", "101", "注文検索に成功しました。")],
        "orderNumberList": chunk,
        "PaginationResponseModel": {"totalRecordsAmount": total, "totalPages": -(-total // amount),
                                    "requestPage": page},
    }, family="order")


# --------------------------------------------------------------------------- getOrder

def _order_number_list(ctx: Ctx, body: dict[str, Any], limit: int = 100) -> list[str]:
    numbers = body.get("orderNumberList")
    if numbers is None:
        raise OrderApiError(400, [_missing(ctx, "orderNumberList")])
    if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
        raise OrderApiError(400, [_bad(ctx, "orderNumberList")])
    if not numbers:
        raise OrderApiError(400, [_empty(ctx, "orderNumberList")])
    if len(numbers) > limit:
        raise OrderApiError(400, [_m(ctx, "ERROR", LIMIT, f"orderNumberListは{limit}件以内で指定して下さい。")])
    return numbers


def get_order(ctx: Ctx) -> Response:
    body = _body(ctx)
    errors = []
    if body.get("orderNumberList") is None:
        errors.append(_missing(ctx, "orderNumberList"))
    if body.get("version") is None:
        errors.append(_missing(ctx, "version"))
    if errors:
        raise OrderApiError(400, errors, {"OrderModelList": []})
    numbers = _order_number_list(ctx, body)
    version = body["version"]
    if not _int(version) or not 3 <= version <= 10:  # 1 and 2 are rejected [T]
        raise OrderApiError(400, [_bad(ctx, "version")], {"OrderModelList": []})
    placeholders = ",".join("?" * len(numbers))
    rows = ctx.sb.store.query(
        f"SELECT order_number, data FROM orders WHERE shop_id = ? AND order_dt >= ? "  # noqa: S608
        f"AND order_number IN ({placeholders})", (ctx.shop_id, ctx.now - HISTORY_DAYS * DAY, *numbers))
    by_number = {r["order_number"]: r["data"] for r in rows}
    found = [n for n in dict.fromkeys(numbers) if n in by_number]
    messages = [_m(ctx, "INFO", "101", f"受注情報取得に成功しました。(取得件数{len(found)}件)")]
    messages.extend(_m(ctx, "WARNING", "101", "指定された注文番号の受注情報が存在しません。", orderNumber=n)  # [U]
                    for n in dict.fromkeys(numbers) if n not in by_number)
    head = json.dumps({"MessageModelList": messages}, ensure_ascii=False, separators=(",", ":"))[:-1]
    if version == 10:  # stored form is version 10: splice the rows without re-encoding them
        orders = ",".join(by_number[n] for n in found)
    else:
        orders = ",".join(json.dumps(for_version(json.loads(by_number[n]), version), ensure_ascii=False)
                          for n in found)
    tail = f',"version":{version}}}' if version >= 6 else "}"
    return raw_json_response(f'{head},"OrderModelList":[{orders}]{tail}'.encode(), family="order")


# --------------------------------------------------------------------------- confirmOrder

def confirm_order(ctx: Ctx) -> Response:
    numbers = _order_number_list(ctx, _body(ctx))
    messages = []
    with ctx.sb.store.tx() as conn:
        for number in numbers:
            rec = load_order(conn, ctx.shop_id, number)
            if rec is None:
                messages.append(_m(ctx, "ERROR", NOT_FOUND, "注文が存在しません。", orderNumber=number))  # [U]
            elif rec.progress in (800, 900):
                messages.append(_m(ctx, "ERROR", "102", "キャンセル済みの注文です。", orderNumber=number))
            elif rec.progress != 100:
                messages.append(_m(ctx, "ERROR", "103", "注文ステータスが変更されています。", orderNumber=number))
            elif not amounts_fixed(rec.data):
                messages.append(_m(ctx, "ERROR", "105", "送料が確定していません。", orderNumber=number))
            else:
                confirm(rec, ctx.now, ctx.sb.config)
                save_order(conn, rec, ctx.sb.config)
                messages.append(_m(ctx, "INFO", "101", "注文確認に成功しました。", orderNumber=number))
    return json_response({"MessageModelList": messages}, family="order")


# --------------------------------------------------------------------------- shipping

def _machine_dependent(text: str) -> bool:
    return any(0x2460 <= ord(c) <= 0x24FF or 0x3200 <= ord(c) <= 0x33FF or unicodedata.category(c) == "Cc"
               for c in text)


def _shipping_format_errors(ctx: Ctx, order: Any, fn: str) -> list[dict[str, Any]]:
    """Format checks of one `{orderNumber, BasketidModelList}`; messages carry dataNumber when per row."""
    def m(kind: str, number: str, text: str, **extra: Any) -> dict[str, Any]:
        return order_message(kind, order_code(fn, kind, number), text, **extra)

    if not isinstance(order, dict):
        return [m("ERROR", FORMAT, "リクエストの書式が不正です。")]
    errors = []
    if not order.get("orderNumber"):
        errors.append(m("ERROR", MISSING, "orderNumberの項目を指定して下さい。"))
    baskets = order.get("BasketidModelList")
    if not baskets:
        errors.append(m("ERROR", MISSING, "BasketidModelListの項目を指定して下さい。"))
        return errors
    if not isinstance(baskets, list):
        return [*errors, m("ERROR", FORMAT, "BasketidModelListの書式が不正です。")]
    data_number = 0
    for basket in baskets:
        if not isinstance(basket, dict) or basket.get("basketId") is None:
            errors.append(m("ERROR", MISSING, "basketIdの項目を指定して下さい。"))
            continue
        if not _int(basket["basketId"]):
            errors.append(m("ERROR", FORMAT, "basketIdの書式が不正です。"))
        rows = basket.get("ShippingModelList")
        if not rows or not isinstance(rows, list):
            errors.append(m("ERROR", MISSING, "ShippingModelListの項目を指定して下さい。"))
            continue
        if len(rows) > ctx.sb.config.shipping_row_limit:
            errors.append(m("ERROR", LIMIT, f"ShippingModelListは{ctx.sb.config.shipping_row_limit}件以内で"
                            "指定して下さい。"))
        for row in rows:
            data_number += 1
            if not isinstance(row, dict):
                errors.append(m("ERROR", FORMAT, "ShippingModelの書式が不正です。", dataNumber=data_number))
                continue
            company = row.get("deliveryCompany")
            if company not in (None, "") and (not isinstance(company, str) or company not in CARRIERS):
                errors.append(m("ERROR", FORMAT, "deliveryCompanyの書式が不正です。", dataNumber=data_number))
            number = row.get("shippingNumber")
            if number not in (None, "") and (not isinstance(number, str) or len(number) > 120
                                             or _machine_dependent(number)):
                errors.append(m("ERROR", FORMAT, "shippingNumberの書式が不正です。", dataNumber=data_number))
            date = row.get("shippingDate")
            if date not in (None, "") and parse_date(date) is None:
                errors.append(m("ERROR", FORMAT, "shippingDateの書式が不正です。", dataNumber=data_number))
            if row.get("shippingDeleteFlag") not in (None, 0, 1):
                errors.append(m("ERROR", FORMAT, "shippingDeleteFlagの書式が不正です。", dataNumber=data_number))
            detail = row.get("shippingDetailId")
            if detail is not None and not _int(detail):
                errors.append(m("ERROR", FORMAT, "shippingDetailIdの書式が不正です。", dataNumber=data_number))
            if row.get("shippingDeleteFlag") == 1 and detail is None:
                errors.append(m("ERROR", MISSING, "shippingDetailIdの項目を指定して下さい。", dataNumber=data_number))
    return errors


def _apply_shipping(conn: sqlite3.Connection, ctx: Ctx, order: dict[str, Any], fn: str) -> list[dict[str, Any]]:
    """Adds, updates and deletes shipping rows of one order; all or nothing. Raises OrderApiError(400)."""
    def m(kind: str, number: str, text: str, **extra: Any) -> dict[str, Any]:
        return order_message(kind, order_code(fn, kind, number), text, **extra)

    number = order["orderNumber"]
    rec = load_order(conn, ctx.shop_id, number)
    if rec is None:
        raise OrderApiError(400, [m("ERROR", NOT_FOUND, "注文が存在しません。", orderNumber=number)])  # [U]
    if rec.progress == 900:
        raise OrderApiError(400, [m("ERROR", "102", "キャンセル済みの注文のため発送情報を更新できません。",
                                    orderNumber=number)])
    if rec.progress < 300:
        raise OrderApiError(400, [m("ERROR", STATE, "発送待ち以降の注文のみ発送情報を更新できます。",  # [U]
                                    orderNumber=number)])
    packages = {p["basketId"]: p for p in rec.data["PackageModelList"]}
    messages: list[dict[str, Any]] = []
    data_number = 0
    for basket in order["BasketidModelList"]:
        package = packages.get(basket["basketId"])
        if package is None:
            raise OrderApiError(400, [m("ERROR", FORMAT, "basketIdが存在しません。", orderNumber=number)])  # [U]
        rows_by_id = {r["shippingDetailId"]: r for r in package["ShippingModelList"]}
        for row in basket["ShippingModelList"]:
            data_number += 1
            detail_id = row.get("shippingDetailId")
            if detail_id is None:
                detail_id = Store.next_ids(conn, ctx.shop_id, "shipping_detail_id", 700000)
                new = {"shippingDetailId": detail_id, "shippingNumber": None, "deliveryCompany": None,
                       "deliveryCompanyName": None, "shippingDate": None}
                _merge_row(new, row)
                package["ShippingModelList"].append(new)
                rows_by_id[detail_id] = new
                messages.append(m("INFO", "101", "発送情報の追加設定が完了しました。", dataNumber=data_number,
                                  shippingDetailId=detail_id))
            elif detail_id not in rows_by_id:
                raise OrderApiError(400, [m("ERROR", FORMAT, "shippingDetailIdが存在しません。",  # [U]
                                            dataNumber=data_number)])
            elif row.get("shippingDeleteFlag") == 1:
                package["ShippingModelList"].remove(rows_by_id.pop(detail_id))
                messages.append(m("INFO", "103", "発送情報の削除が完了しました。", dataNumber=data_number,
                                  shippingDetailId=detail_id))
            else:
                _merge_row(rows_by_id[detail_id], row)
                messages.append(m("INFO", "102", "発送情報の更新が完了しました。", dataNumber=data_number,
                                  shippingDetailId=detail_id))
        if len(package["ShippingModelList"]) > ctx.sb.config.shipping_row_limit:
            raise OrderApiError(400, [m("ERROR", LIMIT, "発送情報の件数が上限を超えています。", orderNumber=number)])
    complete = [r for p in rec.data["PackageModelList"] for r in p["ShippingModelList"]
                if r.get("deliveryCompany") and r.get("shippingDate")]
    if rec.progress == 300 and complete:
        ship_date = min(date_start_ts(parse_date(r["shippingDate"])) for r in complete)  # type: ignore[arg-type]
        shipping_reported(rec, ctx.now, ship_date, ctx.sb.config)
    save_order(conn, rec, ctx.sb.config)
    return messages


def _merge_row(target: dict[str, Any], row: dict[str, Any]) -> None:
    """Omitted field = unchanged, empty string = cleared."""
    for key in ("shippingNumber", "deliveryCompany", "shippingDate"):
        if key in row and row[key] is not None:
            target[key] = row[key] if row[key] != "" else None
    target["deliveryCompanyName"] = CARRIERS.get(target["deliveryCompany"] or "")


def _record_report(conn: sqlite3.Connection, ctx: Ctx, order: dict[str, Any], request_id: str | None,
                   messages: list[dict[str, Any]]) -> None:
    conn.execute(
        "INSERT INTO shipping_reports (shop_id, order_number, function, at, request_id, body, result) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ctx.shop_id, str(order.get("orderNumber")), ctx.short, ctx.now, request_id,
         json.dumps(order, ensure_ascii=False), json.dumps(messages, ensure_ascii=False)))


def update_order_shipping(ctx: Ctx) -> Response:
    body = _body(ctx)
    errors = _shipping_format_errors(ctx, body, ctx.short)
    if errors:
        raise OrderApiError(400, errors)
    with ctx.sb.store.lock:
        try:
            with ctx.sb.store.tx() as conn:
                messages = _apply_shipping(conn, ctx, body, ctx.short)
                _record_report(conn, ctx, body, None, messages)
        except OrderApiError as exc:
            with ctx.sb.store.tx() as conn:
                _record_report(conn, ctx, body, None, exc.messages)
            raise
    return json_response({"MessageModelList": messages}, family="order")


def update_order_shipping_async(ctx: Ctx) -> Response:
    body = _body(ctx)
    orders = body.get("OrderShippingModelList")
    errors: list[dict[str, Any]] = []
    if not orders:
        errors.append(_missing(ctx, "OrderShippingModelList"))
    elif not isinstance(orders, list):
        errors.append(_bad(ctx, "OrderShippingModelList"))
    elif len(orders) > 100:
        errors.append(_m(ctx, "ERROR", LIMIT, "OrderShippingModelListは100件以内で指定して下さい。"))
    else:
        numbers = [o.get("orderNumber") for o in orders if isinstance(o, dict)]
        if len(set(numbers)) != len(numbers):
            errors.append(_m(ctx, "ERROR", FORMAT, "orderNumberが重複しています。"))
        for order in orders:
            errors.extend(_shipping_format_errors(ctx, order, ctx.short))
    if errors:  # [C] validation errors of the async call come back with HTTP 200 and no requestId
        for error in errors:
            error.setdefault("requestId", None)
        return json_response({"MessageModelList": errors}, family="order")
    assert isinstance(orders, list)
    request_id = f"{uuid.UUID(int=random.getrandbits(128))}_{to_jst(ctx.now).strftime('%Y%m%d%H%M%S')}"
    results = []
    sync_fn = "updateOrderShipping"
    for order in orders:
        try:
            with ctx.sb.store.tx() as conn:
                messages = _apply_shipping(conn, ctx, order, sync_fn)
                _record_report(conn, ctx, order, request_id, messages)
        except OrderApiError as exc:
            messages = exc.messages
            with ctx.sb.store.tx() as conn:
                _record_report(conn, ctx, order, request_id, messages)
        results.append({"orderNumber": order["orderNumber"], "MessageModelList": messages})
    with ctx.sb.store.tx() as conn:
        conn.execute("INSERT INTO async_requests (request_id, shop_id, at, result) VALUES (?, ?, ?, ?)",
                     (request_id, ctx.shop_id, ctx.now, json.dumps(results, ensure_ascii=False)))
    return json_response({"MessageModelList": [
        _m(ctx, "INFO", "101", "発送情報の非同期更新を受け付けました。", requestId=request_id,
           dataNumber=None, shippingDetailId=None)]}, family="order")


def get_result_update_order_shipping_async(ctx: Ctx) -> Response:
    body = _body(ctx)
    request_id = body.get("requestId")
    if request_id is None:
        raise OrderApiError(400, [_missing(ctx, "requestId")])
    if not isinstance(request_id, str) or not request_id:
        raise OrderApiError(400, [_empty(ctx, "requestId")])
    row = ctx.sb.store.one("SELECT at, result FROM async_requests WHERE request_id = ? AND shop_id = ?",
                           (request_id, ctx.shop_id))
    if row is None or row["at"] < ctx.now - ctx.sb.config.async_result_days * DAY:
        raise OrderApiError(400, [_m(ctx, "ERROR", NOT_FOUND, "指定されたrequestIdの処理結果が存在しません。")])  # [U]
    return json_response({
        "MessageModelList": [_m(ctx, "INFO", "101", "処理結果の取得に成功しました。")],
        "ResultShippingModelList": json.loads(row["result"]),
    }, family="order")


# --------------------------------------------------------------------------- cancellations

def _cancel_params(ctx: Ctx, body: dict[str, Any]) -> tuple[str, int, int]:
    errors = []
    for name in ("orderNumber", "inventoryRestoreType", "changeReasonDetailApply"):
        if body.get(name) is None:
            errors.append(_missing(ctx, name))
    if body.get("inventoryRestoreType") is not None and body["inventoryRestoreType"] not in (0, 1, 2):
        errors.append(_bad(ctx, "inventoryRestoreType"))
    if body.get("changeReasonDetailApply") is not None and body["changeReasonDetailApply"] not in CANCEL_REASONS:
        errors.append(_bad(ctx, "changeReasonDetailApply"))
    if errors:
        raise OrderApiError(400, errors)
    return str(body["orderNumber"]), int(body["inventoryRestoreType"]), int(body["changeReasonDetailApply"])


def _load_for_cancel(conn: sqlite3.Connection, ctx: Ctx, number: str, allowed: tuple[int, ...]) -> OrderRecord:
    rec = load_order(conn, ctx.shop_id, number)
    if rec is None:
        raise OrderApiError(400, [_m(ctx, "ERROR", NOT_FOUND, "注文が存在しません。", orderNumber=number)])  # [U]
    if rec.progress not in allowed:
        raise OrderApiError(400, [_m(ctx, "ERROR", STATE, "現在のステータスではキャンセルできません。",  # [U]
                                     orderNumber=number)])
    return rec


def cancel_order(ctx: Ctx) -> Response:
    number, restore, reason = _cancel_params(ctx, _body(ctx))
    with ctx.sb.store.tx() as conn:
        rec = _load_for_cancel(conn, ctx, number, CANCELLABLE)
        cancel_apply(rec, ctx.now, reason, restore, customer=reason <= 6, config=ctx.sb.config)
        save_order(conn, rec, ctx.sb.config)
    return json_response({"MessageModelList": [
        _m(ctx, "INFO", "101", "キャンセル申請に成功しました。", orderNumber=number)]}, family="order")


def cancel_order_after_shipping(ctx: Ctx) -> Response:
    number, restore, reason = _cancel_params(ctx, _body(ctx))
    with ctx.sb.store.tx() as conn:
        rec = _load_for_cancel(conn, ctx, number, CANCELLABLE_AFTER_SHIPPING)
        cancel_after_shipping(conn, rec, ctx.now, reason, restore)
        save_order(conn, rec, ctx.sb.config)
    return json_response({"MessageModelList": [
        _m(ctx, "INFO", "101", "キャンセルが完了しました。", orderNumber=number)]}, family="order")


# --------------------------------------------------------------------------- sub-statuses ([T] JakeJP models)

def get_sub_status_list(ctx: Ctx) -> Response:
    rows = ctx.sb.store.query("SELECT sub_status_id, name, progress, seq FROM sub_statuses WHERE shop_id = ? "
                              "ORDER BY progress, seq", (ctx.shop_id,))
    groups: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["progress"], []).append(
            {"subStatusId": row["sub_status_id"], "subStatusName": row["name"], "orderby": row["seq"]})
    return json_response({
        "MessageModelList": [_m(ctx, "INFO", "101", "サブステータス一覧の取得に成功しました。")],
        "StatusModelList": [{"orderProgress": p, "SubStatusModelList": subs} for p, subs in groups.items()],
    }, family="order")


def update_order_sub_status(ctx: Ctx) -> Response:
    body = _body(ctx)
    sub_id = body.get("subStatusId")
    if sub_id is None:
        raise OrderApiError(400, [_missing(ctx, "subStatusId")])
    numbers = _order_number_list(ctx, body)
    sub = ctx.sb.store.one("SELECT name FROM sub_statuses WHERE shop_id = ? AND sub_status_id = ?",
                           (ctx.shop_id, sub_id))
    if sub is None:
        raise OrderApiError(400, [_m(ctx, "ERROR", "102", "指定されたサブステータスIDは存在しません。")])
    messages = []
    with ctx.sb.store.tx() as conn:
        for number in numbers:
            rec = load_order(conn, ctx.shop_id, number)
            if rec is None:
                messages.append(_m(ctx, "ERROR", "016", "他店舗の注文、または存在しない注文です。", orderNumber=number))
            elif rec.progress == 900:
                messages.append(_m(ctx, "ERROR", "101", "キャンセル済みの注文です。", orderNumber=number))
            else:
                rec.data["subStatusId"], rec.data["subStatusName"] = sub_id, sub["name"]
                save_order(conn, rec, ctx.sb.config)
                messages.append(_m(ctx, "INFO", "101", "サブステータスの更新に成功しました。", orderNumber=number))
    return json_response({"MessageModelList": messages}, family="order")


ORDER_FUNCTIONS = {
    "searchOrder": search_order,
    "getOrder": get_order,
    "confirmOrder": confirm_order,
    "updateOrderShipping": update_order_shipping,
    "updateOrderShippingAsync": update_order_shipping_async,
    "getResultUpdateOrderShippingAsync": get_result_update_order_shipping_async,
    "cancelOrder": cancel_order,
    "cancelOrderAfterShipping": cancel_order_after_shipping,
    "getSubStatusList": get_sub_status_list,
    "updateOrderSubStatus": update_order_sub_status,
}
