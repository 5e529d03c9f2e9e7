"""ItemAPI 2.0: items.get / upsert / patch / delete / search / bulk.get and inventory-related settings."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from typing import Any

from starlette.responses import Response

from rms_sandbox.core import Ctx
from rms_sandbox.errors import ItemApiError, empty_response, item_error_entry, json_response
from rms_sandbox.timefmt import item_dt, parse_date
from rms_sandbox.validate import (
    bool_field,
    check_manage_number,
    int_in,
    invalid,
    mandatory,
    not_in_enum,
    out_of_range,
    price,
    str_max,
    too_many,
    variant_id_errors,
)

ITEM_TYPES = ("NORMAL", "PRE_ORDER", "BUYING_CLUB")
IMAGE_TYPES = ("CABINET", "GOLD", "ABSOLUTE")  # ABSOLUTE appears in one sample [U]
INVENTORY_DISPLAYS = ("DISPLAY_ABSOLUTE_STOCK_COUNT", "HIDDEN_STOCK", "DISPLAY_LOW_STOCK")
SEARCH_VISIBILITY = ("ALWAYS_VISIBLE", "ALWAYS_HIDDEN")
REVIEW = ("SHOP_SETTING", "VISIBLE", "HIDDEN")
REFERENCE_DISPLAY = ("REFERENCE_PRICE", "SHOP_SETTING", "OPEN_PRICE")
INPUT_TYPES = ("SINGLE_SELECTION", "MULTIPLE_SELECTION", "FREE_TEXT")

ITEM_FIELDS = frozenset({
    "itemNumber", "title", "tagline", "productDescription", "salesDescription", "precautions", "itemType",
    "images", "whiteBgImage", "video", "genreId", "tags", "hideItem", "unlimitedInventoryFlag",
    "customizationOptions", "releaseDate", "purchasablePeriod", "subscription", "buyingClub", "features",
    "accessControl", "payment", "pointCampaign", "itemDisplaySequence", "layout", "variantSelectors",
    "variants",
})
# Read-only fields a client may echo back from items.get; ignored on write [U].
READ_ONLY_FIELDS = frozenset({"manageNumber", "created", "updated"})
VARIANT_FIELDS = frozenset({
    "merchantDefinedSkuId", "selectorValues", "images", "restockOnCancel", "backOrderFlag",
    "normalDeliveryDateId", "backOrderDeliveryDateId", "orderQuantityLimit", "referencePrice", "features",
    "hidden", "standardPrice", "subscriptionPrice", "articleNumber", "articleNumberForSet", "shipping",
    "specs", "attributes",
})
KEEP_WHEN_OMITTED = (("features", "socialGiftFlag"),)  # upsert keeps these [C]; okihai is per variant
_IMAGE_LOCATION = re.compile(r"^[0-9A-Za-z\-./:_]+$")
_GENRE = re.compile(r"^\d{6}$")


# --------------------------------------------------------------------------- validation

def _image_errors(image: Any, path: str, errors: list[dict[str, Any]]) -> None:
    if not isinstance(image, dict):
        errors.append(invalid(path, image))
        return
    if image.get("type") is None:
        errors.append(mandatory(f"{path}.type"))
    elif image["type"] not in IMAGE_TYPES:
        errors.append(not_in_enum(f"{path}.type", IMAGE_TYPES))
    location = image.get("location")
    if location is None:
        errors.append(mandatory(f"{path}.location"))
    elif not isinstance(location, str) or not _IMAGE_LOCATION.match(location):
        errors.append(invalid(f"{path}.location", location))
    else:
        str_max(location, f"{path}.location", 255, errors)
        if location.lower().rsplit(".", 1)[-1] not in ("jpg", "jpeg", "png", "gif"):
            errors.append(item_error_entry(
                "IE0224", f"{path}.location must have a jpg, jpeg, png or gif extension.", f"{path}.location"))
    str_max(image.get("alt"), f"{path}.alt", 255, errors)


def _variant_errors(item: dict[str, Any], vid: str, variant: Any, errors: list[dict[str, Any]]) -> None:
    path = f"variants.{vid}"
    errors.extend(variant_id_errors(vid, path))
    if not isinstance(variant, dict):
        errors.append(invalid(path, variant))
        return
    for key in variant:
        if key not in VARIANT_FIELDS:
            errors.append(invalid(f"{path}.{key}", "unrecognized field"))
    str_max(variant.get("merchantDefinedSkuId"), f"{path}.merchantDefinedSkuId", 96, errors)
    for flag in ("hidden", "restockOnCancel", "backOrderFlag"):
        bool_field(variant.get(flag), f"{path}.{flag}", errors)
    if variant.get("backOrderFlag") and variant.get("backOrderDeliveryDateId") is None:
        errors.append(item_error_entry("IE0164", f"{path}.backOrderDeliveryDateId is mandatory when "
                                       "backOrderFlag is true.", f"{path}.backOrderDeliveryDateId"))
    if variant.get("orderQuantityLimit") is not None:
        int_in(variant["orderQuantityLimit"], f"{path}.orderQuantityLimit", 0, 400, errors)
    images = variant.get("images")
    if images is not None:
        if not isinstance(images, list):
            errors.append(invalid(f"{path}.images", images))
        else:
            if len(images) > 1:
                errors.append(too_many(f"{path}.images", 1))
            for i, image in enumerate(images):
                _image_errors(image, f"{path}.images[{i}]", errors)
    item_type = item.get("itemType")
    std = variant.get("standardPrice")
    if item_type == "BUYING_CLUB":
        if std is not None:
            errors.append(invalid(f"{path}.standardPrice", std))
    elif std is None:
        errors.append(mandatory(f"{path}.standardPrice"))
    else:
        canonical = price(std, f"{path}.standardPrice", 0, 999999999, errors)
        if canonical is not None:
            variant["standardPrice"] = canonical
    _reference_price_errors(variant, path, errors)
    _shipping_errors(variant, path, errors)
    article = variant.get("articleNumber")
    if article is not None:
        if not isinstance(article, dict) or (article.get("value") is None and article.get("exemptionReason") is None):
            errors.append(item_error_entry("IE0229", f"{path}.articleNumber needs value or exemptionReason.",
                                           f"{path}.articleNumber"))
        else:
            str_max(article.get("value"), f"{path}.articleNumber.value", 30, errors)
            if article.get("exemptionReason") is not None:
                int_in(article["exemptionReason"], f"{path}.articleNumber.exemptionReason", 1, 6, errors)
    specs = variant.get("specs")
    if isinstance(specs, list) and len(specs) > 5:
        errors.append(too_many(f"{path}.specs", 5))
    attributes = variant.get("attributes")
    if isinstance(attributes, list) and len(attributes) > 100:
        errors.append(too_many(f"{path}.attributes", 100))


def _reference_price_errors(variant: dict[str, Any], path: str, errors: list[dict[str, Any]]) -> None:
    ref = variant.get("referencePrice")
    if ref is None:
        return
    rpath = f"{path}.referencePrice"
    if not isinstance(ref, dict):
        errors.append(invalid(rpath, ref))
        return
    display = ref.get("displayType")
    if display not in REFERENCE_DISPLAY:
        errors.append(not_in_enum(f"{rpath}.displayType", REFERENCE_DISPLAY))
        return
    if display == "REFERENCE_PRICE":
        if ref.get("type") not in (1, 2, 4):
            errors.append(item_error_entry("IE0151", f"{rpath}.type must be 1, 2 or 4.", f"{rpath}.type"))
        elif ref["type"] != 4:
            if ref.get("value") is None:
                errors.append(mandatory(f"{rpath}.value"))
            else:
                canonical = price(ref["value"], f"{rpath}.value", 1, 999999999, errors)
                if canonical is not None:
                    ref["value"] = canonical
    else:
        if ref.get("type") is not None:
            errors.append(item_error_entry("IE0151", f"{rpath}.type must not be set for {display}.",
                                           f"{rpath}.type"))
        if display == "OPEN_PRICE" and ref.get("value") is not None:
            errors.append(item_error_entry("IE0193", f"{rpath}.value must not be set for OPEN_PRICE.",
                                           f"{rpath}.value"))


def _shipping_errors(variant: dict[str, Any], path: str, errors: list[dict[str, Any]]) -> None:
    shipping = variant.get("shipping")
    if shipping is None:
        return
    spath = f"{path}.shipping"
    if not isinstance(shipping, dict):
        errors.append(invalid(spath, shipping))
        return
    ways = [k for k in ("fee", "shopAreaSoryoPatternId", "postageSegment") if shipping.get(k) is not None]
    if len(ways) > 1:
        errors.append(item_error_entry(
            "IE0101", f"Only one of fee, shopAreaSoryoPatternId and postageSegment may be set in {spath}.", spath))
    if shipping.get("postageIncluded") and ways:
        errors.append(item_error_entry(
            "IE0153", f"{spath}.{ways[0]} must not be set when postageIncluded is true.", f"{spath}.{ways[0]}"))
    if shipping.get("fee") is not None:
        canonical = price(shipping["fee"], f"{spath}.fee", 0, 999999999, errors)
        if canonical is not None:
            shipping["fee"] = canonical
    if shipping.get("shopAreaSoryoPatternId") is not None:
        int_in(shipping["shopAreaSoryoPatternId"], f"{spath}.shopAreaSoryoPatternId", 1, 20, errors)
    if shipping.get("singleItemShipping") is not None:
        int_in(shipping["singleItemShipping"], f"{spath}.singleItemShipping", 0, 6, errors)


def validate_item(item: dict[str, Any]) -> None:
    """Checks a complete item (after upsert defaults or a patch merge); raises every error found."""
    errors: list[dict[str, Any]] = []
    for key in item:
        if key not in ITEM_FIELDS and key not in READ_ONLY_FIELDS:
            errors.append(invalid(key, "unrecognized field"))
    title = item.get("title")
    if title is None or title == "":
        errors.append(mandatory("title"))
    else:
        str_max(title, "title", 255, errors)
    str_max(item.get("itemNumber"), "itemNumber", 32, errors)
    str_max(item.get("tagline"), "tagline", 174, errors)
    str_max(item.get("salesDescription"), "salesDescription", 10240, errors)
    desc = item.get("productDescription")
    if isinstance(desc, dict):
        str_max(desc.get("pc"), "productDescription.pc", 10240, errors)
        str_max(desc.get("sp"), "productDescription.sp", 10240, errors)
    item_type = item.get("itemType")
    if item_type is None:
        errors.append(mandatory("itemType"))
    elif item_type not in ITEM_TYPES:
        errors.append(not_in_enum("itemType", ITEM_TYPES))
    genre = item.get("genreId")
    if genre is None:
        errors.append(mandatory("genreId"))
    elif not isinstance(genre, str | int) or not _GENRE.match(str(genre)) or int(genre) < 100000:
        errors.append(item_error_entry("IE0146", f"Failed to get genre information. genreId={genre}", "genreId"))
    tags = item.get("tags")
    if tags is not None:
        if not isinstance(tags, list) or len(tags) > 32:
            errors.append(too_many("tags", 32))
        else:
            for i, tag in enumerate(tags):
                int_in(tag, f"tags[{i}]", 5000000, 9999999, errors)
    bool_field(item.get("hideItem"), "hideItem", errors)
    if item.get("unlimitedInventoryFlag") is True:
        errors.append(item_error_entry("IE0181", "This shop is not allowed to use unlimitedInventoryFlag.",
                                       "unlimitedInventoryFlag"))
    images = item.get("images")
    if images is not None:
        if not isinstance(images, list):
            errors.append(invalid("images", images))
        else:
            if len(images) > 20:
                errors.append(too_many("images", 20))
            for i, image in enumerate(images):
                _image_errors(image, f"images[{i}]", errors)
    _features_errors(item.get("features"), errors)
    if item_type == "PRE_ORDER" and not item.get("releaseDate"):
        errors.append(mandatory("releaseDate"))
    options = item.get("customizationOptions")
    if isinstance(options, list) and len(options) > 20:
        errors.append(too_many("customizationOptions", 20))
    if item.get("itemDisplaySequence") is not None:
        int_in(item["itemDisplaySequence"], "itemDisplaySequence", 1, 999999999, errors)
    selectors = _selector_errors(item.get("variantSelectors"), errors)
    variants = item.get("variants")
    if not variants:
        errors.append(mandatory("variants"))
    elif not isinstance(variants, dict):
        errors.append(invalid("variants", variants))
    else:
        if len(variants) > 400:
            errors.append(out_of_range("variants", 1, 400))
        if selectors is None and len(variants) > 1:
            errors.append(item_error_entry(
                "IE0269", "Only one variant is allowed when variantSelectors is null.", "variants"))
        seen: dict[tuple[tuple[str, Any], ...], str] = {}
        for vid, variant in variants.items():
            _variant_errors(item, vid, variant, errors)
            if selectors is not None and isinstance(variant, dict):
                _selector_value_errors(vid, variant, selectors, seen, errors)
    if errors:
        raise ItemApiError(400, errors)


def _features_errors(features: Any, errors: list[dict[str, Any]]) -> None:
    if features is None:
        return
    if not isinstance(features, dict):
        errors.append(invalid("features", features))
        return
    if features.get("searchVisibility") not in (None, *SEARCH_VISIBILITY):
        errors.append(not_in_enum("features.searchVisibility", SEARCH_VISIBILITY))
    if features.get("review") not in (None, *REVIEW):
        errors.append(not_in_enum("features.review", REVIEW))
    display = features.get("inventoryDisplay")
    if display not in (None, *INVENTORY_DISPLAYS):
        errors.append(not_in_enum("features.inventoryDisplay", INVENTORY_DISPLAYS))
    threshold = features.get("lowStockThreshold")
    if display == "DISPLAY_LOW_STOCK" and threshold is None:
        errors.append(item_error_entry("IE0162", "features.lowStockThreshold is mandatory for DISPLAY_LOW_STOCK.",
                                       "features.lowStockThreshold"))
    elif display != "DISPLAY_LOW_STOCK" and threshold is not None:
        errors.append(item_error_entry("IE0163", "features.lowStockThreshold is only allowed for "
                                       "DISPLAY_LOW_STOCK.", "features.lowStockThreshold"))
    elif threshold is not None:
        int_in(threshold, "features.lowStockThreshold", 1, 20, errors)


def _selector_errors(selectors: Any, errors: list[dict[str, Any]]) -> dict[str, set[str]] | None:
    if selectors is None or selectors == []:
        return None
    if not isinstance(selectors, list):
        errors.append(invalid("variantSelectors", selectors))
        return None
    if len(selectors) > 6:
        errors.append(too_many("variantSelectors", 6))
    result: dict[str, set[str]] = {}
    for i, selector in enumerate(selectors):
        path = f"variantSelectors[{i}]"
        if not isinstance(selector, dict) or not selector.get("key"):
            errors.append(mandatory(f"{path}.key"))
            continue
        if selector["key"] in result:
            errors.append(item_error_entry("IE0135", f"{path}.key must be unique.", f"{path}.key"))
        str_max(selector.get("displayName"), f"{path}.displayName", 32, errors)
        values = selector.get("values") or []
        if not isinstance(values, list) or not 1 <= len(values) <= 40:
            errors.append(out_of_range(f"{path}.values", 1, 40))
            values = values if isinstance(values, list) else []
        names = set()
        for j, value in enumerate(values):
            display = value.get("displayValue") if isinstance(value, dict) else None
            if not display:
                errors.append(mandatory(f"{path}.values[{j}].displayValue"))
                continue
            str_max(display, f"{path}.values[{j}].displayValue", 32, errors)
            names.add(display)
        result[selector["key"]] = names
    return result


def _selector_value_errors(vid: str, variant: dict[str, Any], selectors: dict[str, set[str]],
                           seen: dict[tuple[tuple[str, Any], ...], str], errors: list[dict[str, Any]]) -> None:
    path = f"variants.{vid}.selectorValues"
    values = variant.get("selectorValues")
    if not isinstance(values, dict) or len(values) != len(selectors) or set(values) != set(selectors):
        errors.append(item_error_entry(
            "IE0156", f"The number of {path} must match the number of variantSelectors.", path))
        return
    for key, value in values.items():
        if value not in selectors[key]:
            errors.append(invalid(f"{path}.{key}", value))
    combo = tuple(sorted(values.items()))
    if combo in seen:
        errors.append(item_error_entry("IE0110", f"{path} duplicates variants.{seen[combo]}.", path))
    else:
        seen[combo] = vid


# --------------------------------------------------------------------------- storage helpers

def load_item(conn: sqlite3.Connection, shop_id: int, manage_number: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT data, created, updated, item_id FROM items WHERE shop_id = ? AND manage_number = ? "
        "AND deleted IS NULL",
        (shop_id, manage_number),
    ).fetchone()
    return row


def item_view(manage_number: str, data: dict[str, Any], created: float, updated: float) -> dict[str, Any]:
    view: dict[str, Any] = {"manageNumber": manage_number}
    view.update(data)
    view["created"] = item_dt(created)
    view["updated"] = item_dt(updated)
    return view


def not_found(manage_number: str) -> ItemApiError:
    return ItemApiError.one(404, "GE0014", f"Not found for inputs; manageNumber={manage_number}")


def with_defaults(item: dict[str, Any]) -> dict[str, Any]:
    """Fills the defaults Rakuten applies to omitted fields on a full replace."""
    item.setdefault("hideItem", False)
    item.setdefault("unlimitedInventoryFlag", False)
    features = item.setdefault("features", {})
    if isinstance(features, dict):
        features.setdefault("searchVisibility", "ALWAYS_VISIBLE")
        features.setdefault("displayNormalCartButton", True)
        features.setdefault("inventoryDisplay", "HIDDEN_STOCK")
        features.setdefault("shopContact", True)
        features.setdefault("review", "SHOP_SETTING")
        features.setdefault("displayManufacturerContents", False)
    payment = item.setdefault("payment", {})
    if isinstance(payment, dict):
        payment.setdefault("taxIncluded", True)
        payment.setdefault("cashOnDeliveryFeeIncluded", False)
    item.setdefault("itemDisplaySequence", 999999999)
    for variant in (item.get("variants") or {}).values() if isinstance(item.get("variants"), dict) else []:
        if isinstance(variant, dict):
            variant.setdefault("hidden", False)
            variant.setdefault("restockOnCancel", False)
            variant.setdefault("backOrderFlag", False)
    return item


def save_item(conn: sqlite3.Connection, ctx_shop: int, manage_number: str, item: dict[str, Any], now: float,
              existing: sqlite3.Row | None) -> None:
    """Writes the item and keeps the per-variant inventory rows in step with its variants."""
    for key in READ_ONLY_FIELDS:
        item.pop(key, None)
    data = json.dumps(item, ensure_ascii=False)
    if existing is None:
        from rms_sandbox.store import Store

        item_id = Store.next_ids(conn, ctx_shop, "item_id", 10000000)
        conn.execute(
            "INSERT OR REPLACE INTO items (shop_id, manage_number, item_id, data, created, updated, deleted) "
            "VALUES (?, ?, ?, ?, ?, ?, NULL)",
            (ctx_shop, manage_number, item_id, data, now, now),
        )
    else:
        conn.execute("UPDATE items SET data = ?, updated = ? WHERE shop_id = ? AND manage_number = ?",
                     (data, now, ctx_shop, manage_number))
    variant_ids = list(item.get("variants", {}))
    conn.executemany(
        "INSERT OR IGNORE INTO inventory (shop_id, manage_number, variant_id, quantity, extra, created, updated) "
        "VALUES (?, ?, ?, 0, NULL, ?, ?)",
        [(ctx_shop, manage_number, vid, now, now) for vid in variant_ids],
    )
    placeholders = ",".join("?" * len(variant_ids))
    conn.execute(
        f"DELETE FROM inventory WHERE shop_id = ? AND manage_number = ? AND variant_id NOT IN ({placeholders})",  # noqa: S608
        (ctx_shop, manage_number, *variant_ids),
    )


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Patch semantics: objects merge key by key, lists and scalars replace, null clears."""
    for key, value in patch.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _deep_merge(base[key], value)
        else:
            base[key] = value
    return base


# --------------------------------------------------------------------------- handlers

def items_get(ctx: Ctx) -> Response:
    manage_number = check_manage_number(ctx.path_params["manage_number"])
    with ctx.sb.store.lock:
        row = load_item(ctx.sb.store.conn, ctx.shop_id, manage_number)
    if row is None:
        raise not_found(manage_number)
    return json_response(item_view(manage_number, json.loads(row["data"]), row["created"], row["updated"]))


def items_upsert(ctx: Ctx) -> Response:
    manage_number = check_manage_number(ctx.path_params["manage_number"])
    body = ctx.json()
    if not isinstance(body, dict):
        raise ItemApiError.one(400, "GE0011", "Request body must be a JSON object.")
    with ctx.sb.store.tx() as conn:
        existing = load_item(conn, ctx.shop_id, manage_number)
        item = with_defaults(body)
        if existing is not None:
            old = json.loads(existing["data"])
            _keep_omitted(old, item)
            if (old.get("itemType") == "BUYING_CLUB") != (item.get("itemType") == "BUYING_CLUB"):
                raise ItemApiError.one(400, "IE0160", "itemType cannot be changed to or from BUYING_CLUB.",
                                       "itemType")
        validate_item(item)
        if existing is None:
            count = conn.execute("SELECT COUNT(*) FROM items WHERE shop_id = ? AND deleted IS NULL",
                                 (ctx.shop_id,)).fetchone()[0]
            if count >= ctx.sb.config.max_items_per_shop:
                raise ItemApiError.one(400, "IE0197", "The maximum number of items has been reached.")
        save_item(conn, ctx.shop_id, manage_number, item, ctx.now, existing)
    if existing is None:
        return json_response({"manageNumber": manage_number}, 201)
    return empty_response(204)


def _keep_omitted(old: dict[str, Any], new: dict[str, Any]) -> None:
    """upsert keeps `socialGiftFlag` and each variant's `shipping.okihaiSetting` when omitted [C]."""
    old_features, new_features = old.get("features") or {}, new.get("features")
    if isinstance(new_features, dict) and "socialGiftFlag" not in new_features and "socialGiftFlag" in old_features:
        new_features["socialGiftFlag"] = old_features["socialGiftFlag"]
    old_variants = old.get("variants") or {}
    for vid, variant in (new.get("variants") or {}).items():
        old_shipping = (old_variants.get(vid) or {}).get("shipping") or {}
        if isinstance(variant, dict) and "okihaiSetting" in old_shipping:
            shipping = variant.setdefault("shipping", {})
            if isinstance(shipping, dict):
                shipping.setdefault("okihaiSetting", old_shipping["okihaiSetting"])


def items_patch(ctx: Ctx) -> Response:
    manage_number = check_manage_number(ctx.path_params["manage_number"])
    body = ctx.json()
    if not isinstance(body, dict):
        raise ItemApiError.one(400, "GE0011", "Request body must be a JSON object.")
    unknown = [invalid(k, "unrecognized field") for k in body if k not in ITEM_FIELDS]
    if unknown:
        raise ItemApiError(400, unknown)
    if isinstance(body.get("variants"), dict) and len(body["variants"]) > 400:
        raise ItemApiError(400, [out_of_range("variants", 0, 400)])
    with ctx.sb.store.tx() as conn:
        existing = load_item(conn, ctx.shop_id, manage_number)
        if existing is None:
            raise not_found(manage_number)
        old = json.loads(existing["data"])
        if old.get("unlimitedInventoryFlag") is True and body.get("unlimitedInventoryFlag") is not False:
            raise ItemApiError.one(400, "IE0181", "unlimitedInventoryFlag must be set to false.",
                                   "unlimitedInventoryFlag")
        if "itemType" in body and (old.get("itemType") == "BUYING_CLUB") != (body["itemType"] == "BUYING_CLUB"):
            raise ItemApiError.one(400, "IE0160", "itemType cannot be changed to or from BUYING_CLUB.", "itemType")
        merged = _deep_merge(old, body)
        validate_item(merged)
        save_item(conn, ctx.shop_id, manage_number, merged, ctx.now, existing)
    return empty_response(204)


def items_delete(ctx: Ctx) -> Response:
    manage_number = check_manage_number(ctx.path_params["manage_number"])
    with ctx.sb.store.tx() as conn:
        if load_item(conn, ctx.shop_id, manage_number) is None:
            raise not_found(manage_number)
        conn.execute("UPDATE items SET deleted = ? WHERE shop_id = ? AND manage_number = ?",
                     (ctx.now, ctx.shop_id, manage_number))
        conn.execute("DELETE FROM inventory WHERE shop_id = ? AND manage_number = ?", (ctx.shop_id, manage_number))
    return empty_response(204)


def items_bulk_get(ctx: Ctx) -> Response:
    body = ctx.json()
    numbers = body.get("manageNumbers") if isinstance(body, dict) else None
    if not numbers or not isinstance(numbers, list):
        raise ItemApiError(400, [mandatory("manageNumbers")])
    limit = ctx.sb.config.items_bulk_get_max
    if len(numbers) > limit:
        raise ItemApiError(400, [too_many("manageNumbers", limit)])
    lowered = [check_manage_number(str(n), f"manageNumbers[{i}]") for i, n in enumerate(numbers)]
    if len(set(lowered)) != len(lowered):
        raise ItemApiError.one(400, "IE1106", "manageNumbers must not contain duplicates.", "manageNumbers")
    placeholders = ",".join("?" * len(lowered))
    rows = ctx.sb.store.query(
        f"SELECT manage_number, data, created, updated FROM items WHERE shop_id = ? AND deleted IS NULL "  # noqa: S608
        f"AND manage_number IN ({placeholders})",
        (ctx.shop_id, *lowered),
    )
    by_number = {r["manage_number"]: r for r in rows}
    results = [
        item_view(n, json.loads(by_number[n]["data"]), by_number[n]["created"], by_number[n]["updated"])
        for n in lowered if n in by_number
    ]
    return json_response({"results": results})


# --- inventory-related settings ([T] JakeJP model: unlimitedInventoryFlag, features, variants)

_SETTING_VARIANT_FIELDS = ("restockOnCancel", "backOrderFlag", "backOrderDeliveryDateId", "normalDeliveryDateId")


def settings_get(ctx: Ctx) -> Response:
    manage_number = check_manage_number(ctx.path_params["manage_number"])
    with ctx.sb.store.lock:
        row = load_item(ctx.sb.store.conn, ctx.shop_id, manage_number)
    if row is None:
        raise not_found(manage_number)
    item = json.loads(row["data"])
    features = item.get("features") or {}
    body: dict[str, Any] = {
        "manageNumber": manage_number,
        "unlimitedInventoryFlag": bool(item.get("unlimitedInventoryFlag")),
        "features": {k: features[k] for k in ("inventoryDisplay", "lowStockThreshold") if k in features},
        "variants": {
            vid: {k: v[k] for k in _SETTING_VARIANT_FIELDS if k in v}
            for vid, v in (item.get("variants") or {}).items()
        },
    }
    return json_response(body)


def settings_update(ctx: Ctx) -> Response:
    manage_number = check_manage_number(ctx.path_params["manage_number"])
    body = ctx.json()
    if not isinstance(body, dict):
        raise ItemApiError.one(400, "GE0011", "Request body must be a JSON object.")
    errors = []
    if "unlimitedInventoryFlag" not in body:
        errors.append(mandatory("unlimitedInventoryFlag"))
    if not isinstance(body.get("features"), dict):
        errors.append(mandatory("features"))
    variants = body.get("variants")
    if not isinstance(variants, dict) or not variants:
        errors.append(mandatory("variants"))
    elif len(variants) > 400:
        errors.append(out_of_range("variants", 1, 400))
    if errors:
        raise ItemApiError(400, errors)
    assert isinstance(variants, dict)
    with ctx.sb.store.tx() as conn:
        row = load_item(conn, ctx.shop_id, manage_number)
        if row is None:
            raise not_found(manage_number)
        item = json.loads(row["data"])
        unknown = [vid for vid in variants if vid not in (item.get("variants") or {})]
        if unknown:
            raise ItemApiError(400, [invalid(f"variants.{unknown[0]}", unknown[0])])
        item["unlimitedInventoryFlag"] = body["unlimitedInventoryFlag"]
        features = item.setdefault("features", {})
        features.pop("lowStockThreshold", None)
        features.update({k: v for k, v in body["features"].items() if k in ("inventoryDisplay", "lowStockThreshold")})
        for vid, settings in variants.items():
            target = item["variants"][vid]
            for key in _SETTING_VARIANT_FIELDS:
                if isinstance(settings, dict) and key in settings:
                    target[key] = settings[key]
                else:
                    target.pop(key, None)
        validate_item(item)
        save_item(conn, ctx.shop_id, manage_number, item, ctx.now, row)
    return empty_response(204)


# --------------------------------------------------------------------------- items.search

SEARCH_PARAMS = frozenset({
    "title", "tagline", "manageNumber", "itemNumber", "articleNumber", "variantId", "merchantDefinedSkuId",
    "genreId", "itemType", "standardPriceFrom", "standardPriceTo", "isVariantStockout", "isItemStockout",
    "purchasablePeriodFrom", "purchasablePeriodTo", "isHiddenItem", "isHiddenVariant", "isSearchable",
    "isYamiichi", "pointApplicablePeriodFrom", "pointApplicablePeriodTo", "isOptimizedPoint", "pointRate",
    "maxPointRate", "categoryId", "isBackOrder", "isPostageIncluded", "createdFrom", "createdTo",
    "updatedFrom", "updatedTo", "sortKey", "sortOrder", "offset", "hits", "cursorMark", "isCategoryIncluded",
    "isReviewIncluded", "isInventoryIncluded", "isSubscription", "basePriceFrom", "basePriceTo",
})
SORT_KEYS = ("updated", "created", "itemDisplaySequence", "manageNumber", "purchasablePeriodStart",
             "purchasablePeriodEnd", "pointCampaignStart", "pointCampaignEnd", "pointRate", "reviewCount",
             "reviewAverageRating")


def _bool_param(params: dict[str, str], name: str) -> bool | None:
    value = params.get(name)
    if value is None:
        return None
    if value.lower() not in ("true", "false"):
        raise ItemApiError(400, [invalid(name, value)])
    return value.lower() == "true"


def _int_param(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"-?\d+", raw):
        raise ItemApiError(400, [invalid(name, raw)])
    value = int(raw)
    if not low <= value <= high:
        raise ItemApiError(400, [out_of_range(name, low, high)])
    return value


def _contains(haystack: Any, needle: str) -> bool:
    return isinstance(haystack, str) and needle.lower() in haystack.lower()


def _sort_value(key: str, number: str, item: dict[str, Any], created: float, updated: float) -> Any:
    if key == "updated":
        return updated
    if key == "created":
        return created
    if key == "manageNumber":
        return number
    if key == "itemDisplaySequence":
        return item.get("itemDisplaySequence", 999999999)
    if key in ("purchasablePeriodStart", "purchasablePeriodEnd"):
        return (item.get("purchasablePeriod") or {}).get(key.removeprefix("purchasablePeriod").lower())
    if key in ("pointCampaignStart", "pointCampaignEnd"):
        period = (item.get("pointCampaign") or {}).get("applicablePeriod") or {}
        return period.get(key.removeprefix("pointCampaign").lower())
    if key == "pointRate":
        return ((item.get("pointCampaign") or {}).get("benefits") or {}).get("pointRate")
    return None  # review figures are not simulated


def _matches(params: dict[str, str], number: str, item: dict[str, Any], stock: dict[str, int],
             created: float, updated: float) -> bool:
    variants: dict[str, dict[str, Any]] = item.get("variants") or {}
    for name in ("title", "tagline", "itemNumber"):
        if name in params and not _contains(item.get(name), params[name]):
            return False
    if "manageNumber" in params and params["manageNumber"].lower() not in number:
        return False
    if "variantId" in params and not any(params["variantId"].lower() in v.lower() for v in variants):
        return False
    if "merchantDefinedSkuId" in params and not any(
            _contains(v.get("merchantDefinedSkuId"), params["merchantDefinedSkuId"]) for v in variants.values()):
        return False
    if "articleNumber" in params and not any(
            _contains((v.get("articleNumber") or {}).get("value"), params["articleNumber"])
            for v in variants.values()):
        return False
    if "genreId" in params and str(item.get("genreId")) != params["genreId"]:
        return False
    if "itemType" in params and item.get("itemType") != params["itemType"]:
        return False
    prices = [int(v["standardPrice"]) for v in variants.values() if v.get("standardPrice") is not None]
    if "standardPriceFrom" in params and not any(p >= int(params["standardPriceFrom"]) for p in prices):
        return False
    if "standardPriceTo" in params and not any(p <= int(params["standardPriceTo"]) for p in prices):
        return False
    checks: list[tuple[str, bool]] = [
        ("isHiddenItem", bool(item.get("hideItem"))),
        ("isHiddenVariant", any(v.get("hidden") for v in variants.values())),
        ("isSearchable", (item.get("features") or {}).get("searchVisibility", "ALWAYS_VISIBLE") == "ALWAYS_VISIBLE"),
        ("isYamiichi", bool((item.get("accessControl") or {}).get("accessPassword"))),
        ("isBackOrder", any(v.get("backOrderFlag") for v in variants.values())),
        ("isPostageIncluded", any((v.get("shipping") or {}).get("postageIncluded") for v in variants.values())),
        ("isVariantStockout", any(stock.get(vid, 0) == 0 for vid in variants)),
        ("isItemStockout", all(stock.get(vid, 0) == 0 for vid in variants)),
        ("isSubscription", bool(item.get("subscription"))),
    ]
    for name, actual in checks:
        wanted = _bool_param(params, name)
        if wanted is not None and wanted != actual:
            return False
    for name, ts in (("createdFrom", created), ("updatedFrom", updated)):
        if name in params and item_dt(ts)[:10] < params[name]:  # type: ignore[index]
            return False
    for name, ts in (("createdTo", created), ("updatedTo", updated)):
        if name in params and item_dt(ts)[:10] > params[name]:  # type: ignore[index]
            return False
    return True


def _encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode_cursor(mark: str) -> list[Any] | None:
    if mark == "*":
        return None
    try:
        padded = mark + "=" * (-len(mark) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise ItemApiError(400, [invalid("cursorMark", mark)]) from None
    if not isinstance(values, list) or len(values) != 2:
        raise ItemApiError(400, [invalid("cursorMark", mark)])
    return values


def items_search(ctx: Ctx) -> Response:
    params: dict[str, str] = {}
    for name, value in ctx.query:
        if name not in SEARCH_PARAMS:
            raise ItemApiError.one(400, "IE1005", f"Unknown parameter: {name}.", name)
        params[name] = value
    for name in ("createdFrom", "createdTo", "updatedFrom", "updatedTo", "purchasablePeriodFrom",
                 "purchasablePeriodTo"):
        if name in params and parse_date(params[name]) is None:
            raise ItemApiError(400, [invalid(name, params[name])])
    cursor = params.get("cursorMark")
    if cursor is not None and "offset" in params:
        raise ItemApiError.one(400, "IE1003", "cursorMark and offset cannot be specified together.", "cursorMark")
    if cursor is not None and ("sortKey" in params or "sortOrder" in params):
        raise ItemApiError.one(400, "IE1004", "sortKey and sortOrder cannot be specified with cursorMark.",
                               "cursorMark")
    hits = _int_param(params, "hits", 10, 1, 100)
    offset = _int_param(params, "offset", 0, 0, 10000)
    sort_key = params.get("sortKey", "updated")
    if sort_key not in SORT_KEYS:
        raise ItemApiError(400, [not_in_enum("sortKey", SORT_KEYS)])
    sort_order = params.get("sortOrder", "desc")
    if sort_order not in ("asc", "desc"):
        raise ItemApiError(400, [not_in_enum("sortOrder", ("asc", "desc"))])
    for name in ("standardPriceFrom", "standardPriceTo"):
        if name in params:
            _int_param(params, name, 0, 0, 999999999)

    include_inventory = _bool_param(params, "isInventoryIncluded")
    include_category = _bool_param(params, "isCategoryIncluded")
    include_review = _bool_param(params, "isReviewIncluded")
    # Deleted items show as manageNumber-only stubs for a while, in unfiltered searches only [U].
    stubs = not set(params) - _PAGING_PARAMS
    filtered = bool(set(params) - _PAGING_PARAMS - _INCLUDE_PARAMS)
    after = _decode_cursor(cursor) if cursor is not None else None
    if filtered or sort_key not in _COLUMN_SORT_KEYS:
        num_found, page = _search_scan(ctx, params, stubs, sort_key, sort_order, after, hits, offset)
    else:
        num_found, page = _search_indexed(ctx, stubs, sort_key, sort_order, cursor is not None, after, hits, offset)

    body: dict[str, Any] = {"numFound": num_found}
    if cursor is not None:
        body["offset"] = 0
        body["nextCursorMark"] = _encode_cursor([page[-1][0], page[-1][1]]) if page else cursor
    else:
        body["offset"] = offset
    inventories = _search_inventory(ctx, [e[1] for e in page if e[2] is not None]) if include_inventory else {}
    results = []
    for _, number, item, row in page:
        if item is None:
            results.append({"item": {"manageNumber": number}})
            continue
        result: dict[str, Any] = {"item": item_view(number, item, row["created"], row["updated"])}
        if include_category:
            result["category"] = {"categoryIds": []}
        if include_review:
            result["review"] = {"count": 0, "averageRating": 0.0}
        if inventories.get(number):
            result["inventory"] = inventories[number]
        results.append(result)
    body["results"] = results
    return json_response(body)


_PAGING_PARAMS = frozenset({"offset", "hits", "cursorMark", "sortKey", "sortOrder"})
_INCLUDE_PARAMS = frozenset({"isCategoryIncluded", "isReviewIncluded", "isInventoryIncluded"})
_COLUMN_SORT_KEYS = {"updated": "updated", "created": "created", "manageNumber": "manage_number"}
_STOCK_PARAMS = frozenset({"isVariantStockout", "isItemStockout"})
_Entry = tuple[Any, str, "dict[str, Any] | None", sqlite3.Row]


def _search_indexed(ctx: Ctx, stubs: bool, sort_key: str, sort_order: str, by_cursor: bool,
                    after: list[Any] | None, hits: int, offset: int) -> tuple[int, list[_Entry]]:
    """An unfiltered search by a column: COUNT(*) and one page read in index order (keyset after a cursorMark,
    LIMIT/OFFSET otherwise), decoding only the items returned. Order: (sort key, manageNumber), as `_search_scan`."""
    store = ctx.sb.store
    column = _COLUMN_SORT_KEYS[sort_key]
    live = "(deleted IS NULL OR deleted > ?)" if stubs else "deleted IS NULL"
    live_args: list[Any] = [ctx.now - ctx.sb.config.search_deleted_stub_s] if stubs else []
    num_found = store.one(f"SELECT COUNT(*) FROM items WHERE shop_id = ? AND {live}",  # noqa: S608 - fixed SQL
                          [ctx.shop_id, *live_args])[0]  # type: ignore[index]
    direction = "DESC" if sort_order == "desc" else "ASC"
    keys = [column] if column == "manage_number" else [column, "manage_number"]
    order = ", ".join(f"{k} {direction}" for k in keys)
    where = f"shop_id = ? AND {live}"
    args: list[Any] = [ctx.shop_id, *live_args]
    if after is not None:  # the cursor's rows come strictly before its mark, as `_search_scan` reads it
        if column == "manage_number":
            where += " AND manage_number < ?"
            args.append(after[1])
        else:
            where += f" AND ({column}, manage_number) < (?, ?)"  # a row value: a range on the index
            args += [after[0], after[1]]
    args.append(hits)
    limit = "LIMIT ?"
    if not by_cursor:
        limit += " OFFSET ?"
        args.append(offset)
    rows = store.query(
        f"SELECT manage_number, data, created, updated, deleted FROM items WHERE {where} "  # noqa: S608 - fixed SQL
        f"ORDER BY {order} {limit}", args)
    page: list[_Entry] = []
    for row in rows:
        value = row[column]
        item = None if row["deleted"] is not None else json.loads(row["data"])
        page.append((value, row["manage_number"], item, row))
    return int(num_found), page


def _search_scan(ctx: Ctx, params: dict[str, str], stubs: bool, sort_key: str, sort_order: str,
                 after: list[Any] | None, hits: int, offset: int) -> tuple[int, list[_Entry]]:
    """A filtered search, or one sorted by a field inside the item: every live item is decoded and matched."""
    store = ctx.sb.store
    rows = store.query(
        "SELECT manage_number, data, created, updated, deleted FROM items WHERE shop_id = ? "
        "AND (deleted IS NULL OR deleted > ?)", (ctx.shop_id, ctx.now - ctx.sb.config.search_deleted_stub_s))
    stock: dict[str, dict[str, int]] = {}
    if set(params) & _STOCK_PARAMS:
        for inv in store.query("SELECT manage_number, variant_id, quantity FROM inventory WHERE shop_id = ?",
                               (ctx.shop_id,)):
            stock.setdefault(inv["manage_number"], {})[inv["variant_id"]] = inv["quantity"]
    entries: list[_Entry] = []
    for row in rows:
        number = row["manage_number"]
        if row["deleted"] is not None:
            if stubs:  # a stub sorts by its own column (by `updated` under a key inside the item)
                entries.append((row[_COLUMN_SORT_KEYS.get(sort_key, "updated")], number, None, row))
            continue
        item = json.loads(row["data"])
        if _matches(params, number, item, stock.get(number, {}), row["created"], row["updated"]):
            entries.append((_sort_value(sort_key, number, item, row["created"], row["updated"]), number, item, row))
    reverse = sort_order == "desc"
    present = [e for e in entries if e[0] is not None]
    missing = [e for e in entries if e[0] is None]
    present.sort(key=lambda e: (e[0], e[1]), reverse=reverse)
    ordered = present + sorted(missing, key=lambda e: e[1])
    if after is not None:
        ordered = [e for e in ordered if (e[0], e[1]) < (after[0], after[1])]
    if "cursorMark" in params:
        return len(entries), ordered[:hits]
    return len(entries), ordered[offset:offset + hits]


def _search_inventory(ctx: Ctx, numbers: list[str]) -> dict[str, dict[str, Any]]:
    """Lead-time and ship-from settings per variant of the returned items (never quantities); an item whose
    settings are all automatic has none."""
    out: dict[str, dict[str, Any]] = {}
    if not numbers:
        return out
    placeholders = ",".join("?" * len(numbers))
    for row in ctx.sb.store.query(
            "SELECT manage_number, variant_id, extra, created, updated FROM inventory WHERE shop_id = ? "  # noqa: S608
            f"AND manage_number IN ({placeholders}) AND extra IS NOT NULL", (ctx.shop_id, *numbers)):
        extra = json.loads(row["extra"])
        if extra:
            out.setdefault(row["manage_number"], {})[row["variant_id"]] = {
                **extra, "created": item_dt(row["created"]), "updated": item_dt(row["updated"])}
    return out
