"""InventoryAPI 2.0 / 2.1: variants get/upsert/delete, bulk-get, bulk-get range, bulk-upsert, variant lists."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from starlette.responses import Response

from rms_sandbox.core import Ctx
from rms_sandbox.errors import ItemApiError, empty_response, item_error_entry, json_response
from rms_sandbox.timefmt import item_dt
from rms_sandbox.validate import (
    check_manage_number,
    invalid,
    is_int,
    mandatory,
    not_in_enum,
    out_of_range,
    too_many,
    variant_id_errors,
)

MAX_QUANTITY = 99999
MODES = ("ABSOLUTE", "RELATIVE")
# [U] Lead-time and ship-from IDs come from ShopAPI masters the sandbox does not model; these are known.
KNOWN_LEAD_TIME_IDS = range(1, 21)
KNOWN_SHIP_FROM_IDS = range(1, 21)


def _view(row: sqlite3.Row, v21: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"manageNumber": row["manage_number"], "variantId": row["variant_id"],
                            "quantity": row["quantity"]}
    if v21 and row["extra"]:
        body.update(json.loads(row["extra"]))
    body["created"] = item_dt(row["created"])
    body["updated"] = item_dt(row["updated"])
    return body


def _is_21(ctx: Ctx) -> bool:
    return ctx.path_params.get("version") == "2.1"


def _pair(ctx: Ctx) -> tuple[str, str]:
    manage_number = check_manage_number(ctx.path_params["manage_number"])
    variant_id = ctx.path_params["variant_id"]
    errors = variant_id_errors(variant_id, "variantId")
    if errors:
        raise ItemApiError(400, errors)
    return manage_number, variant_id


def _not_found(manage_number: str, variant_id: str) -> ItemApiError:
    return ItemApiError.one(
        404, "GE0014", f"Not found for inputs; manageNumber={manage_number}, variantId={variant_id}")


def variants_get(ctx: Ctx) -> Response:
    manage_number, variant_id = _pair(ctx)
    row = ctx.sb.store.one(
        "SELECT * FROM inventory WHERE shop_id = ? AND manage_number = ? AND variant_id = ?",
        (ctx.shop_id, manage_number, variant_id))
    if row is None:
        raise _not_found(manage_number, variant_id)
    return json_response(_view(row, _is_21(ctx)))


def _record_errors(record: Any, path: str, v21: bool, errors: list[dict[str, Any]]) -> None:
    """mode / quantity / 2.1 fields of one upsert record; the quantity-after-update check comes later."""
    prefix = f"{path}." if path else ""
    if not isinstance(record, dict):
        errors.append(invalid(path or "body", record))
        return
    mode = record.get("mode")
    if mode is None:
        errors.append(mandatory(f"{prefix}mode"))
    elif mode not in MODES:
        errors.append(not_in_enum(f"{prefix}mode", MODES))
    quantity = record.get("quantity")
    if quantity is None:
        errors.append(mandatory(f"{prefix}quantity"))
    elif not is_int(quantity):
        errors.append(invalid(f"{prefix}quantity", quantity))
    elif mode == "ABSOLUTE" and not 0 <= quantity <= MAX_QUANTITY:
        errors.append(out_of_range(f"{prefix}quantity", 0, MAX_QUANTITY))
    elif mode == "RELATIVE" and not -MAX_QUANTITY <= quantity <= MAX_QUANTITY:
        errors.append(out_of_range(f"{prefix}quantity", -MAX_QUANTITY, MAX_QUANTITY))
    if not v21:
        return
    lead = record.get("operationLeadTime")
    if lead is not None:
        if not isinstance(lead, dict):
            errors.append(invalid(f"{prefix}operationLeadTime", lead))
        else:
            for key in ("normalDeliveryTimeId", "backOrderDeliveryTimeId"):
                value = lead.get(key)
                if value is not None and (not is_int(value) or value not in KNOWN_LEAD_TIME_IDS):
                    errors.append(item_error_entry("IE0118", f"{prefix}operationLeadTime.{key} is not defined.",
                                                   f"{prefix}operationLeadTime.{key}"))
    ship_from = record.get("shipFromIds")
    if ship_from is not None:
        if not isinstance(ship_from, list) or len(ship_from) > 1:
            errors.append(too_many(f"{prefix}shipFromIds", 1))
        elif any(not is_int(v) or v not in KNOWN_SHIP_FROM_IDS for v in ship_from):
            errors.append(item_error_entry("IE0118", f"{prefix}shipFromIds is not defined.", f"{prefix}shipFromIds"))


def _extra(record: dict[str, Any]) -> str | None:
    """The 2.1 settings a full-replace upsert stores (omitted ones are cleared)."""
    extra = {k: record[k] for k in ("operationLeadTime", "shipFromIds") if record.get(k) is not None}
    return json.dumps(extra) if extra else None


def _apply(conn: sqlite3.Connection, ctx: Ctx, records: list[tuple[str, str, dict[str, Any], str]],
           v21: bool) -> None:
    """Applies validated records in the caller's transaction; raises on quantity or existence errors."""
    errors: list[dict[str, Any]] = []
    rows: list[tuple[Any, ...]] = []
    new_per_item: dict[str, int] = {}
    current_cache: dict[tuple[str, str], int | None] = {}
    for manage_number, variant_id, record, path in records:
        prefix = f"{path}." if path else ""
        key = (manage_number, variant_id)
        if key in current_cache:
            current = current_cache[key]
        else:
            found = conn.execute(
                "SELECT quantity FROM inventory WHERE shop_id = ? AND manage_number = ? AND variant_id = ?",
                (ctx.shop_id, manage_number, variant_id)).fetchone()
            current = None if found is None else found[0]
        if record["mode"] == "RELATIVE":
            if current is None:
                errors.append(item_error_entry(
                    "IE0500", f"RELATIVE mode cannot be used for a new inventory; manageNumber={manage_number}, "
                    f"variantId={variant_id}.", f"{prefix}mode"))
                continue
            quantity = current + record["quantity"]
            if not 0 <= quantity <= MAX_QUANTITY:
                errors.append(item_error_entry(
                    "IE0117", f"{prefix}quantity after update must be between 0 and {MAX_QUANTITY}.",
                    f"{prefix}quantity"))
                continue
        else:
            quantity = record["quantity"]
            if current is None:
                new_per_item[manage_number] = new_per_item.get(manage_number, 0) + 1
        current_cache[key] = quantity
        rows.append((ctx.shop_id, manage_number, variant_id, quantity, _extra(record) if v21 else None,
                     ctx.now, ctx.now, int(v21)))
    for manage_number, added in new_per_item.items():
        existing = conn.execute("SELECT COUNT(*) FROM inventory WHERE shop_id = ? AND manage_number = ?",
                                (ctx.shop_id, manage_number)).fetchone()[0]
        if existing + added > 400:
            errors.append(item_error_entry(
                "IE0121", f"The number of variants of manageNumber={manage_number} must be within 400.",
                "manageNumber"))
    if errors:
        raise ItemApiError(400, errors)
    # 2.1 replaces lead time and ship-from (cleared when omitted); 2.0 leaves them as they were.
    conn.executemany(
        "INSERT INTO inventory (shop_id, manage_number, variant_id, quantity, extra, created, updated) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (shop_id, manage_number, variant_id) DO UPDATE SET "
        "quantity = excluded.quantity, updated = excluded.updated, "
        "extra = CASE WHEN ?8 = 1 THEN excluded.extra ELSE inventory.extra END",
        rows,
    )


def variants_upsert(ctx: Ctx) -> Response:
    manage_number, variant_id = _pair(ctx)
    body = ctx.json()
    v21 = _is_21(ctx)
    errors: list[dict[str, Any]] = []
    _record_errors(body, "", v21, errors)
    if errors:
        raise ItemApiError(400, errors)
    with ctx.sb.store.tx() as conn:
        _apply(conn, ctx, [(manage_number, variant_id, body, "")], v21)
    return empty_response(204)


def variants_delete(ctx: Ctx) -> Response:
    manage_number, variant_id = _pair(ctx)
    with ctx.sb.store.tx() as conn:
        deleted = conn.execute(
            "DELETE FROM inventory WHERE shop_id = ? AND manage_number = ? AND variant_id = ?",
            (ctx.shop_id, manage_number, variant_id)).rowcount
    if not deleted:
        raise _not_found(manage_number, variant_id)
    return empty_response(204)


def _pairs(ctx: Ctx, limit: int) -> list[tuple[str, str, dict[str, Any], str]]:
    body = ctx.json()
    records = body.get("inventories") if isinstance(body, dict) else None
    if not records or not isinstance(records, list):
        raise ItemApiError(400, [mandatory("inventories")])
    if len(records) > limit:
        raise ItemApiError(400, [too_many("inventories", limit)])
    errors: list[dict[str, Any]] = []
    out: list[tuple[str, str, dict[str, Any], str]] = []
    seen: set[tuple[str, str]] = set()
    for i, record in enumerate(records):
        path = f"inventories[{i}]"
        if not isinstance(record, dict):
            errors.append(invalid(path, record))
            continue
        raw_number = record.get("manageNumber")
        if not isinstance(raw_number, str) or not raw_number:
            errors.append(mandatory(f"{path}.manageNumber"))
            continue
        try:
            manage_number = check_manage_number(raw_number, f"{path}.manageNumber")
        except ItemApiError as exc:
            errors.extend(exc.errors)
            continue
        variant_errors = variant_id_errors(record.get("variantId"), f"{path}.variantId")
        if variant_errors:
            errors.extend(variant_errors)
            continue
        key = (manage_number, record["variantId"])
        if key in seen:
            errors.append(item_error_entry(
                "IE1102", f"Duplicate manageNumber and variantId: {key[0]}, {key[1]}.", path))
            continue
        seen.add(key)
        out.append((manage_number, record["variantId"], record, path))
    if errors:
        raise ItemApiError(400, errors)
    return out


def bulk_get(ctx: Ctx) -> Response:
    pairs = _pairs(ctx, 1000)
    v21 = _is_21(ctx)
    found: dict[tuple[str, str], sqlite3.Row] = {}
    numbers = sorted({manage_number for manage_number, _, _, _ in pairs})
    with ctx.sb.store.lock:
        conn = ctx.sb.store.conn
        for i in range(0, len(numbers), 500):  # the items' records in a few queries, not one per pair
            chunk = numbers[i : i + 500]
            for row in conn.execute(
                    f"SELECT * FROM inventory WHERE shop_id = ? AND manage_number IN ({','.join('?' * len(chunk))})",  # noqa: S608 - placeholders only
                    (ctx.shop_id, *chunk)):  # fmt: skip
                found[(row["manage_number"], row["variant_id"])] = row
    inventories = [_view(found[(m, v)], v21) for m, v, _, _ in pairs if (m, v) in found]
    return json_response({"inventories": inventories})


def bulk_get_range(ctx: Ctx) -> Response:
    params = dict(ctx.query)
    bounds: dict[str, int] = {}
    for name in ("minQuantity", "maxQuantity"):
        raw = params.get(name)
        if raw is None or raw == "":
            continue
        if not re.fullmatch(r"-?\d+", raw):
            raise ItemApiError(400, [invalid(name, raw)])
        value = int(raw)
        if not 0 <= value <= MAX_QUANTITY:
            raise ItemApiError(400, [out_of_range(name, 0, MAX_QUANTITY)])
        bounds[name] = value
    if not bounds:
        raise ItemApiError.one(400, "IE0105", "Either minQuantity or maxQuantity is mandatory.")
    low, high = bounds.get("minQuantity", 0), bounds.get("maxQuantity", MAX_QUANTITY)
    if low > high:
        raise ItemApiError.one(400, "IE0113", "minQuantity must be less than or equal to maxQuantity.")
    rows = ctx.sb.store.query(
        "SELECT * FROM inventory WHERE shop_id = ? AND quantity BETWEEN ? AND ? ORDER BY updated DESC, "
        "manage_number, variant_id LIMIT 1001", (ctx.shop_id, low, high))
    if len(rows) > 1000:
        raise ItemApiError.one(400, "IE0116", "Too many search results, please change the query of search.")
    return json_response({"inventories": [_view(r, _is_21(ctx)) for r in rows]})


def bulk_upsert(ctx: Ctx) -> Response:
    pairs = _pairs(ctx, 400)
    v21 = _is_21(ctx)
    errors: list[dict[str, Any]] = []
    for _, _, record, path in pairs:
        _record_errors(record, path, v21, errors)
    if errors:
        raise ItemApiError(400, errors)
    with ctx.sb.store.tx() as conn:
        _apply(conn, ctx, pairs, v21)
    return empty_response(204)


def variant_lists_get(ctx: Ctx) -> Response:
    """2.1 only [C]; the element shape of `variantList` is not in the reference [U]."""
    manage_number = check_manage_number(ctx.path_params["manage_number"])
    rows = ctx.sb.store.query(
        "SELECT variant_id, quantity, created, updated FROM inventory WHERE shop_id = ? AND manage_number = ? "
        "ORDER BY variant_id", (ctx.shop_id, manage_number))
    if not rows:
        raise ItemApiError.one(404, "GE0014", f"Not found for inputs; manageNumber={manage_number}")
    return json_response({
        "manageNumber": manage_number,
        "variantList": [{"variantId": r["variant_id"], "quantity": r["quantity"]} for r in rows],
        "created": item_dt(min(r["created"] for r in rows)),
        "updated": item_dt(max(r["updated"] for r in rows)),
    })
