"""The REST API, version 1: one module per area, each with a `router`."""

from fastapi import APIRouter

from kura.web.api import bulk, listings, me, orders, ordersync, products, shipping, stock, stocksync, stores, warehouses

# stores before orders: its POST/GET /stores (connect a Rakuten shop, or add a manual store) supersedes the
# manual-only routes of the orders module, which FastAPI would otherwise match first.
routers: list[APIRouter] = [me.router, products.router, warehouses.router, stock.router, stores.router,
                            orders.router, listings.router, bulk.router,
                            ordersync.router, shipping.router, stocksync.router]  # fmt: skip
