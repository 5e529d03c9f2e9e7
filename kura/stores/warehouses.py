"""Which warehouses serve a store, in which order: orders reserve from them by priority, and stock pushed to
the store is counted over them (the inventory sync adds its buffers on top)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ForeignKey, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from kura.db import Base, BigIntPK
from kura.errors import Invalid
from kura.inventory import channel_stock
from kura.inventory.models import Warehouse
from kura.inventory.service import get_warehouse, list_warehouses
from kura.stores.models import Store


class StoreWarehouse(Base):
    """One warehouse of a store; lower `priority` is tried first."""

    __tablename__ = "store_warehouses"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id", ondelete="CASCADE"))
    priority: Mapped[int] = mapped_column(default=0)

    __table_args__ = (UniqueConstraint("store_id", "warehouse_id"),)


def set_store_warehouses(session: Session, store_id: int, warehouse_ids: Sequence[int]) -> list[StoreWarehouse]:
    """Replaces the store's warehouses: the first given is priority 0 (tried first), the next 1, ..."""
    if session.get(Store, store_id) is None:
        raise Invalid("store_id", f"No store with id {store_id}.")
    if len(set(warehouse_ids)) != len(warehouse_ids):
        raise Invalid("warehouse_ids", "Each warehouse may appear once.")
    for warehouse_id in warehouse_ids:
        get_warehouse(session, warehouse_id)
    session.execute(delete(StoreWarehouse).where(StoreWarehouse.store_id == store_id))
    rows = [StoreWarehouse(store_id=store_id, warehouse_id=w, priority=i) for i, w in enumerate(warehouse_ids)]
    session.add_all(rows)
    session.flush()
    channel_stock.mark_store_dirty(session, store_id)  # the store's quantities count other warehouses now
    return rows


def store_warehouse_ids(session: Session, store_id: int) -> list[int] | None:
    """The store's active warehouses by priority; None when none is mapped (then every active warehouse
    serves it, the way a single-warehouse installation expects)."""
    rows = session.execute(
        select(StoreWarehouse.warehouse_id, Warehouse.active)
        .join(Warehouse, Warehouse.id == StoreWarehouse.warehouse_id)
        .where(StoreWarehouse.store_id == store_id)
        .order_by(StoreWarehouse.priority, StoreWarehouse.id)
    ).all()
    if not rows:
        return None
    return [warehouse_id for warehouse_id, active in rows if active]


def reserving_warehouses(session: Session, store_id: int) -> list[int]:
    """Where an order of the store reserves, in order: its mapped warehouses, else every active one."""
    mapped = store_warehouse_ids(session, store_id)
    return mapped if mapped is not None else [w.id for w in list_warehouses(session, active=True)]
