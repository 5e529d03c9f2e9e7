"""The REST API, version 1: one module per area, each with a `router`."""

from fastapi import APIRouter

from kura.web.api import me, orders, products, stock, warehouses

routers: list[APIRouter] = [me.router, products.router, warehouses.router, stock.router, orders.router]
