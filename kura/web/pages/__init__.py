"""Server-rendered pages: one module per area, each with a `router`."""

from fastapi import APIRouter

from kura import i18n
from kura.orders.statuses import OrderStatus
from kura.web.pages import (
    account,
    bulk,
    home,
    integrations,
    inventory,
    orders,
    ordersync,
    products,
    shipping,
    stocksync,
)
from kura.web.pages.forms import query_with
from kura.web.templating import env


def status_label(status: OrderStatus | str) -> str:
    """An order status for people: "Ready_to_Ship" → "Ready to Ship" (or its Japanese)."""
    return i18n.gettext(str(status).replace("_", " "))


env.globals["qs"] = query_with
env.filters["status_label"] = status_label

routers: list[APIRouter] = [
    account.router,
    home.router,
    products.router,
    inventory.router,
    orders.router,
    integrations.router,
    bulk.router,
    shipping.router,
    ordersync.router,
    stocksync.router,
]
