"""The sandbox's ASGI app: RMS paths exactly as in the reference, plus the /_sandbox/ admin endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from rms_sandbox import inventory, items, license, orders
from rms_sandbox.admin import Admin
from rms_sandbox.config import SandboxConfig
from rms_sandbox.core import Ctx, Handler, Sandbox, rms_endpoint
from rms_sandbox.errors import ItemApiError, OrderApiError, order_message
from rms_sandbox.market import Market

log = logging.getLogger("rms_sandbox")


def _rms_routes(sb: Sandbox) -> list[BaseRoute]:
    item = "items"
    routes: list[BaseRoute] = [
        Route("/es/2.0/items/manage-numbers/{manage_number}", rms_endpoint(sb, "item", {
            "GET": (f"{item}.get", items.items_get),
            "PUT": (f"{item}.upsert", items.items_upsert),
            "PATCH": (f"{item}.patch", items.items_patch),
            "DELETE": (f"{item}.delete", items.items_delete),
        }), methods=["GET", "PUT", "PATCH", "DELETE", "POST"]),
        Route("/es/2.0/items/search", rms_endpoint(sb, "item", {"GET": ("items.search", items.items_search)}),
              methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/es/2.0/items/bulk-get", rms_endpoint(sb, "item", {"POST": ("items.bulk.get", items.items_bulk_get)}),
              methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/es/2.0/items/inventory-related-settings/manage-numbers/{manage_number}", rms_endpoint(sb, "item", {
            "GET": ("items.inventory-related-settings.get", items.settings_get),
            "PUT": ("items.inventory-related-settings.update", items.settings_update),
        }), methods=["GET", "PUT", "POST", "PATCH", "DELETE"]),
        Route("/es/2.1/inventories/variant-lists/manage-numbers/{manage_number}", rms_endpoint(sb, "item", {
            "GET": ("inventories.variant-lists.get", inventory.variant_lists_get)}), methods=["GET", "POST"]),
        Route("/es/1.0/license-management/license-key/expiry-date", rms_endpoint(sb, "license", {
            "GET": ("license.expiryDate.get", license.expiry_date)}), methods=["GET", "POST"]),
    ]
    for version in ("2.0", "2.1"):
        base = f"/es/{version}/inventories"
        routes += [
            Route(base + "/manage-numbers/{manage_number}/variants/{variant_id}", rms_endpoint(sb, "item", {
                "GET": ("inventories.variants.get", _at_version(inventory.variants_get, version)),
                "PUT": ("inventories.variants.upsert", _at_version(inventory.variants_upsert, version)),
                "DELETE": ("inventories.variants.delete", _at_version(inventory.variants_delete, version)),
            }), methods=["GET", "PUT", "DELETE", "POST", "PATCH"]),
            Route(base + "/bulk-get", rms_endpoint(sb, "item", {
                "POST": ("inventories.bulk.get", _at_version(inventory.bulk_get, version))}),
                methods=["GET", "POST", "PUT"]),
            Route(base + "/bulk-get/range", rms_endpoint(sb, "item", {
                "GET": ("inventories.bulk.get.range", _at_version(inventory.bulk_get_range, version))}),
                methods=["GET", "POST"]),
            Route(base + "/bulk-upsert", rms_endpoint(sb, "item", {
                "POST": ("inventories.bulk.upsert", _at_version(inventory.bulk_upsert, version))}),
                methods=["GET", "POST", "PUT"]),
        ]
    for name, handler in orders.ORDER_FUNCTIONS.items():
        endpoint = rms_endpoint(sb, "order", {"POST": (f"rpay.order.{name}", handler)})
        # [C] documented with a trailing slash; the live server also answers without it (RWS-REC).
        for path in (f"/es/2.0/order/{name}/", f"/es/2.0/order/{name}"):
            routes.append(Route(path, endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]))
    return routes


def _at_version(handler: Handler, version: str) -> Handler:
    """Tells an inventory handler which API version's path it was called on."""

    def versioned(ctx: Ctx) -> Response:
        ctx.path_params["version"] = version
        return handler(ctx)

    return versioned


async def _not_found(request: Request, exc: Exception) -> Response:
    path = request.url.path
    if path.startswith(("/es/2.0/items/", "/es/2.0/inventories/", "/es/2.1/inventories/")):
        return ItemApiError.one(400, "GE0007", "Request path does not exist.").response()
    if path.startswith("/es/2.0/order/"):
        return OrderApiError(404, [order_message("ERROR", "NOT_FOUND", "Not Found")]).response()
    return JSONResponse({"error": "not found", "path": path}, status_code=404)


def create_app(config: SandboxConfig | None = None) -> Starlette:
    """The sandbox as an ASGI app; `app.state.sandbox` and `app.state.market` give tests direct access."""
    config = config or SandboxConfig()
    sb = Sandbox(config)
    market = Market(sb.store, config)
    market.start(sb.clock.now())
    admin = Admin(sb, market)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(_run_market(sb, market)) if config.clock == "real" else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    routes: list[BaseRoute] = [*_rms_routes(sb), *admin.routes()]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: _not_found})
    app.router.redirect_slashes = False
    app.state.sandbox = sb
    app.state.market = market
    return app


async def _run_market(sb: Sandbox, market: Market) -> None:
    """A real-clock sandbox's marketplace: catches up with the clock every `market_tick_s` seconds."""
    while True:
        try:
            market.tick(sb.clock.now())
        except Exception:  # keep the marketplace alive; the error is logged
            log.exception("marketplace tick failed")
        await asyncio.sleep(sb.config.market_tick_s)
