"""Stock: levels per SKU and warehouse, receipts, adjustments, transfers, the ledger, and availability.

Every change writes a ledger entry; stock never goes below zero (409 `insufficient_stock`, saying what
the warehouse has). A kit holds no stock of its own: receive or adjust its components."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, field_validator
from sqlalchemy.orm import Session

from kura.catalog.models import SKU_MAX
from kura.catalog.service import get_sku
from kura.db import Database
from kura.inventory import service as inventory
from kura.inventory.models import StockMovement, StockReason
from kura.web.api.common import (
    MAX_ID,
    MAX_QUANTITY,
    Id,
    Limit,
    Offset,
    PageOut,
    Quantity,
    QueryId,
    QueryText,
    Reader,
    Text,
    Writer,
    errors,
    no_nul,
)
from kura.web.deps import get_db, read_scope

router = APIRouter(prefix="/stock", tags=["stock"], responses=errors(401, 422))

SkuCode = Annotated[Text, Field(min_length=1, max_length=SKU_MAX)]
Reference = Annotated[Text, Field(max_length=200, description="e.g. a purchase order number.")] | None
Note = Annotated[Text, Field(max_length=500)] | None
SkuQuery = Annotated[str | None, Query(min_length=1, max_length=SKU_MAX), AfterValidator(no_nul)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReceiptIn(_In):
    sku: SkuCode
    warehouse_id: Id
    quantity: Quantity
    reference: Reference = None
    note: Note = None


class AdjustmentIn(_In):
    sku: SkuCode
    warehouse_id: Id
    delta: StrictInt = Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY, description="Units to add (+) or take off (−).")
    reference: Reference = None
    note: Note = Field(None, description="Why, e.g. 'damaged', 'stock count'.")

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be 0; give the units to add (+) or take off (−)")
        return value


class TransferIn(_In):
    sku: SkuCode
    from_warehouse_id: Id
    to_warehouse_id: Id
    quantity: Quantity
    reference: Reference = None
    note: Note = None


class BatchLineIn(_In):
    sku: SkuCode
    kind: inventory.LineKind = Field(description="receipt: add `quantity` (≥ 1); adjustment: change on hand by "
                                                 "`quantity` (±, not 0); count: on hand becomes `quantity` (≥ 0).")
    quantity: StrictInt = Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY)
    reference: Reference = None
    note: Note = None


class BatchIn(_In):
    warehouse_id: Id
    lines: list[BatchLineIn] = Field(min_length=1, max_length=inventory.MAX_BATCH_LINES)
    reference: Reference = Field(None, description="For every line without its own, e.g. a receipt number.")
    note: Note = None


class BatchLineOut(BaseModel):
    sku: str
    on_hand: int
    reserved: int
    available: int
    change: int


class BatchOut(BaseModel):
    warehouse_id: int
    lines: int
    movements: int
    results: list[BatchLineOut]


class StockRowOut(BaseModel):
    sku: str
    product_name: str
    warehouse_id: int
    warehouse_code: str
    on_hand: int
    reserved: int
    available: int


class MovementOut(BaseModel):
    id: int
    sku: str
    warehouse_id: int
    warehouse_code: str
    reason: StockReason
    on_hand_change: int
    reserved_change: int
    on_hand_after: int
    reserved_after: int
    reference: str | None
    note: str | None
    actor: str | None
    created_at: dt.datetime

    @classmethod
    def of(cls, m: StockMovement) -> MovementOut:
        return cls(
            id=m.id,
            sku=m.sku.code,
            warehouse_id=m.warehouse_id,
            warehouse_code=m.warehouse.code,
            reason=m.reason,
            on_hand_change=m.on_hand_change,
            reserved_change=m.reserved_change,
            on_hand_after=m.on_hand_after,
            reserved_after=m.reserved_after,
            reference=m.reference,
            note=m.note,
            actor=m.actor,
            created_at=m.created_at,
        )


class TransferOut(BaseModel):
    out: MovementOut
    into: MovementOut


class WarehouseAvailability(BaseModel):
    warehouse_id: int
    warehouse_code: str
    available: int


class AvailabilityOut(BaseModel):
    sku: str
    available: int = Field(description="Sum over the warehouses asked for (a kit: assembled per warehouse).")
    warehouses: list[WarehouseAvailability]


# ---------------------------------------------------------------- reads


@router.get("", response_model=PageOut[StockRowOut], responses=errors(404))
def stock_levels(
    user: Reader,
    q: Annotated[QueryText, Query(description="Part of the SKU or the product name.")] = None,
    sku: SkuQuery = None,
    warehouse_id: QueryId = None,
    limit: Limit = 50,
    offset: Offset = 0,
    s: Session = Depends(read_scope),
) -> PageOut[StockRowOut]:
    """On hand, reserved and available per SKU and warehouse, by SKU then warehouse."""
    if sku is not None:
        get_sku(s, sku)
    if warehouse_id is not None:
        inventory.get_warehouse(s, warehouse_id)
    page = inventory.list_stock(s, q=q, warehouse_id=warehouse_id, sku=sku, limit=limit, offset=offset)
    items = [
        StockRowOut(sku=r.sku, product_name=r.product_name, warehouse_id=r.warehouse_id,
                    warehouse_code=r.warehouse_code, on_hand=r.on_hand, reserved=r.reserved, available=r.available)
        for r in page.items
    ]  # fmt: skip
    return PageOut(items=items, total=page.total, limit=limit, offset=offset)


@router.get("/ledger", response_model=PageOut[MovementOut], responses=errors(404))
def stock_ledger(
    user: Reader,
    sku: SkuQuery = None,
    warehouse_id: QueryId = None,
    reference: QueryText = None,
    reason: StockReason | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    s: Session = Depends(read_scope),
) -> PageOut[MovementOut]:
    """Ledger entries, newest first."""
    if warehouse_id is not None:
        inventory.get_warehouse(s, warehouse_id)
    page = inventory.ledger(
        s, sku=sku, warehouse_id=warehouse_id, reference=reference, reason=reason, limit=limit, offset=offset
    )
    return PageOut(items=[MovementOut.of(m) for m in page.items], total=page.total, limit=limit, offset=offset)


@router.get("/availability", response_model=AvailabilityOut, responses=errors(404))
def stock_availability(
    user: Reader,
    sku: Annotated[str, Query(min_length=1, max_length=SKU_MAX), AfterValidator(no_nul)],
    warehouse_id: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None,
        Query(description="Repeat for several warehouses; none: all of them."),
    ] = None,
    s: Session = Depends(read_scope),
) -> AvailabilityOut:
    """Units of a SKU available (on hand − reserved) in a set of warehouses."""
    row = get_sku(s, sku)
    ids = list(dict.fromkeys(warehouse_id)) if warehouse_id else None
    warehouses = [inventory.get_warehouse(s, i) for i in ids] if ids else inventory.list_warehouses(s)
    per = inventory.availability_by_warehouse(s, [row.code], [w.id for w in warehouses]).get(row.code, {})
    rows = [WarehouseAvailability(warehouse_id=w.id, warehouse_code=w.code, available=per.get(w.code, 0))
            for w in warehouses]  # fmt: skip
    return AvailabilityOut(sku=row.code, available=sum(r.available for r in rows), warehouses=rows)


# ---------------------------------------------------------------- changes


@router.post("/receipts", status_code=201, response_model=MovementOut, responses=errors(403, 404))
def receive(body: ReceiptIn, user: Writer, db: Database = Depends(get_db)) -> MovementOut:
    """Goods in: adds units on hand."""
    with db.transaction() as s:
        m = inventory.receive(s, body.warehouse_id, body.sku, body.quantity,
                              reference=body.reference, note=body.note, actor=user.username)  # fmt: skip
        return MovementOut.of(m)


@router.post("/adjustments", status_code=201, response_model=MovementOut, responses=errors(403, 404, 409))
def adjust(body: AdjustmentIn, user: Writer, db: Database = Depends(get_db)) -> MovementOut:
    """Corrects on hand by `delta`; refused (409) if on hand would drop below zero or below what is reserved."""
    with db.transaction() as s:
        m = inventory.adjust(s, body.warehouse_id, body.sku, body.delta,
                             reference=body.reference, note=body.note, actor=user.username)  # fmt: skip
        return MovementOut.of(m)


@router.post("/batches", status_code=201, response_model=BatchOut, responses=errors(403, 404, 409))
def apply_batch(body: BatchIn, user: Writer, db: Database = Depends(get_db)) -> BatchOut:
    """A goods receipt, a stock count or an uploaded sheet: many lines of one warehouse in one transaction, in
    order, all or nothing (422 names every bad line; 409 names the line that would go below zero or below what
    is reserved). One ledger entry per line that changes stock; the shops get the new quantities in one push."""
    lines = [inventory.StockLine(line.sku, line.kind, line.quantity, line.reference, line.note) for line in body.lines]
    with db.transaction() as s:
        results = inventory.apply_lines(s, body.warehouse_id, lines, reference=body.reference, note=body.note,
                                        actor=user.username)  # fmt: skip
    return BatchOut(
        warehouse_id=body.warehouse_id, lines=len(results), movements=sum(1 for r in results if r.change),
        results=[BatchLineOut(sku=r.sku, on_hand=r.on_hand, reserved=r.reserved, available=r.on_hand - r.reserved,
                              change=r.change) for r in results],
    )  # fmt: skip


@router.post("/transfers", status_code=201, response_model=TransferOut, responses=errors(403, 404, 409))
def transfer(body: TransferIn, user: Writer, db: Database = Depends(get_db)) -> TransferOut:
    """Moves available units from one warehouse to another (two ledger entries)."""
    with db.transaction() as s:
        out, into = inventory.transfer(s, body.sku, body.from_warehouse_id, body.to_warehouse_id, body.quantity,
                                       reference=body.reference, note=body.note, actor=user.username)  # fmt: skip
        return TransferOut(out=MovementOut.of(out), into=MovementOut.of(into))
