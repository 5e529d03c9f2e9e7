"""The sandbox object shared by all handlers, the request context, and the RMS endpoint wrapper
(auth → rate limit → faults → handler → write log → counters)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from rms_sandbox.clock import Clock
from rms_sandbox.config import SandboxConfig
from rms_sandbox.errors import (
    ApiError,
    Family,
    ItemApiError,
    OrderApiError,
    auth_error_response,
    order_code,
    order_message,
    status_error_response,
)
from rms_sandbox.guard import Faults, RateLimiter, Stats
from rms_sandbox.store import Store

WRITE_FUNCTIONS = frozenset({
    "items.upsert", "items.patch", "items.delete", "items.inventory-related-settings.update",
    "inventories.variants.upsert", "inventories.variants.delete", "inventories.bulk.upsert",
    "rpay.order.confirmOrder", "rpay.order.updateOrderShipping", "rpay.order.updateOrderShippingAsync",
    "rpay.order.cancelOrder", "rpay.order.cancelOrderAfterShipping", "rpay.order.updateOrderSubStatus",
})


class Sandbox:
    """One running sandbox: its store, clock, limits, faults and counters."""

    def __init__(self, config: SandboxConfig) -> None:
        from rms_sandbox.timefmt import parse_iso

        self.config = config
        self.store = Store(config.db_path)
        start = parse_iso(config.clock_start) if config.clock_start else None
        self.clock = Clock(self.store, config.clock, start)
        self.limiter = RateLimiter(config)
        self.faults = Faults(config.market_seed)
        self.stats = Stats()

    def authenticate(self, header: str | None) -> dict[str, Any] | None:
        """Returns the shop and key for a valid, unexpired `ESA base64(secret:key)` header."""
        if not header or not header.startswith("ESA "):
            return None
        try:
            decoded = base64.b64decode(header[4:].strip(), validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            return None
        secret, sep, key = decoded.partition(":")
        if not sep:
            return None
        row = self.store.one(
            "SELECT s.shop_id, s.shop_url, s.service_secret, s.sku_migrated, k.expires "
            "FROM license_keys k JOIN shops s ON s.shop_id = k.shop_id WHERE k.license_key = ?",
            (key,),
        )
        if row is None or row["service_secret"] != secret or row["expires"] <= self.clock.now():
            return None
        return {"shop_id": row["shop_id"], "shop_url": row["shop_url"], "license_key": key,
                "sku_migrated": bool(row["sku_migrated"])}


@dataclass
class Ctx:
    """What a handler gets: the shop behind the credentials and the request."""

    sb: Sandbox
    function: str
    family: Family
    shop_id: int
    shop_url: str
    license_key: str
    sku_migrated: bool
    method: str
    path_params: dict[str, str]
    query: list[tuple[str, str]]
    body: bytes
    now: float
    extra: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        """The parsed JSON body, or the family's error for a missing or malformed one."""
        if not self.body.strip():
            if self.family == "order":
                raise OrderApiError(400, [order_message(
                    "ERROR", order_code(self.short, "ERROR", "009"), "リクエストボディを指定して下さい。")])
            raise ItemApiError.one(400, "GE0011", "Request body is missing or empty.")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            if self.family == "order":
                raise OrderApiError(400, [order_message(
                    "ERROR", order_code(self.short, "ERROR", "011"), "リクエストの書式が不正です。")]) from None
            raise ItemApiError.one(400, "IE0002", "Request body is not valid JSON.") from None

    @property
    def short(self) -> str:
        return self.function.rsplit(".", 1)[-1]


Handler = Callable[[Ctx], Response]


def _json_media_ok(content_type: str) -> bool:
    # Accepts `application/json`, `application/json;charset=utf-8` and the spaced form (the reference
    # notes a third-party claim that the space breaks the real API [U]; Rakuten's samples use it).
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


def rms_endpoint(
    sb: Sandbox, family: Family, methods: dict[str, tuple[str, Handler]]
) -> Callable[[Request], Awaitable[Response]]:
    """Builds one Starlette endpoint serving `methods`: HTTP method → (function name, handler)."""

    async def endpoint(request: Request) -> Response:
        entry = methods.get(request.method)
        if entry is None:
            return _method_not_allowed(family)
        function, handler = entry
        auth = sb.authenticate(request.headers.get("authorization"))
        if auth is None:
            sb.stats.record("", function, 401)
            return auth_error_response()
        key = auth["license_key"]
        if not sb.limiter.allow(key, function):
            sb.stats.record(key, function, 429, rate_limited=True)
            return status_error_response(family, function, 429)
        decision = sb.faults.decide(function, sb.clock.now(), sb.config.fault_timeout_s)
        if decision is not None:
            if decision.delay_s:
                await asyncio.sleep(decision.delay_s)
            if decision.status is not None:
                sb.stats.record(key, function, decision.status, fault=True)
                return status_error_response(family, function, decision.status)
        body = await request.body()
        if (
            family == "item"
            and request.method in ("PUT", "PATCH", "POST")
            and not _json_media_ok(request.headers.get("content-type", ""))
        ):
            response: Response = ItemApiError.one(
                415, "GE0012", "Unsupported Media Type. Content-Type must be application/json.").response()
        elif family == "item" and not auth["sku_migrated"] and function != "inventories.variants.get" \
                and function != "inventories.bulk.get.range":
            response = ItemApiError.one(
                400, "IE1105", "This endpoint is disabled for the shop not migrated to SKU.").response()
        else:
            ctx = Ctx(
                sb=sb, function=function, family=family, shop_id=auth["shop_id"],
                shop_url=auth["shop_url"], license_key=key, sku_migrated=auth["sku_migrated"],
                method=request.method, path_params=dict(request.path_params),
                query=list(request.query_params.multi_items()), body=body, now=sb.clock.now(),
            )
            try:
                response = handler(ctx)
            except ApiError as exc:
                response = exc.response()
        if function in WRITE_FUNCTIONS:
            _record_write(sb, auth, function, request, body, response.status_code)
        sb.stats.record(key, function, response.status_code)
        return response

    return endpoint


def _record_write(sb: Sandbox, auth: dict[str, Any], function: str, request: Request, body: bytes,
                  status: int) -> None:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    with sb.store.lock:
        sb.store.conn.execute(
            "INSERT INTO writes (shop_id, license_key, function, method, path, at, status, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (auth["shop_id"], auth["license_key"], function, request.method, path, sb.clock.now(), status,
             body.decode("utf-8", "replace") if body else None),
        )


def _method_not_allowed(family: Family) -> Response:
    if family == "order":
        return OrderApiError(405, [order_message("ERROR", "METHOD_NOT_ALLOWED", "Method Not Allowed")]).response()
    return ItemApiError.one(405, "GE0007", "Method Not Allowed.").response()
