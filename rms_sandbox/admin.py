"""Admin endpoints under /_sandbox/: shops, reset and seed, buyers' orders, the clock, faults, stock, and
what clients did (writes, shipping reports, request counters)."""

from __future__ import annotations

import json
import random
from dataclasses import fields
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rms_sandbox.core import Sandbox
from rms_sandbox.guard import FaultSpec
from rms_sandbox.license import issue_key
from rms_sandbox.market import Market, SoldOut, load_order, place_order
from rms_sandbox.seed import create_shop, seed_shop, shop_view
from rms_sandbox.timefmt import item_dt, parse_iso

_CONFIG_FIELDS = {
    "rate_limits_enabled", "rate_limits", "rate_limit_window_s", "license_ttl_days", "order_rate_per_hour",
    "auto_confirm_after_s", "rakuten_processing_s", "payment_processing_after_s", "payment_done_after_s",
    "buyer_cancel_share", "buyer_cancel_after_s", "cancel_confirm_after_s", "market_seed",
    "shipping_row_limit", "search_result_cap", "items_bulk_get_max", "fault_timeout_s", "search_deleted_stub_s",
}
_MARKET_FIELDS = {"order_rate_per_hour", "auto_confirm_after_s", "rakuten_processing_s",
                  "payment_processing_after_s", "payment_done_after_s", "buyer_cancel_share",
                  "buyer_cancel_after_s", "cancel_confirm_after_s", "market_seed"}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _ts(ts: float | None) -> dict[str, Any] | None:
    return None if ts is None else {"epoch": ts, "jst": item_dt(ts)}


class Admin:
    """Handlers bound to one sandbox and its marketplace."""

    def __init__(self, sb: Sandbox, market: Market) -> None:
        self.sb = sb
        self.market = market

    def _shop_id(self, ref: str) -> int | None:
        row = self.sb.store.one("SELECT shop_id FROM shops WHERE shop_url = ? OR CAST(shop_id AS TEXT) = ?",
                                (ref, ref))
        return None if row is None else int(row["shop_id"])

    def _view(self, shop_id: int) -> dict[str, Any]:
        view = shop_view(self.sb, shop_id)
        view["license_expires_at"] = _ts(view["license_expires_at"])
        for key in view["license_keys"]:
            key["issued_at"], key["expires_at"] = _ts(key["issued_at"]), _ts(key["expires_at"])
        return view

    async def list_shops(self, request: Request) -> Response:
        ids = [r["shop_id"] for r in self.sb.store.query("SELECT shop_id FROM shops ORDER BY created, shop_id")]
        return JSONResponse({"shops": [self._view(i) for i in ids]})

    async def create_shop(self, request: Request) -> Response:
        body = await _body(request)
        seed = body.get("seed")
        if seed is not None or body.get("items") or body.get("orders"):
            shop_id = seed_shop(self.sb, int(seed if seed is not None else random.randrange(1 << 30)),
                                int(body.get("items", 0)), int(body.get("orders", 0)),
                                shop_url=body.get("shop_url"), name=body.get("name"),
                                prefix=str(body.get("prefix") or ""))
        else:
            shop_id = create_shop(self.sb, shop_url=body.get("shop_url"), name=body.get("name"),
                                  sku_migrated=bool(body.get("sku_migrated", True)),
                                  license_ttl_days=body.get("license_ttl_days"))
        if body.get("sku_migrated") is False:
            with self.sb.store.tx() as conn:
                conn.execute("UPDATE shops SET sku_migrated = 0 WHERE shop_id = ?", (shop_id,))
        return JSONResponse(self._view(shop_id), status_code=201)

    async def get_shop(self, request: Request) -> Response:
        shop_id = self._shop_id(request.path_params["shop"])
        if shop_id is None:
            return _error(404, "no such shop")
        return JSONResponse(self._view(shop_id))

    async def reset(self, request: Request) -> Response:
        body = await _body(request)
        self.sb.store.reset()
        self.sb.store.set_meta("arrivals", {})
        self.sb.stats.reset()
        self.sb.limiter.reset()
        self.sb.faults.clear()
        result: dict[str, Any] = {"reset": True}
        if body.get("seed") is not None:
            shop_id = seed_shop(self.sb, int(body["seed"]), int(body.get("items", 500)), int(body.get("orders", 3000)))
            result["shop"] = self._view(shop_id)
        return JSONResponse(result)

    async def seed(self, request: Request) -> Response:
        body = await _body(request)
        shop_id = seed_shop(self.sb, int(body.get("seed", 42)), int(body.get("items", 500)),
                            int(body.get("orders", 3000)), shop_url=body.get("shop_url"), name=body.get("name"))
        return JSONResponse(self._view(shop_id), status_code=201)

    async def place_order(self, request: Request) -> Response:
        shop_id = self._shop_id(request.path_params["shop"])
        if shop_id is None:
            return _error(404, "no such shop")
        body = await _body(request)
        wanted = [(str(i["manageNumber"]).lower(), str(i["variantId"]), int(i.get("units", 1)))
                  for i in body.get("items") or []]
        if any(units < 1 for _, _, units in wanted):
            return _error(400, "units must be at least 1")
        ts = parse_iso(body["at"]) if body.get("at") else self.sb.clock.now()
        rng = random.Random(body.get("seed")) if body.get("seed") is not None else random.Random()
        try:
            with self.sb.store.tx() as conn:
                rec = place_order(conn, self.sb.config, shop_id, ts, rng, wanted or None)
                if body.get("buyer_cancel_after_s") is not None:
                    rec.plan["buyer_cancel_at"] = ts + float(body["buyer_cancel_after_s"])
                    from rms_sandbox.market import save_order

                    save_order(conn, rec, self.sb.config)
        except SoldOut as exc:
            return _error(409, str(exc))
        return JSONResponse({"orderNumber": rec.number, "orderProgress": rec.progress,
                             "order": rec.data}, status_code=201)

    async def get_order(self, request: Request) -> Response:
        shop_id = self._shop_id(request.path_params["shop"])
        if shop_id is None:
            return _error(404, "no such shop")
        with self.sb.store.lock:
            rec = load_order(self.sb.store.conn, shop_id, request.path_params["order_number"])
            row = self.sb.store.one("SELECT next_at, next_event FROM orders WHERE order_number = ?",
                                    (request.path_params["order_number"],))
        if rec is None or row is None:
            return _error(404, "no such order")
        return JSONResponse({"orderNumber": rec.number, "orderProgress": rec.progress, "order": rec.data,
                             "next_event": row["next_event"], "next_at": _ts(row["next_at"])})

    async def clock(self, request: Request) -> Response:
        if request.method == "PUT":
            body = await _body(request)
            self.sb.clock.set(parse_iso(body["now"]))
            self.market.tick(self.sb.clock.now())
        now = self.sb.clock.now()
        return JSONResponse({"mode": self.sb.clock.mode, "now": item_dt(now), "epoch": now})

    async def advance(self, request: Request) -> Response:
        body = await _body(request)
        seconds = float(body.get("seconds", 0))
        if seconds < 0:
            return _error(400, "seconds must not be negative")
        now = self.sb.clock.advance(seconds)
        done = self.market.tick(now)
        return JSONResponse({"mode": self.sb.clock.mode, "now": item_dt(now), "epoch": now, **done})

    async def tick(self, request: Request) -> Response:
        return JSONResponse(self.market.tick(self.sb.clock.now()))

    async def faults(self, request: Request) -> Response:
        if request.method == "PUT":
            body = await _body(request)
            function = str(body.pop("function", "*"))
            known = {f.name for f in fields(FaultSpec)}
            unknown = set(body) - known
            if unknown:
                return _error(400, f"unknown fault settings: {sorted(unknown)}")
            for key in ("maintenance_start", "maintenance_end"):
                if isinstance(body.get(key), str):
                    body[key] = parse_iso(body[key])
            self.sb.faults.set(function, FaultSpec(**body))
        elif request.method == "DELETE":
            self.sb.faults.clear(request.query_params.get("function"))
        return JSONResponse({"faults": {k: v.to_json() for k, v in self.sb.faults.specs.items()}})

    async def stock(self, request: Request) -> Response:
        shop_id = self._shop_id(request.path_params["shop"])
        if shop_id is None:
            return _error(404, "no such shop")
        if request.method == "PUT":
            body = await _body(request)
            now = self.sb.clock.now()
            with self.sb.store.tx() as conn:
                for entry in body.get("stock") or []:
                    conn.execute(
                        "INSERT INTO inventory (shop_id, manage_number, variant_id, quantity, extra, created, updated) "
                        "VALUES (?, ?, ?, ?, NULL, ?, ?) ON CONFLICT (shop_id, manage_number, variant_id) "
                        "DO UPDATE SET quantity = excluded.quantity, updated = excluded.updated",
                        (shop_id, str(entry["manageNumber"]).lower(), entry["variantId"], int(entry["quantity"]),
                         now, now))
        query = request.query_params
        sql = "SELECT manage_number, variant_id, quantity, updated FROM inventory WHERE shop_id = ?"
        params: list[Any] = [shop_id]
        if query.get("manage_number"):
            sql += " AND manage_number = ?"
            params.append(query["manage_number"].lower())
        if query.get("variant_id"):
            sql += " AND variant_id = ?"
            params.append(query["variant_id"])
        rows = self.sb.store.query(sql + " ORDER BY manage_number, variant_id", params)
        skus = self._merchant_skus(shop_id)
        stock = [{"manageNumber": r["manage_number"], "variantId": r["variant_id"],
                  "merchantDefinedSkuId": skus.get((r["manage_number"], r["variant_id"])),
                  "quantity": r["quantity"], "updated": item_dt(r["updated"])} for r in rows]
        sku = query.get("sku")
        if sku:
            stock = [s for s in stock if sku in (s["variantId"], s["merchantDefinedSkuId"])]
        return JSONResponse({"stock": stock})

    def _merchant_skus(self, shop_id: int) -> dict[tuple[str, str], str | None]:
        out: dict[tuple[str, str], str | None] = {}
        for row in self.sb.store.query("SELECT manage_number, data FROM items WHERE shop_id = ? AND deleted IS NULL",
                                       (shop_id,)):
            for vid, variant in (json.loads(row["data"]).get("variants") or {}).items():
                out[(row["manage_number"], vid)] = variant.get("merchantDefinedSkuId")
        return out

    async def shipping_reports(self, request: Request) -> Response:
        shop_id = self._shop_id(request.path_params["shop"])
        if shop_id is None:
            return _error(404, "no such shop")
        sql = "SELECT * FROM shipping_reports WHERE shop_id = ?"
        params: list[Any] = [shop_id]
        if request.query_params.get("order_number"):
            sql += " AND order_number = ?"
            params.append(request.query_params["order_number"])
        rows = self.sb.store.query(sql + " ORDER BY id", params)
        return JSONResponse({"shipping_reports": [
            {"id": r["id"], "orderNumber": r["order_number"], "function": r["function"], "at": _ts(r["at"]),
             "requestId": r["request_id"], "request": json.loads(r["body"]), "result": json.loads(r["result"])}
            for r in rows]})

    async def writes(self, request: Request) -> Response:
        shop_id = self._shop_id(request.path_params["shop"])
        if shop_id is None:
            return _error(404, "no such shop")
        sql = "SELECT * FROM writes WHERE shop_id = ?"
        params: list[Any] = [shop_id]
        if request.query_params.get("function"):
            sql += " AND function = ?"
            params.append(request.query_params["function"])
        if request.query_params.get("since_id"):
            sql += " AND id > ?"
            params.append(int(request.query_params["since_id"]))
        rows = self.sb.store.query(sql + " ORDER BY id", params)
        return JSONResponse({"writes": [
            {"id": r["id"], "function": r["function"], "method": r["method"], "path": r["path"], "at": _ts(r["at"]),
             "status": r["status"], "license_key": r["license_key"], "body": _maybe_json(r["body"])}
            for r in rows]})

    async def stats(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.sb.stats.reset()
        return JSONResponse({"stats": self.sb.stats.snapshot()})

    async def license(self, request: Request) -> Response:
        shop_id = self._shop_id(request.path_params["shop"])
        if shop_id is None:
            return _error(404, "no such shop")
        body = await _body(request)
        now = self.sb.clock.now()
        with self.sb.store.tx() as conn:
            if body.get("issue_new"):
                ttl = int(body.get("ttl_days", self.sb.config.license_ttl_days))
                issue_key(conn, shop_id, now, ttl)
            if body.get("expires_at") is not None:
                expires = parse_iso(body["expires_at"]) if isinstance(body["expires_at"], str) \
                    else float(body["expires_at"])
                if body.get("license_key"):
                    conn.execute("UPDATE license_keys SET expires = ? WHERE shop_id = ? AND license_key = ?",
                                 (expires, shop_id, body["license_key"]))
                else:
                    conn.execute("UPDATE license_keys SET expires = ? WHERE shop_id = ?", (expires, shop_id))
        return JSONResponse(self._view(shop_id))

    async def config(self, request: Request) -> Response:
        cfg = self.sb.config
        if request.method == "PUT":
            body = await _body(request)
            unknown = set(body) - _CONFIG_FIELDS
            if unknown:
                return _error(400, f"unknown settings: {sorted(unknown)}")
            for key, value in body.items():
                setattr(cfg, key, value)
            if "rate_limits" in body or "rate_limit_window_s" in body:
                self.sb.limiter.reset()
            if _MARKET_FIELDS & set(body):
                self.market.reschedule()
        return JSONResponse({k: getattr(cfg, k) for k in sorted(_CONFIG_FIELDS | {"clock", "db_path"})})

    def routes(self) -> list[Route]:
        return [
            Route("/_sandbox/shops", self.list_shops, methods=["GET"]),
            Route("/_sandbox/shops", self.create_shop, methods=["POST"]),
            Route("/_sandbox/shops/{shop}", self.get_shop, methods=["GET"]),
            Route("/_sandbox/reset", self.reset, methods=["POST"]),
            Route("/_sandbox/seed", self.seed, methods=["POST"]),
            Route("/_sandbox/shops/{shop}/orders", self.place_order, methods=["POST"]),
            Route("/_sandbox/shops/{shop}/orders/{order_number}", self.get_order, methods=["GET"]),
            Route("/_sandbox/clock", self.clock, methods=["GET", "PUT"]),
            Route("/_sandbox/clock/advance", self.advance, methods=["POST"]),
            Route("/_sandbox/market/tick", self.tick, methods=["POST"]),
            Route("/_sandbox/faults", self.faults, methods=["GET", "PUT", "DELETE"]),
            Route("/_sandbox/shops/{shop}/stock", self.stock, methods=["GET", "PUT"]),
            Route("/_sandbox/shops/{shop}/shipping-reports", self.shipping_reports, methods=["GET"]),
            Route("/_sandbox/shops/{shop}/writes", self.writes, methods=["GET"]),
            Route("/_sandbox/stats", self.stats, methods=["GET", "DELETE"]),
            Route("/_sandbox/shops/{shop}/license", self.license, methods=["POST"]),
            Route("/_sandbox/config", self.config, methods=["GET", "PUT"]),
        ]


def _maybe_json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
