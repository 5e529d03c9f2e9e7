"""Warehouses: list, create, read, rename and (de)activate. An inactive warehouse is skipped when reserving."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.orm import Session

from kura.db import Database
from kura.inventory import service as inventory
from kura.inventory.models import Warehouse
from kura.web.api.common import Limit, Offset, PageOut, PathId, Reader, Text, Writer, changes, errors
from kura.web.deps import get_db, read_scope

router = APIRouter(tags=["warehouses"], responses=errors(401, 422))

Code = Annotated[Text, Field(min_length=1, max_length=50, description="Short and unique, e.g. TOKYO-1.")]
Name = Annotated[Text, Field(min_length=1, max_length=255)]


class WarehouseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Code
    name: Name


class WarehousePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    active: StrictBool | None = None


class WarehouseOut(BaseModel):
    id: int
    code: str
    name: str
    active: bool
    created_at: dt.datetime

    @classmethod
    def of(cls, w: Warehouse) -> WarehouseOut:
        return cls(id=w.id, code=w.code, name=w.name, active=w.active, created_at=w.created_at)


@router.get("/warehouses", response_model=PageOut[WarehouseOut])
def list_warehouses(
    user: Reader,
    active: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    s: Session = Depends(read_scope),
) -> PageOut[WarehouseOut]:
    """Warehouses, oldest first."""
    rows = inventory.list_warehouses(s, active=active)  # a handful per shop: paged here, not in SQL
    items = [WarehouseOut.of(w) for w in rows[offset : offset + limit]]
    return PageOut(items=items, total=len(rows), limit=limit, offset=offset)


@router.post("/warehouses", status_code=201, response_model=WarehouseOut, responses=errors(403, 409))
def create_warehouse(body: WarehouseIn, user: Writer, db: Database = Depends(get_db)) -> WarehouseOut:
    with db.transaction() as s:
        return WarehouseOut.of(inventory.create_warehouse(s, body.code, body.name))


@router.get("/warehouses/{warehouse_id}", response_model=WarehouseOut, responses=errors(404))
def get_warehouse(warehouse_id: PathId, user: Reader, s: Session = Depends(read_scope)) -> WarehouseOut:
    return WarehouseOut.of(inventory.get_warehouse(s, warehouse_id))


@router.patch("/warehouses/{warehouse_id}", response_model=WarehouseOut, responses=errors(403, 404))
def update_warehouse(
    warehouse_id: PathId, body: WarehousePatch, user: Writer, db: Database = Depends(get_db)
) -> WarehouseOut:
    """Rename a warehouse or (de)activate it; its code never changes."""
    with db.transaction() as s:
        return WarehouseOut.of(inventory.update_warehouse(s, warehouse_id, changes(body)))
