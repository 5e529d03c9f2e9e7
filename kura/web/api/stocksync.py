"""Stock sync of a Rakuten store: Sync Stock and the reconciliation (202 + run id; progress at /api/v1/runs/{id}),
the store's warehouses and buffers, its push status and drift report, and a SKU's stock per warehouse and store."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy import select
from sqlalchemy.orm import Session

from kura.catalog.service import get_sku
from kura.channels.rakuten import stock
from kura.db import Database
from kura.inventory import channel_stock
from kura.inventory.service import availability_by_warehouse, list_stock
from kura.stores.models import Store
from kura.stores.warehouses import set_store_warehouses, store_warehouse_ids
from kura.web.api.common import Admin, PathId, Reader, Writer, errors
from kura.web.api.stores import Accepted, launch
from kura.web.deps import get_db, read_scope

router = APIRouter(tags=["stock sync"], responses=errors(401, 422))

SkuCode = Annotated[str, Field(min_length=1, max_length=100)]


class SyncStockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skus: list[SkuCode] = Field(default_factory=list, max_length=10_000,
                                description="Only these SKUs (retry of a refused one); default every listed SKU.")


@router.post("/stores/{store_id}/sync/stock", status_code=202, response_model=Accepted, responses=errors(403, 404))
def sync_stock(store_id: PathId, request: Request, user: Writer, body: SyncStockIn | None = None,
               db: Database = Depends(get_db)) -> Accepted:  # fmt: skip
    """Sync Stock: push the quantity of every listed SKU (or the given ones) to Rakuten, in the background."""
    body = body or SyncStockIn()
    run_id = stock.request_sync(db, store_id, stock.SYNC_JOB, body.skus or None)
    launch(request, stock.SYNC_JOB, store_id, run_id)
    return Accepted(run_id=run_id, kind=stock.SYNC_JOB, status_url=f"/api/v1/runs/{run_id}")


@router.post("/stores/{store_id}/sync/stock/reconcile", status_code=202, response_model=Accepted,
             responses=errors(403, 404))  # fmt: skip
def reconcile_stock(store_id: PathId, request: Request, user: Writer, db: Database = Depends(get_db)) -> Accepted:
    """Read Rakuten's stock of every listed SKU, report the drift and correct it, in the background."""
    run_id = stock.request_sync(db, store_id, stock.RECONCILE_JOB)
    launch(request, stock.RECONCILE_JOB, store_id, run_id)
    return Accepted(run_id=run_id, kind=stock.RECONCILE_JOB, status_url=f"/api/v1/runs/{run_id}")


class BufferIO(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["units", "percent"]
    value: int = Field(ge=0, le=99_999)


class StockSyncOut(BaseModel):
    pending: int
    paused_until: dt.datetime | None
    last_error: str | None
    last_pushed_at: dt.datetime | None
    checked_at: dt.datetime | None
    drift: list[dict[str, Any]]
    buffer: BufferIO
    warehouse_ids: list[int] | None
    sales_guard: bool = Field(description="A push takes off what Rakuten sold and Kura has not imported yet.")


def _status(s: Session, store_id: int) -> StockSyncOut:
    store = stock._rakuten_store(s, store_id)
    st = stock.status(s, store_id)
    buffer = channel_stock.store_buffer(store)
    return StockSyncOut(pending=st.pending, paused_until=st.paused_until, last_error=st.last_error,
                        last_pushed_at=st.last_pushed_at, checked_at=st.checked_at, drift=st.drift,
                        buffer=BufferIO(mode=buffer.mode.value, value=buffer.value),
                        warehouse_ids=store_warehouse_ids(s, store_id),
                        sales_guard=stock.sales_guard(store))  # fmt: skip


@router.get("/stores/{store_id}/stock-sync", response_model=StockSyncOut, responses=errors(404))
def stock_sync_status(store_id: PathId, user: Reader, s: Session = Depends(read_scope)) -> StockSyncOut:
    """Pending pushes, the last push, the store's buffer and warehouses, and the last drift report."""
    return _status(s, store_id)


class StockSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    warehouse_ids: list[int] | None = Field(None, description="Warehouses feeding the store, first = tried first.")
    buffer: BufferIO | None = None
    reconcile_interval_s: int | None = Field(None, ge=0, description="0 = off; default nightly (03:00 JST).")
    sales_guard: StrictBool | None = Field(None, description="Default on: before a push, Rakuten's quantity is read "
                                           "so that units it sold and Kura has not imported yet are not offered "
                                           "again. Off: Kura's quantity is pushed as it is.")


@router.put("/stores/{store_id}/stock-settings", response_model=StockSyncOut, responses=errors(403, 404))
def stock_settings(store_id: PathId, body: StockSettingsIn, user: Admin,
                   db: Database = Depends(get_db)) -> StockSyncOut:  # fmt: skip
    """Change the store's warehouse mapping, default buffer or reconciliation interval; every listed SKU is
    pushed again when the quantity rule changes."""
    with db.transaction() as s:
        stock._rakuten_store(s, store_id)
        if body.warehouse_ids is not None:
            set_store_warehouses(s, store_id, body.warehouse_ids)
        if body.buffer is not None:
            channel_stock.set_store_buffer(s, store_id, body.buffer.mode, body.buffer.value)
        if body.reconcile_interval_s is not None:
            stock.ensure_reconcile_schedule(s, store_id, body.reconcile_interval_s)
        if body.sales_guard is not None:
            stock.set_sales_guard(s, store_id, body.sales_guard)
    with db.reader() as s:
        return _status(s, store_id)


@router.put("/stores/{store_id}/stock-buffers/{sku}", response_model=BufferIO, responses=errors(403, 404))
def set_sku_buffer(store_id: PathId, sku: str, body: BufferIO, user: Admin, db: Database = Depends(get_db)) -> BufferIO:
    """One SKU's buffer on the store (overrides the store's default)."""
    with db.transaction() as s:
        channel_stock.set_sku_buffer(s, store_id, get_sku(s, sku).id, body.mode, body.value)
    return body


@router.delete("/stores/{store_id}/stock-buffers/{sku}", status_code=204, responses=errors(403, 404))
def clear_sku_buffer(store_id: PathId, sku: str, user: Admin, db: Database = Depends(get_db)) -> None:
    """The SKU goes back to the store's default buffer."""
    with db.transaction() as s:
        channel_stock.set_sku_buffer(s, store_id, get_sku(s, sku).id, None, None)


class ChannelStockOut(BaseModel):
    sku: str
    warehouses: list[dict[str, Any]]
    stores: list[dict[str, Any]]


def sku_channel_stock(s: Session, code: str) -> ChannelStockOut:
    """On hand / reserved / available per warehouse, and per store the quantity due and last pushed."""
    row = get_sku(s, code)
    levels = {r.warehouse_code: r for r in list_stock(s, sku=row.code, limit=500).items}
    free = availability_by_warehouse(s, [row.code]).get(row.code, {})
    warehouses = [{"warehouse": w, "on_hand": levels[w].on_hand if w in levels else None,
                   "reserved": levels[w].reserved if w in levels else None, "available": units}
                  for w, units in free.items()]  # fmt: skip
    stores = []
    bound = s.scalars(select(channel_stock.Binding.store_id).where(
        channel_stock.Binding.entity == channel_stock.BindingEntity.sku, channel_stock.Binding.local_id == row.id))
    for store_id in bound:
        q = channel_stock.store_quantities(s, store_id, [row.id])[row.id]
        last = s.scalar(select(channel_stock.ChannelStock).where(channel_stock.ChannelStock.store_id == store_id,
                                                                 channel_stock.ChannelStock.sku_id == row.id))
        store = s.get_one(Store, store_id)
        stores.append({"store_id": store_id, "store": store.name, "quantity": q.quantity, "raw": q.raw,
                       "buffer": q.buffer.to_dict(), "pushed_qty": last.pushed_qty if last else None,
                       "pushed_at": last.pushed_at if last else None,
                       "rakuten_qty": last.checked_qty if last else None,
                       "checked_at": last.checked_at if last else None})  # fmt: skip
    return ChannelStockOut(sku=row.code, warehouses=warehouses, stores=stores)


@router.get("/skus/{sku}/channel-stock", response_model=ChannelStockOut, responses=errors(404))
def channel_stock_of_sku(sku: str, user: Reader, s: Session = Depends(read_scope)) -> ChannelStockOut:
    """A SKU's stock per warehouse and what each store was last told."""
    return sku_channel_stock(s, sku)
