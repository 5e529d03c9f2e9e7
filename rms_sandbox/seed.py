"""Shops and their deterministic seed data: items (single and multi-SKU), stock, sub-statuses and an order
history over the last 120 days in every orderProgress."""

from __future__ import annotations

import json
import random
import string
from typing import Any

from rms_sandbox.core import Sandbox
from rms_sandbox.items import save_item, validate_item, with_defaults
from rms_sandbox.license import issue_key, random_token
from rms_sandbox.market import (
    OrderRecord,
    cancel_after_shipping,
    cancel_apply,
    cancel_fixed,
    confirm,
    create_order,
    payment_done,
    payment_processing,
    rakuten_done,
    save_order,
    shipping_reported,
)
from rms_sandbox.names import (
    COLORS,
    PRODUCT_KINDS,
    PRODUCT_WORDS,
    SHOP_NAMES,
    SIZES,
    SUB_STATUSES,
    TAGLINES,
)
from rms_sandbox.orderdata import CARRIERS, Line, mark_amounts_unknown
from rms_sandbox.timefmt import jst_date

DAY = 86400.0
HISTORY_DAYS = 120
_ALNUM = string.ascii_letters + string.digits


def _token(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(_ALNUM) for _ in range(length))


def shop_view(sb: Sandbox, shop_id: int) -> dict[str, Any]:
    shop = sb.store.one("SELECT * FROM shops WHERE shop_id = ?", (shop_id,))
    assert shop is not None
    keys = sb.store.query("SELECT license_key, issued, expires FROM license_keys WHERE shop_id = ? "
                          "ORDER BY issued DESC, license_key", (shop_id,))
    now = sb.clock.now()
    valid = [k for k in keys if k["expires"] > now]
    current = (valid or list(keys))[0] if keys else None
    counts = sb.store.one(
        "SELECT (SELECT COUNT(*) FROM items WHERE shop_id = ? AND deleted IS NULL) AS items, "
        "(SELECT COUNT(*) FROM orders WHERE shop_id = ?) AS orders", (shop_id, shop_id))
    assert counts is not None
    return {
        "shop_id": shop_id, "shop_url": shop["shop_url"], "name": shop["name"],
        "service_secret": shop["service_secret"],
        "license_key": current["license_key"] if current else None,
        "license_expires_at": current["expires"] if current else None,
        "license_keys": [{"license_key": k["license_key"], "issued_at": k["issued"], "expires_at": k["expires"],
                          "expired": k["expires"] <= now} for k in keys],
        "sku_migrated": bool(shop["sku_migrated"]), "items": counts["items"], "orders": counts["orders"],
    }


def create_shop(sb: Sandbox, *, shop_url: str | None = None, name: str | None = None, seed: int | None = None,
                sku_migrated: bool = True, license_ttl_days: int | None = None) -> int:
    """A new shop with its own service secret and licence key; seeded credentials when `seed` is given."""
    rng = random.Random(f"shop:{seed}") if seed is not None else None
    now = sb.clock.now()
    ttl = license_ttl_days if license_ttl_days is not None else sb.config.license_ttl_days
    with sb.store.tx() as conn:
        taken_ids = {r[0] for r in conn.execute("SELECT shop_id FROM shops")}
        taken_urls = {r[0] for r in conn.execute("SELECT shop_url FROM shops")}
        pick = rng.randrange if rng is not None else random.SystemRandom().randrange
        shop_id = pick(100000, 1000000)
        while shop_id in taken_ids:
            shop_id = pick(100000, 1000000)
        base = shop_url or (f"sandbox-shop-{seed}" if seed is not None else f"sandbox-shop-{shop_id}")
        url, n = base, 1
        while url in taken_urls:
            n += 1
            url = f"{base}-{n}"
        secret = f"SP{shop_id}_{_token(rng, 24) if rng else random_token(24)}"
        key = f"SL{shop_id}_{_token(rng, 24) if rng else random_token(24)}"
        shop_name = name or (rng.choice(SHOP_NAMES) if rng else "サンドボックス店")
        conn.execute("INSERT INTO shops (shop_id, shop_url, service_secret, name, sku_migrated, created) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (shop_id, url, secret, shop_name, int(sku_migrated), now))
        issue_key(conn, shop_id, now, ttl, key)
        conn.executemany(
            "INSERT INTO sub_statuses (shop_id, sub_status_id, name, progress, seq) VALUES (?, ?, ?, ?, ?)",
            [(shop_id, 1001 + i, label, progress, i + 1) for i, (progress, label) in enumerate(SUB_STATUSES)])
    return shop_id


# --------------------------------------------------------------------------- items

def _image(rng: random.Random, n: int) -> dict[str, Any]:
    if rng.random() < 0.8:
        return {"type": "CABINET", "location": f"/items/{n:05d}/main_{rng.randint(1, 3)}.jpg", "alt": "商品画像"}
    return {"type": "GOLD", "location": f"/img/item{n:05d}.png", "alt": "商品画像"}


def _variant(rng: random.Random, sku_no: int, price: int) -> dict[str, Any]:
    variant: dict[str, Any] = {
        "merchantDefinedSkuId": f"SKU-{sku_no:06d}", "standardPrice": str(price),
        "articleNumber": {"exemptionReason": 3}, "hidden": False,
        "shipping": {"postageIncluded": rng.random() < 0.3},
        "restockOnCancel": rng.random() < 0.5,
    }
    if rng.random() < 0.1:
        del variant["merchantDefinedSkuId"]  # variants without a system SKU number
    if rng.random() < 0.2:
        variant["referencePrice"] = {"displayType": "REFERENCE_PRICE", "type": rng.choice([1, 2]),
                                     "value": str(price + rng.choice([500, 1000, 2000]))}
    if rng.random() < 0.03:
        variant["hidden"] = True
    return variant


def make_item(rng: random.Random, n: int) -> dict[str, Any]:
    word, kind = rng.choice(PRODUCT_WORDS), rng.choice(PRODUCT_KINDS)
    price = rng.choice([480, 980, 1280, 1980, 2480, 2980, 3980, 5500, 7800, 12800])
    item: dict[str, Any] = {
        "itemNumber": f"K-{n:05d}", "title": f"{word} {kind} 【{rng.choice(TAGLINES)}】 No.{n}",
        "tagline": rng.choice(TAGLINES), "itemType": "NORMAL",
        "genreId": str(rng.choice([100371, 100804, 215783, 558929, 101070])),
        "productDescription": {"pc": f"<p>{word}の{kind}です。</p>", "sp": f"<p>{word}の{kind}です。</p>"},
        "images": [_image(rng, n) for _ in range(rng.randint(1, 3))],
        "hideItem": rng.random() < 0.05,
        "payment": {"taxIncluded": True, "taxRate": "0.08" if kind in ("抹茶",) else "0.1"},
        "features": {"inventoryDisplay": rng.choice(["HIDDEN_STOCK", "DISPLAY_ABSOLUTE_STOCK_COUNT"])},
    }
    shape = rng.random()
    sku_base = n * 100
    if shape < 0.5:
        item["variants"] = {f"v{n:05d}": _variant(rng, sku_base, price)}
    elif shape < 0.85:
        axis = rng.choice([("color", "カラー", COLORS), ("size", "サイズ", SIZES)])
        values = rng.sample(axis[2], rng.randint(2, len(axis[2])))
        item["variantSelectors"] = [{"key": axis[0], "displayName": axis[1],
                                     "values": [{"displayValue": v} for v in values]}]
        item["variants"] = {}
        for j, value in enumerate(values):
            variant = _variant(rng, sku_base + j, price)
            variant["selectorValues"] = {axis[0]: value}
            item["variants"][f"v{n:05d}-{j + 1}"] = variant
    else:
        colors, sizes = rng.sample(COLORS, rng.randint(2, 3)), rng.sample(SIZES, rng.randint(2, 4))
        item["variantSelectors"] = [
            {"key": "color", "displayName": "カラー", "values": [{"displayValue": c} for c in colors]},
            {"key": "size", "displayName": "サイズ", "values": [{"displayValue": s} for s in sizes]},
        ]
        item["variants"] = {}
        j = 0
        for ci, color in enumerate(colors):
            for size in sizes:
                variant = _variant(rng, sku_base + j, price + (200 if size == "XL" else 0))
                variant["selectorValues"] = {"color": color, "size": size}
                item["variants"][f"v{n:05d}-c{ci + 1}-{size.lower()}"] = variant
                j += 1
    return item


# --------------------------------------------------------------------------- orders

_TARGETS = (100, 200, 300, 400, 500, 600, 700, 800, 900)


def _target_progress(rng: random.Random, age_days: float) -> int:
    if age_days < 1:
        return rng.choices([100, 200, 300, 800], weights=[40, 10, 45, 5])[0]
    if age_days < 3:
        return rng.choices([300, 400, 500, 800, 900], weights=[30, 3, 55, 2, 10])[0]
    if age_days < 14:
        return rng.choices([500, 600, 700, 900], weights=[30, 30, 30, 10])[0]
    return rng.choices([700, 900, 600], weights=[88, 10, 2])[0]


def _ship(rng: random.Random, rec: OrderRecord, ts: float, next_id: int) -> int:
    for package in rec.data["PackageModelList"]:
        company = rng.choice(["1001", "1002", "1003"])
        package["ShippingModelList"].append({
            "shippingDetailId": next_id, "shippingNumber": f"{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}-"
                                                           f"{rng.randint(1000, 9999)}",
            "deliveryCompany": company, "deliveryCompanyName": CARRIERS[company], "shippingDate": jst_date(ts)})
        next_id += 1
    return next_id


def _age_order(sb: Sandbox, conn: Any, rng: random.Random, rec: OrderRecord, target: int, ts: float,
               now: float, next_detail: int, unknown_amounts: bool = False) -> int:
    """Walks a fresh order through the lifecycle to `target`, stamping plausible times before `now`."""
    cfg = sb.config
    cap = now - 60

    def at(offset: float) -> float:
        return min(ts + offset, cap)

    if target == 100:
        if rng.random() < 0.3 or unknown_amounts:
            mark_amounts_unknown(rec.data)  # -9999: postage not fixed yet
            rec.plan["fix_at"] = now + rng.uniform(600, 7200)
        return next_detail
    if target == 900 and rng.random() < 0.5:
        confirm(rec, at(3600), cfg)
        cancel_apply(rec, at(4000), rng.choice([1, 8, 10]), 1, customer=True, config=cfg)
        rec.plan["restored"] = True  # history: the seeded stock already reflects it
        cancel_fixed(conn, rec, at(5000))
        return next_detail
    confirm(rec, at(3600), cfg)
    if target == 200:
        rec.plan["processing_done_at"] = now + rng.uniform(30, cfg.rakuten_processing_s)
        return next_detail
    rakuten_done(rec, at(3700))
    if target == 800:
        cancel_apply(rec, at(4000), rng.choice([1, 6]), 0, customer=True, config=cfg)
        rec.plan["cancel_fix_at"] = now + rng.uniform(60, cfg.cancel_confirm_after_s)
        return next_detail
    if target == 300:
        return next_detail
    if target == 400:
        rec.data["orderProgress"] = 400
        rec.plan["change_fix_at"] = now + rng.uniform(600, 7200)
        return next_detail
    ship_ts = at(DAY)
    next_detail = _ship(rng, rec, ship_ts, next_detail)
    shipping_reported(rec, ship_ts, ship_ts, cfg)
    if target == 500:
        rec.plan["paying_at"] = now + rng.uniform(60, cfg.payment_processing_after_s)
        return next_detail
    if target == 900:
        cancel_after_shipping(conn, rec, at(3 * DAY), 15, 2)
        return next_detail
    payment_processing(rec, at(2 * DAY), cfg)
    if target == 600:
        rec.plan["paid_at"] = now + rng.uniform(600, cfg.payment_done_after_s)
        return next_detail
    payment_done(rec, at(5 * DAY))
    return next_detail


def seed_shop(sb: Sandbox, seed: int, items: int = 500, orders: int = 3000, shop_url: str | None = None,
              name: str | None = None, prefix: str = "") -> int:
    """Creates a shop with `items` items and `orders` orders; the same seed gives the same shop.

    `prefix` goes in front of every manage number and merchantDefinedSkuId ("s7-kura-00001", "s7-SKU-000100"):
    shops seeded without one share their codes, as one merchant's shops often do."""
    shop_id = create_shop(sb, shop_url=shop_url, name=name, seed=seed)
    rng = random.Random(f"catalog:{seed}")
    now = sb.clock.now()
    catalog: list[Line] = []
    with sb.store.tx() as conn:
        previous_sku: str | None = None
        for n in range(1, items + 1):
            item = with_defaults(make_item(rng, n))
            if prefix:
                for variant in item["variants"].values():
                    if variant.get("merchantDefinedSkuId"):
                        variant["merchantDefinedSkuId"] = prefix + variant["merchantDefinedSkuId"]
            if previous_sku and n % 97 == 0:  # a few duplicate merchantDefinedSkuIds, as real shops have
                first = next(iter(item["variants"].values()))
                first["merchantDefinedSkuId"] = previous_sku
            validate_item(item)
            manage_number = f"{prefix}kura-{n:05d}".lower()
            created = now - HISTORY_DAYS * DAY - rng.uniform(0, 200 * DAY)
            save_item(conn, shop_id, manage_number, item, created, None)
            conn.execute("UPDATE items SET updated = ? WHERE shop_id = ? AND manage_number = ?",
                         (created + rng.uniform(0, HISTORY_DAYS * DAY), shop_id, manage_number))
            row = conn.execute("SELECT item_id FROM items WHERE shop_id = ? AND manage_number = ?",
                               (shop_id, manage_number)).fetchone()
            for vid, variant in item["variants"].items():
                previous_sku = variant.get("merchantDefinedSkuId") or previous_sku
                quantity = 0 if rng.random() < 0.1 else rng.randint(1, 200)
                conn.execute("UPDATE inventory SET quantity = ? WHERE shop_id = ? AND manage_number = ? "
                             "AND variant_id = ?", (quantity, shop_id, manage_number, vid))
                names = {s["key"]: s["displayName"] for s in item.get("variantSelectors") or []}
                catalog.append(Line(
                    manage_number=manage_number, variant_id=vid, item_id=row[0], item_name=item["title"],
                    item_number=item["itemNumber"], price=int(variant["standardPrice"]), units=1,
                    merchant_sku=variant.get("merchantDefinedSkuId"),
                    sku_info="\n".join(f"{names[k]}:{v}" for k, v in (variant.get("selectorValues") or {}).items()),
                    tax_rate=float(item["payment"]["taxRate"]),
                    postage_included=bool(variant["shipping"].get("postageIncluded"))))
    if orders and catalog:
        _seed_orders(sb, shop_id, seed, orders, catalog, now)
    return shop_id


def _seed_orders(sb: Sandbox, shop_id: int, seed: int, count: int, catalog: list[Line], now: float) -> None:
    rng = random.Random(f"orders:{seed}")
    times = sorted(now - rng.uniform(0, HISTORY_DAYS * DAY) for _ in range(count))
    targets = [_target_progress(rng, (now - ts) / DAY) for ts in times]
    for i, code in enumerate(_TARGETS):  # every orderProgress appears at least once
        if code not in targets and count > i:
            targets[-1 - i] = code
    sub_ids = [1001 + i for i in range(len(SUB_STATUSES))]
    unknown_index = max((i for i, t in enumerate(targets) if t == 100), default=-1)  # at least one -9999
    with sb.store.tx() as conn:
        next_detail = 700000
        for index, (ts, target) in enumerate(zip(times, targets, strict=True)):
            packages = []
            for _ in range(2 if rng.random() < 0.1 else 1):
                lines = [Line(**{**line.__dict__, "units": rng.choice([1, 1, 1, 2, 3])})
                         for line in rng.sample(catalog, min(len(catalog), rng.choice([1, 1, 2, 3])))]
                packages.append(lines)
            rec = create_order(conn, sb.config, shop_id, ts, packages, rng)
            next_detail = _age_order(sb, conn, rng, rec, target, ts, now, next_detail, index == unknown_index)
            if rec.progress in (100, 300) and rng.random() < 0.15:
                rec.data["subStatusId"] = rng.choice(sub_ids)
                rec.data["subStatusName"] = SUB_STATUSES[rec.data["subStatusId"] - 1001][1]
            save_order(conn, rec, sb.config)
        counters_row = conn.execute("SELECT counters FROM shops WHERE shop_id = ?", (shop_id,)).fetchone()
        counters = json.loads(counters_row[0])
        counters["shipping_detail_id"] = max(int(counters.get("shipping_detail_id", 700000)), next_detail)
        conn.execute("UPDATE shops SET counters = ? WHERE shop_id = ?", (json.dumps(counters), shop_id))
