"""Rakuten stock pages: on the store page Sync Stock, pending pushes, the last push, the drift report, the
warehouses feeding the store (with priority) and its buffers (the store's default and per-SKU overrides); on a
product's page what each store was last told about each SKU."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from kura import i18n
from kura.auth.models import User
from kura.catalog.models import Sku
from kura.catalog.service import get_product, get_sku
from kura.channels.rakuten import stock
from kura.db import Database
from kura.errors import Invalid, KuraError
from kura.inventory import channel_stock
from kura.inventory.service import list_warehouses
from kura.stores.models import Channel
from kura.stores.service import get_store
from kura.stores.warehouses import StoreWarehouse, set_store_warehouses
from kura.web.api.stocksync import sku_channel_stock
from kura.web.api.stores import launch
from kura.web.deps import get_db, page_user
from kura.web.pages import integrations
from kura.web.pages.forms import page_writer, whole_number
from kura.web.pages.ordersync import page_admin
from kura.web.templating import render

router = APIRouter(include_in_schema=False)
OVERRIDES_SHOWN = 200
SKUS_SHOWN = 100  # a product page lists what stores were told for this many SKUs at most


# ---------------------------------------------------------------- the store page


def store_context(s: Session, store_id: int) -> dict[str, Any]:
    """What the store page's stock block shows: the push status, drift, warehouses and buffers."""
    store = get_store(s, store_id)
    if store.channel != Channel.rakuten:
        return {"stock_sync": None}
    mapped = dict(s.execute(select(StoreWarehouse.warehouse_id, StoreWarehouse.priority)
                            .where(StoreWarehouse.store_id == store_id)).tuples().all())  # fmt: skip
    warehouses = [{"id": w.id, "code": w.code, "name": w.name, "active": w.active, "mapped": w.id in mapped,
                   "priority": mapped.get(w.id)} for w in list_warehouses(s)]  # fmt: skip
    warehouses.sort(key=lambda w: (not w["mapped"], w["priority"] if w["priority"] is not None else 0, w["code"]))
    buffers = channel_stock.sku_buffers(s, store_id)
    codes = dict(s.execute(select(Sku.id, Sku.code).where(Sku.id.in_(list(buffers)[:OVERRIDES_SHOWN]))).tuples().all())
    overrides = sorted(((codes[i], b) for i, b in buffers.items() if i in codes), key=lambda row: row[0])
    return {"stock_sync": stock.status(s, store_id), "stock_warehouses": warehouses,
            "stock_buffer": channel_stock.store_buffer(store), "buffer_overrides": overrides,
            "buffer_overrides_total": len(buffers), "sales_guard": stock.sales_guard(store)}  # fmt: skip


integrations.store_blocks.append(store_context)


def _error(request: Request, user: User, db: Database, store_id: int, exc: KuraError) -> Response:
    return integrations.store_page_response(request, user, db, store_id, error=exc.message, status_code=exc.status)


@router.post("/integrations/stores/{store_id}/sync/stock")
def sync_stock(store_id: int, request: Request, what: str = Form("push"), user: User = Depends(page_writer),
               db: Database = Depends(get_db)) -> Response:  # fmt: skip
    """Sync Stock (push every listed SKU), or a reconciliation (read Rakuten's stock, report drift, correct)."""
    kind = stock.RECONCILE_JOB if what == "reconcile" else stock.SYNC_JOB
    try:
        run_id = stock.request_sync(db, store_id, kind)
    except KuraError as exc:
        return _error(request, user, db, store_id, exc)
    launch(request, kind, store_id, run_id)
    return RedirectResponse(f"/integrations/stores/{store_id}?run={run_id}", 303)


@router.post("/integrations/stores/{store_id}/warehouses")
async def warehouses(store_id: int, request: Request, user: User = Depends(page_admin),
                     db: Database = Depends(get_db)) -> Response:  # fmt: skip
    """Which warehouses feed the store: the ticked ones, by their priority (lower first)."""
    form = await request.form()
    try:
        chosen: list[tuple[int, int, int]] = []
        for key in form:
            if not key.startswith("feeds_"):
                continue
            warehouse_id = whole_number(key.removeprefix("feeds_"), "warehouse")
            assert warehouse_id is not None
            label = i18n.gettext("Priority")
            priority = whole_number(form.get(f"priority_{warehouse_id}"), label, required=False, minimum=0)
            chosen.append((priority if priority is not None else 0, len(chosen), warehouse_id))
        ids = [warehouse_id for _, _, warehouse_id in sorted(chosen)]
        with db.transaction() as s:
            stock._rakuten_store(s, store_id)
            set_store_warehouses(s, store_id, ids)
    except KuraError as exc:
        return _error(request, user, db, store_id, exc)
    return integrations.store_page_response(request, user, db, store_id, notice="Warehouses saved.")


def _buffer_value(mode: str, value: str) -> tuple[str, int]:
    if mode not in ("units", "percent"):
        raise Invalid("mode", i18n.gettext("Choose units or percent for the buffer."))
    number = whole_number(value, i18n.gettext("Buffer"), minimum=0)
    assert number is not None
    if mode == "percent" and number > 100:
        raise Invalid("value", i18n.gettext("A percent buffer is 0–100; got %(n)s.") % {"n": number})
    return mode, number


@router.post("/integrations/stores/{store_id}/buffer")
def store_buffer(store_id: int, request: Request, mode: str = Form(""), value: str = Form(""),
                 user: User = Depends(page_admin), db: Database = Depends(get_db)) -> Response:  # fmt: skip
    """The store's default buffer (units held back, or a percent of what is free); every SKU is pushed again."""
    try:
        checked = _buffer_value(mode, value)
        with db.transaction() as s:
            stock._rakuten_store(s, store_id)
            channel_stock.set_store_buffer(s, store_id, *checked)
    except KuraError as exc:
        return _error(request, user, db, store_id, exc)
    return integrations.store_page_response(request, user, db, store_id, notice="Buffer saved.")


@router.post("/integrations/stores/{store_id}/sales-guard")
def sales_guard(store_id: int, request: Request, on: str = Form(""), user: User = Depends(page_admin),
                db: Database = Depends(get_db)) -> Response:  # fmt: skip
    """The store's sales guard on (the box ticked) or off."""
    try:
        with db.transaction() as s:
            stock.set_sales_guard(s, store_id, bool(on))
    except KuraError as exc:
        return _error(request, user, db, store_id, exc)
    return integrations.store_page_response(request, user, db, store_id, notice="Sales guard saved.")


@router.post("/integrations/stores/{store_id}/buffer/sku")
def sku_buffer(store_id: int, request: Request, sku: str = Form(""), mode: str = Form(""), value: str = Form(""),
               clear: str = Form(""), user: User = Depends(page_admin),
               db: Database = Depends(get_db)) -> Response:  # fmt: skip
    """One SKU's buffer on the store (overrides the default), or back to the default with `clear`."""
    try:
        if not sku.strip():
            raise Invalid("sku", i18n.gettext("Give the SKU whose buffer differs from the store's."))
        with db.transaction() as s:
            stock._rakuten_store(s, store_id)
            sku_id = get_sku(s, sku.strip()).id
            if clear:
                channel_stock.set_sku_buffer(s, store_id, sku_id, None, None)
            else:
                channel_stock.set_sku_buffer(s, store_id, sku_id, *_buffer_value(mode, value))
    except KuraError as exc:
        return _error(request, user, db, store_id, exc)
    return integrations.store_page_response(request, user, db, store_id, notice="Buffer saved.")


# ---------------------------------------------------------------- a product's page


@router.get("/products/{product_id:int}/channel-stock")
def product_channel_stock(product_id: int, request: Request, user: User = Depends(page_user),
                          db: Database = Depends(get_db)) -> Response:  # fmt: skip
    """What each store was last told about each SKU of a product (loaded by the product page)."""
    with db.reader() as s:
        product = get_product(s, product_id)
        rows = [(sku.code, sku_channel_stock(s, sku.code).stores) for sku in product.skus[:SKUS_SHOWN]]
    return render(request, "products/_channel_stock.html", rows=[r for r in rows if r[1]])
