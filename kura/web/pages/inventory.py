"""Inventory pages: stock per SKU per warehouse with the adjustment, transfer and stock sheet forms, the ledger,
warehouses."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from kura import i18n
from kura.auth.models import User
from kura.db import Database
from kura.errors import Invalid, KuraError
from kura.inventory.models import StockReason
from kura.inventory.service import (
    LineResult,
    adjust,
    apply_lines,
    create_warehouse,
    ledger,
    list_stock,
    list_warehouses,
    receive,
    transfer,
)
from kura.inventory.sheets import MAX_SHEET_BYTES, TEMPLATE_CSV, read_stock_sheet
from kura.web.deps import get_db, page_user
from kura.web.pages.forms import Window, is_partial, page_writer, whole_number
from kura.web.templating import render

router = APIRouter(include_in_schema=False)


def _warehouse_id(value: Any, field: str) -> int:
    number = whole_number(value, field, required=False, minimum=1)
    if number is None:
        raise Invalid(field, i18n.gettext("Choose a warehouse."))
    return number


def _stock_page(
    request: Request,
    user: User,
    db: Database,
    *,
    q: str = "",
    warehouse: str = "",
    page: int = 1,
    sku: str = "",
    error: KuraError | None = None,
    form: Any = None,
    done: str | None = None,
    status_code: int = 200,
) -> Response:
    window = Window.of(page)
    filters = {"q": q, "warehouse": warehouse}
    with db.reader() as s:
        warehouses = list_warehouses(s)
        wh = int(warehouse) if warehouse.isdigit() else None
        found = list_stock(s, q=q or None, warehouse_id=wh, limit=window.per_page, offset=window.offset)
    context: dict[str, Any] = {
        "user": user,
        "active": "inventory",
        "rows": found.items,
        "window": window.with_total(found.total),
        "filters": filters,
        "warehouses": warehouses,
        "error": error,
        "form": form or {"sku": sku},
        "done": done,
        "applied": _count(request.query_params.get("applied")),
        "changed": _count(request.query_params.get("changed")),
        "reasons": ["adjustment", "receipt"],
        "max_sheet_mb": MAX_SHEET_BYTES >> 20,
    }
    if is_partial(request, "results"):
        return render(request, "inventory/_stock_rows.html", **context)
    return render(request, "inventory/stock.html", status_code=status_code, **context)


@router.get("/inventory")
def stock_page(
    request: Request,
    q: str = "",
    warehouse: str = "",
    sku: str = "",
    page: int = 1,
    done: str | None = None,
    user: User = Depends(page_user),
    db: Database = Depends(get_db),
) -> Response:
    return _stock_page(request, user, db, q=q, warehouse=warehouse, page=page, sku=sku, done=done)


@router.post("/inventory/adjust")
async def adjust_stock(request: Request, user: User = Depends(page_writer), db: Database = Depends(get_db)) -> Response:
    form = await request.form()
    try:
        warehouse_id = _warehouse_id(form.get("warehouse_id"), "warehouse_id")
        change = whole_number(form.get("change"), "change") or 0
        note = str(form.get("note", "")).strip() or None
        sku = str(form.get("sku", ""))
        with db.transaction() as s:
            if form.get("reason") == StockReason.receipt:
                if change < 1:
                    raise Invalid("change", i18n.gettext("A receipt adds stock: give a quantity of 1 or more."))
                receive(s, warehouse_id, sku, change, note=note, actor=user.username)
            else:
                adjust(s, warehouse_id, sku, change, note=note, actor=user.username)
    except KuraError as exc:
        return _stock_page(request, user, db, error=exc, form=dict(form, which="adjust"), status_code=422)
    return RedirectResponse(f"/inventory?q={quote(sku.strip())}&done=adjusted", status_code=303)


@router.post("/inventory/transfer")
async def transfer_stock(
    request: Request, user: User = Depends(page_writer), db: Database = Depends(get_db)
) -> Response:
    form = await request.form()
    try:
        source = _warehouse_id(form.get("from_warehouse_id"), "from_warehouse_id")
        target = _warehouse_id(form.get("to_warehouse_id"), "to_warehouse_id")
        quantity = whole_number(form.get("quantity"), "quantity", minimum=1) or 0
        sku = str(form.get("sku", ""))
        with db.transaction() as s:
            transfer(
                s, sku, source, target, quantity, note=str(form.get("note", "")).strip() or None, actor=user.username
            )
    except KuraError as exc:
        return _stock_page(request, user, db, error=exc, form=dict(form, which="transfer"), status_code=422)
    return RedirectResponse(f"/inventory?q={quote(sku.strip())}&done=transferred", status_code=303)


def _count(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _apply_sheet(db: Database, warehouse_id: int, data: bytes, name: str, reference: str | None,
                 actor: str) -> list[LineResult]:  # fmt: skip
    lines = read_stock_sheet(data, name)
    with db.transaction() as s:
        return apply_lines(s, warehouse_id, lines, reference=reference, actor=actor)


@router.post("/inventory/sheet")
async def apply_sheet(request: Request, user: User = Depends(page_writer), db: Database = Depends(get_db)) -> Response:
    """A goods receipt or stock count sheet (CSV or .xlsx) applied to one warehouse, all or nothing."""
    form = await request.form()
    file = form.get("file")
    kept = {"which": "sheet", "warehouse_id": str(form.get("warehouse_id", "")),
            "reference": str(form.get("reference", ""))}  # fmt: skip
    try:
        warehouse_id = _warehouse_id(form.get("warehouse_id"), "warehouse_id")
        if not isinstance(file, UploadFile) or not file.filename:
            raise Invalid("file", i18n.gettext("Choose a stock sheet to upload (CSV or Excel .xlsx)."))
        data = await file.read(MAX_SHEET_BYTES + 1)  # more is refused anyway
        reference = kept["reference"].strip()[:200] or None
        results = await run_in_threadpool(_apply_sheet, db, warehouse_id, data, file.filename, reference,
                                          user.username)  # fmt: skip
    except KuraError as exc:
        return _stock_page(request, user, db, error=exc, form=kept, status_code=422)
    changed = sum(1 for r in results if r.change)
    return RedirectResponse(
        f"/inventory?warehouse={warehouse_id}&done=sheet&applied={len(results)}&changed={changed}", status_code=303
    )


@router.get("/inventory/stock-sheet-template.csv")
def stock_sheet_template(user: User = Depends(page_user)) -> Response:
    """An example stock sheet: the header and two lines, UTF-8 with a BOM (Excel reads it as such)."""
    return Response(
        TEMPLATE_CSV,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="stock-sheet.csv"'},
    )


@router.get("/inventory/ledger")
def ledger_page(
    request: Request,
    sku: str = "",
    warehouse: str = "",
    reason: str = "",
    page: int = 1,
    user: User = Depends(page_user),
    db: Database = Depends(get_db),
) -> Response:
    window = Window.of(page)
    filters = {"sku": sku, "warehouse": warehouse, "reason": reason}
    error = None
    with db.reader() as s:
        warehouses = list_warehouses(s)
        try:
            found = ledger(
                s,
                sku=sku.strip() or None,
                warehouse_id=int(warehouse) if warehouse.isdigit() else None,
                reason=reason or None,
                limit=window.per_page,
                offset=window.offset,
            )
            items, total = list(found.items), found.total
        except KuraError as exc:
            items, total, error = [], 0, exc.message
        s.expunge_all()
    context: dict[str, Any] = {
        "user": user,
        "active": "inventory",
        "entries": items,
        "window": window.with_total(total),
        "filters": filters,
        "warehouses": warehouses,
        "reasons": [r.value for r in StockReason],
        "error": error,
    }
    if is_partial(request, "results"):
        return render(request, "inventory/_ledger_rows.html", **context)
    return render(request, "inventory/ledger.html", **context)


def _warehouses_page(
    request: Request,
    user: User,
    db: Database,
    *,
    error: KuraError | None = None,
    form: Any = None,
    status_code: int = 200,
) -> Response:
    with db.reader() as s:
        warehouses = list_warehouses(s)
    return render(
        request,
        "inventory/warehouses.html",
        status_code=status_code,
        user=user,
        active="inventory",
        warehouses=warehouses,
        error=error,
        form=form or {},
        created=request.query_params.get("created"),
    )


@router.get("/inventory/warehouses")
def warehouses_page(request: Request, user: User = Depends(page_user), db: Database = Depends(get_db)) -> Response:
    return _warehouses_page(request, user, db)


@router.post("/inventory/warehouses")
async def new_warehouse(
    request: Request, user: User = Depends(page_writer), db: Database = Depends(get_db)
) -> Response:
    form = await request.form()
    try:
        with db.transaction() as s:
            warehouse = create_warehouse(s, str(form.get("code", "")), str(form.get("name", "")))
            code = warehouse.code
    except KuraError as exc:
        return _warehouses_page(request, user, db, error=exc, form=form, status_code=422)
    return RedirectResponse(f"/inventory/warehouses?created={code}", status_code=303)
