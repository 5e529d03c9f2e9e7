"""The figures the dashboard shows: catalog size, stock units, orders per key status, and SKUs running low."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kura.catalog.models import Product, Sku
from kura.inventory.models import StockLevel
from kura.orders.service import count_by_status
from kura.orders.statuses import OrderStatus

LOW_STOCK = 5  # available units at or below which a stocked SKU is listed as low
KEY_STATUSES = (
    OrderStatus.New,
    OrderStatus.Partial,
    OrderStatus.RFP,
    OrderStatus.Packed,
    OrderStatus.In_transit,
    OrderStatus.Cancel_in_progress,
)


@dataclass
class Dashboard:
    figures: dict[str, int]
    orders: dict[OrderStatus, int]
    low_stock: list[dict[str, Any]] = field(default_factory=list)


def dashboard_figures(session: Session) -> Dashboard:
    on_hand, reserved = session.execute(
        select(func.coalesce(func.sum(StockLevel.on_hand), 0), func.coalesce(func.sum(StockLevel.reserved), 0))
    ).one()
    figures = {
        "Products": session.scalar(select(func.count()).select_from(Product)) or 0,
        "SKUs": session.scalar(select(func.count()).select_from(Sku)) or 0,
        "Units on hand": int(on_hand),
        "Units reserved": int(reserved),
        "Units available": int(on_hand) - int(reserved),
    }
    counts = count_by_status(session)
    available = func.sum(StockLevel.on_hand - StockLevel.reserved)
    low = session.execute(
        select(Sku.code, Product.name, Product.id, available)
        .join(Sku, Sku.id == StockLevel.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .group_by(Sku.code, Product.name, Product.id)
        .having(available <= LOW_STOCK)
        .order_by(available, Sku.code)
        .limit(10)
    ).all()
    return Dashboard(
        figures=figures,
        orders={st: counts[st] for st in KEY_STATUSES},
        low_stock=[{"sku": c, "name": n, "product_id": pid, "available": a} for c, n, pid, a in low],
    )
