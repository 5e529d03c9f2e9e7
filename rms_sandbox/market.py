"""The living marketplace: order lifecycle transitions, buyers placing and cancelling orders, stock taking."""

from __future__ import annotations

import json
import math
import random
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from rms_sandbox.config import SandboxConfig
from rms_sandbox.orderdata import Line, amounts_fixed, build_order, fix_amounts
from rms_sandbox.store import Store
from rms_sandbox.timefmt import order_dt, to_jst

CANCELLABLE = (100, 200, 300)  # cancelOrder [T]
CANCELLABLE_AFTER_SHIPPING = (500, 600, 700, 800)  # cancelOrderAfterShipping [T]


@dataclass
class OrderRecord:
    """One order row: the stored OrderModel plus the columns searchOrder uses and the market plan."""

    number: str
    shop_id: int
    data: dict[str, Any]
    plan: dict[str, Any]
    cols: dict[str, float | None] = field(default_factory=dict)

    @property
    def progress(self) -> int:
        return int(self.data["orderProgress"])


def load_order(conn: sqlite3.Connection, shop_id: int, number: str) -> OrderRecord | None:
    row = conn.execute(
        "SELECT order_number, shop_id, order_dt, confirm_dt, fix_dt, ship_dt, ship_rpt_dt, settle_dt, plan, data "
        "FROM orders WHERE order_number = ? AND shop_id = ?", (number, shop_id)).fetchone()
    if row is None:
        return None
    cols = {k: row[k] for k in ("order_dt", "confirm_dt", "fix_dt", "ship_dt", "ship_rpt_dt", "settle_dt")}
    return OrderRecord(row["order_number"], row["shop_id"], json.loads(row["data"]), json.loads(row["plan"]), cols)


def next_event(rec: OrderRecord, config: SandboxConfig) -> tuple[float | None, str | None]:
    """The earliest thing the marketplace will do to this order on its own."""
    plan, progress = rec.plan, rec.progress
    candidates: list[tuple[float, str]] = []
    if progress == 100:
        if not amounts_fixed(rec.data) and "fix_at" in plan:
            candidates.append((plan["fix_at"], "fix_amounts"))
        elif config.auto_confirm_after_s is not None:
            candidates.append((float(rec.cols["order_dt"] or 0) + config.auto_confirm_after_s, "auto_confirm"))
    if progress == 200 and "processing_done_at" in plan:
        candidates.append((plan["processing_done_at"], "rakuten_done"))
    if progress == 400 and "change_fix_at" in plan:
        candidates.append((plan["change_fix_at"], "change_fixed"))
    if progress in CANCELLABLE and "buyer_cancel_at" in plan:
        candidates.append((plan["buyer_cancel_at"], "buyer_cancel"))
    if progress == 500 and "paying_at" in plan:
        candidates.append((plan["paying_at"], "payment_processing"))
    if progress == 600 and "paid_at" in plan:
        candidates.append((plan["paid_at"], "payment_done"))
    if progress == 800 and "cancel_fix_at" in plan:
        candidates.append((plan["cancel_fix_at"], "cancel_fixed"))
    if not candidates:
        return None, None
    return min(candidates)


def save_order(conn: sqlite3.Connection, rec: OrderRecord, config: SandboxConfig, *, insert: bool = False) -> None:
    at, event = next_event(rec, config)
    values = (rec.progress, rec.cols.get("confirm_dt"), rec.cols.get("fix_dt"), rec.cols.get("ship_dt"),
              rec.cols.get("ship_rpt_dt"), rec.cols.get("settle_dt"), at, event,
              json.dumps(rec.plan), json.dumps(rec.data, ensure_ascii=False, separators=(",", ":")))
    if insert:
        conn.execute(
            "INSERT INTO orders (progress, confirm_dt, fix_dt, ship_dt, ship_rpt_dt, settle_dt, next_at, "
            "next_event, plan, data, order_number, shop_id, order_dt) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (*values, rec.number, rec.shop_id, rec.cols["order_dt"]))
    else:
        conn.execute(
            "UPDATE orders SET progress=?, confirm_dt=?, fix_dt=?, ship_dt=?, ship_rpt_dt=?, settle_dt=?, "
            "next_at=?, next_event=?, plan=?, data=? WHERE order_number=?", (*values, rec.number))


# --------------------------------------------------------------------------- transitions

def confirm(rec: OrderRecord, ts: float, config: SandboxConfig) -> None:
    rec.data["orderProgress"] = 200
    rec.data["shopOrderCfmDatetime"] = order_dt(ts)
    rec.cols["confirm_dt"] = ts
    rec.plan["processing_done_at"] = ts + config.rakuten_processing_s


def rakuten_done(rec: OrderRecord, ts: float) -> None:
    rec.data["orderProgress"] = 300
    rec.data["orderFixDatetime"] = rec.data["shippingInstDatetime"] = order_dt(ts)
    rec.cols["fix_dt"] = ts


def shipping_reported(rec: OrderRecord, ts: float, ship_date: float | None, config: SandboxConfig) -> None:
    """300 → 500 on the first complete shipping row (the reference's simulator default [U])."""
    rec.data["orderProgress"] = 500
    rec.data["shippingCmplRptDatetime"] = order_dt(ts)
    rec.cols["ship_rpt_dt"] = ts
    rec.cols["ship_dt"] = ship_date if ship_date is not None else ts
    rec.plan["paying_at"] = ts + config.payment_processing_after_s


def payment_processing(rec: OrderRecord, ts: float, config: SandboxConfig) -> None:
    rec.data["orderProgress"] = 600
    rec.plan["paid_at"] = ts + config.payment_done_after_s


def payment_done(rec: OrderRecord, ts: float) -> None:
    rec.data["orderProgress"] = 700
    rec.cols["settle_dt"] = ts


def _change_reason(rec: OrderRecord, ts: float, reason_detail: int, customer: bool, fixed: bool) -> None:
    changes = rec.data.setdefault("ChangeReasonModelList", [])
    changes.append({
        "changeId": len(changes) + 1, "changeType": 0, "changeTypeDetail": 0,
        "changeReason": 1 if customer else 0, "changeReasonDetail": reason_detail,
        "changeApplyDatetime": order_dt(ts), "changeFixDatetime": order_dt(ts) if fixed else None,
        "changeCmplDatetime": order_dt(ts) if fixed else None,
    })


def cancel_apply(rec: OrderRecord, ts: float, reason_detail: int, restore_type: int, customer: bool,
                 config: SandboxConfig) -> None:
    rec.data["orderProgress"] = 800
    _change_reason(rec, ts, reason_detail, customer, fixed=False)
    rec.plan["cancel_fix_at"] = ts + config.cancel_confirm_after_s
    rec.plan["restore"] = restore_type
    rec.plan.pop("buyer_cancel_at", None)


def cancel_fixed(conn: sqlite3.Connection, rec: OrderRecord, ts: float) -> None:
    rec.data["orderProgress"] = 900
    for change in rec.data.get("ChangeReasonModelList", []):
        if change.get("changeFixDatetime") is None:
            change["changeFixDatetime"] = change["changeCmplDatetime"] = order_dt(ts)
    restore_stock(conn, rec, int(rec.plan.get("restore", 0)), ts)


def cancel_after_shipping(conn: sqlite3.Connection, rec: OrderRecord, ts: float, reason_detail: int,
                          restore_type: int) -> None:
    rec.data["orderProgress"] = 900
    _change_reason(rec, ts, reason_detail, customer=reason_detail <= 6, fixed=True)
    restore_stock(conn, rec, restore_type, ts)


def restore_stock(conn: sqlite3.Connection, rec: OrderRecord, restore_type: int, ts: float) -> None:
    """inventoryRestoreType: 0 follow the SKU's restockOnCancel, 1 restore, 2 do not restore."""
    if restore_type == 2 or rec.plan.get("restored"):
        return
    for package in rec.data["PackageModelList"]:
        for item in package["ItemModelList"]:
            for sku in item.get("SkuModelList") or []:
                if restore_type == 0 and not _restock_on_cancel(conn, rec.shop_id, item["manageNumber"],
                                                                sku["variantId"]):
                    continue
                conn.execute(
                    "UPDATE inventory SET quantity = MIN(99999, quantity + ?), updated = ? "
                    "WHERE shop_id = ? AND manage_number = ? AND variant_id = ?",
                    (item["units"], ts, rec.shop_id, item["manageNumber"], sku["variantId"]))
    rec.plan["restored"] = True


def _restock_on_cancel(conn: sqlite3.Connection, shop_id: int, manage_number: str, variant_id: str) -> bool:
    row = conn.execute("SELECT data FROM items WHERE shop_id = ? AND manage_number = ? AND deleted IS NULL",
                       (shop_id, manage_number)).fetchone()
    if row is None:
        return False
    variant = (json.loads(row["data"]).get("variants") or {}).get(variant_id) or {}
    return bool(variant.get("restockOnCancel"))


def apply_event(conn: sqlite3.Connection, rec: OrderRecord, event: str, ts: float, config: SandboxConfig) -> None:
    if event == "fix_amounts":
        fix_amounts(rec.data)
    elif event == "auto_confirm":
        confirm(rec, ts, config)
    elif event == "rakuten_done":
        rakuten_done(rec, ts)
    elif event == "change_fixed":
        rec.data["orderProgress"] = 500 if rec.cols.get("ship_rpt_dt") else 300
        rec.data["modifyFlag"] = 1
    elif event == "buyer_cancel":
        cancel_apply(rec, ts, 1, 0, customer=True, config=config)
    elif event == "payment_processing":
        payment_processing(rec, ts, config)
    elif event == "payment_done":
        payment_done(rec, ts)
    elif event == "cancel_fixed":
        cancel_fixed(conn, rec, ts)


# --------------------------------------------------------------------------- buyers

class SoldOut(Exception):
    """A wanted SKU is hidden, unknown or has too little Rakuten-side stock."""


def purchasable(conn: sqlite3.Connection, shop_id: int) -> list[Line]:
    """Every SKU a buyer could put in a cart now (visible item, visible SKU, stock > 0), one unit each."""
    stock = {(r[0], r[1]): r[2] for r in conn.execute(
        "SELECT manage_number, variant_id, quantity FROM inventory WHERE shop_id = ? AND quantity > 0", (shop_id,))}
    lines = []
    for row in conn.execute("SELECT manage_number, item_id, data FROM items WHERE shop_id = ? AND deleted IS NULL "
                            "ORDER BY manage_number", (shop_id,)):
        item = json.loads(row["data"])
        if item.get("hideItem"):
            continue
        for vid, variant in (item.get("variants") or {}).items():
            if variant.get("hidden") or stock.get((row["manage_number"], vid), 0) <= 0:
                continue
            lines.append(_line(row["manage_number"], row["item_id"], item, vid, variant, 1))
    return lines


def _line(manage_number: str, item_id: int, item: dict[str, Any], vid: str, variant: dict[str, Any],
          units: int) -> Line:
    names = {s["key"]: s.get("displayName", s["key"]) for s in item.get("variantSelectors") or []}
    sku_info = "\n".join(f"{names.get(k, k)}:{v}" for k, v in (variant.get("selectorValues") or {}).items())
    return Line(
        manage_number=manage_number, variant_id=vid, item_id=item_id, item_name=item.get("title", ""),
        item_number=item.get("itemNumber") or manage_number, price=int(variant.get("standardPrice") or 0),
        units=units, merchant_sku=variant.get("merchantDefinedSkuId"), sku_info=sku_info,
        tax_rate=float((item.get("payment") or {}).get("taxRate") or 0.1),
        postage_included=bool((variant.get("shipping") or {}).get("postageIncluded")),
    )


def wanted_lines(conn: sqlite3.Connection, shop_id: int, wanted: list[tuple[str, str, int]]) -> list[Line]:
    lines = []
    for manage_number, vid, units in wanted:
        row = conn.execute("SELECT item_id, data FROM items WHERE shop_id = ? AND manage_number = ? "
                           "AND deleted IS NULL", (shop_id, manage_number)).fetchone()
        if row is None:
            raise SoldOut(f"unknown item {manage_number}")
        item = json.loads(row["data"])
        variant = (item.get("variants") or {}).get(vid)
        if variant is None:
            raise SoldOut(f"unknown variant {manage_number}/{vid}")
        if item.get("hideItem") or variant.get("hidden"):
            raise SoldOut(f"{manage_number}/{vid} is not on sale")
        lines.append(_line(manage_number, row["item_id"], item, vid, variant, units))
    return lines


def take_stock(conn: sqlite3.Connection, shop_id: int, lines: list[Line], ts: float) -> None:
    """Takes every line's units or none: stock never goes below zero, a sold-out SKU cannot be bought."""
    need: dict[tuple[str, str], int] = {}
    for line in lines:
        need[(line.manage_number, line.variant_id)] = need.get((line.manage_number, line.variant_id), 0) + line.units
    for (manage_number, vid), units in need.items():
        row = conn.execute("SELECT quantity FROM inventory WHERE shop_id = ? AND manage_number = ? AND variant_id = ?",
                           (shop_id, manage_number, vid)).fetchone()
        if row is None or row[0] < units:
            raise SoldOut(f"{manage_number}/{vid} is sold out")
    for (manage_number, vid), units in need.items():
        conn.execute("UPDATE inventory SET quantity = quantity - ?, updated = ? WHERE shop_id = ? AND "
                     "manage_number = ? AND variant_id = ?", (units, ts, shop_id, manage_number, vid))


def new_order_number(conn: sqlite3.Connection, shop_id: int, ts: float) -> str:
    seq = Store.next_ids(conn, shop_id, "order_seq", 207800000)
    return f"{shop_id:06d}-{to_jst(ts).strftime('%Y%m%d')}-{seq:010d}"


def create_order(conn: sqlite3.Connection, config: SandboxConfig, shop_id: int, ts: float,
                 packages: list[list[Line]], rng: random.Random, *, amounts_known: bool = True,
                 plan: dict[str, Any] | None = None) -> OrderRecord:
    """Writes a new order at 100 (the caller has taken the stock)."""
    number = new_order_number(conn, shop_id, ts)
    first_basket = Store.next_ids(conn, shop_id, "basket_id", 55000000, len(packages))
    count = sum(len(p) for p in packages)
    first_detail = Store.next_ids(conn, shop_id, "item_detail_id", 80000000, count)
    data = build_order(rng, number, ts, packages, [first_basket + i for i in range(len(packages))], first_detail,
                       amounts_fixed=amounts_known)
    rec = OrderRecord(number, shop_id, data, plan or {}, {"order_dt": ts})
    save_order(conn, rec, config, insert=True)
    return rec


def place_order(conn: sqlite3.Connection, config: SandboxConfig, shop_id: int, ts: float, rng: random.Random,
                wanted: list[tuple[str, str, int]] | None = None,
                catalog: list[Line] | None = None) -> OrderRecord:
    """A buyer checks out: chosen or random SKUs, stock taken, order at 100. Raises SoldOut."""
    if wanted:
        lines = wanted_lines(conn, shop_id, wanted)
    else:
        pool = catalog if catalog is not None else purchasable(conn, shop_id)
        if not pool:
            raise SoldOut("nothing left to buy")
        lines = []
        for line in rng.sample(pool, min(len(pool), rng.choice([1, 1, 1, 2, 3]))):
            line = Line(**{**line.__dict__, "units": 1 if rng.random() < 0.8 else 2})
            lines.append(line)
    take_stock(conn, shop_id, lines, ts)
    plan: dict[str, Any] = {}
    if rng.random() < config.buyer_cancel_share:
        plan["buyer_cancel_at"] = ts + config.buyer_cancel_after_s
    return create_order(conn, config, shop_id, ts, [lines], rng, plan=plan)


class Market:
    """Runs due order events and buyer arrivals up to the clock's now, in time order."""

    def __init__(self, store: Store, config: SandboxConfig) -> None:
        self.store = store
        self.config = config

    def _arrival_state(self) -> dict[str, Any]:
        return self.store.get_meta("arrivals") or {}

    def _next_arrival(self, shop_id: int, index: int, after: float) -> float:
        rate = self.config.order_rate_per_hour
        if rate <= 0:
            return math.inf
        rng = random.Random(f"arrival:{self.config.market_seed}:{shop_id}:{index}")
        return after + rng.expovariate(rate / 3600.0)

    def tick(self, now: float) -> dict[str, int]:
        """Catches the marketplace up with `now`; returns how many events and orders happened."""
        done = {"events": 0, "orders": 0, "sold_out": 0}
        with self.store.tx() as conn:
            arrivals = self._arrival_state()
            last = self.store.get_meta("market_last")
            since = min(float(last), now) if last is not None else now  # buyers arrive from the last tick on
            shops = [r[0] for r in conn.execute("SELECT shop_id FROM shops ORDER BY shop_id")]
            catalogs: dict[int, list[Line]] = {}
            for shop_id in shops:
                state = arrivals.get(str(shop_id))
                if state is None or (state[1] is None and self.config.order_rate_per_hour > 0):
                    index = 0 if state is None else state[0]
                    nxt = self._next_arrival(shop_id, index, since)
                    arrivals[str(shop_id)] = [index, None if math.isinf(nxt) else nxt]
            while True:
                due = conn.execute("SELECT order_number, shop_id, next_at, next_event FROM orders "
                                   "WHERE next_at IS NOT NULL AND next_at <= ? ORDER BY next_at LIMIT 1",
                                   (now,)).fetchone()
                arrival = min(((s[1], int(k)) for k, s in arrivals.items() if s[1] is not None and s[1] <= now),
                              default=None)
                if due is None and arrival is None:
                    break
                if arrival is not None and (due is None or arrival[0] < due["next_at"]):
                    at, shop_id = arrival
                    index = arrivals[str(shop_id)][0]
                    rng = random.Random(f"buyer:{self.config.market_seed}:{shop_id}:{index}")
                    if shop_id not in catalogs:
                        catalogs[shop_id] = purchasable(conn, shop_id)
                    try:
                        place_order(conn, self.config, shop_id, at, rng, catalog=catalogs[shop_id])
                        done["orders"] += 1
                    except SoldOut:
                        catalogs[shop_id] = purchasable(conn, shop_id)
                        done["sold_out"] += 1
                    nxt = self._next_arrival(shop_id, index + 1, at)
                    arrivals[str(shop_id)] = [index + 1, None if math.isinf(nxt) else nxt]
                    continue
                assert due is not None
                rec = load_order(conn, due["shop_id"], due["order_number"])
                assert rec is not None
                apply_event(conn, rec, due["next_event"], due["next_at"], self.config)
                save_order(conn, rec, self.config)
                done["events"] += 1
            self.store.set_meta("arrivals", arrivals)
            self.store.set_meta("market_last", now)
        return done

    def start(self, now: float) -> None:
        """Marks when the marketplace starts counting buyers (a restarted sandbox keeps its mark)."""
        if self.store.get_meta("market_last") is None:
            self.store.set_meta("market_last", now)

    def reschedule(self) -> None:
        """Recomputes every order's next event (after the market settings change)."""
        with self.store.tx() as conn:
            numbers = [(r[0], r[1]) for r in conn.execute(
                "SELECT shop_id, order_number FROM orders WHERE progress IN (100, 200, 300, 400, 500, 600, 800)")]
            for shop_id, number in numbers:
                rec = load_order(conn, shop_id, number)
                if rec is not None:
                    save_order(conn, rec, self.config)
            self.store.set_meta("arrivals", {})
