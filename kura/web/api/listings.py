"""Listings of products on Rakuten stores: list (items.upsert), activate/deactivate (hideItem), delete (items.delete).

Listing answers 201 when RMS created the item and 200 when it replaced an existing one. A product Kura or RMS
refuses is a 422 `invalid` whose `details.problems` name each field (`field`, RMS's `property_path`, `code`)
and its `fix`; nothing changes then. An RMS outage or throttling is a 502 `rakuten_unavailable`: try again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy import select
from sqlalchemy.orm import Session

from kura.catalog.service import get_product
from kura.channels.rakuten import listing
from kura.channels.rakuten.errors import RmsError
from kura.db import Database
from kura.errors import KuraError
from kura.stores.models import Binding, BindingEntity, Store
from kura.web.api.common import Admin, Id, PathId, Reader, Writer, errors
from kura.web.deps import get_db, read_scope

router = APIRouter(tags=["listings"], responses=errors(401, 404, 422))


class RakutenUnavailable(KuraError):
    """RMS did not take the request (outage, throttling, rejected keys); nothing changed in Kura."""

    code = "rakuten_unavailable"
    status = 502


class ListingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    store_id: Id
    manage_number: str | None = Field(None, max_length=32, description="Default: the product code, lower-cased.")


class ListingChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hidden: StrictBool = Field(description="true = deactivate (in the warehouse, not on sale); false = activate.")


class ProblemOut(BaseModel):
    field: str
    message: str
    fix: str
    code: str | None = None
    property_path: str | None = None


class ListingResultOut(BaseModel):
    product_id: int
    code: str
    manage_number: str | None
    listed: bool
    created: bool
    problems: list[ProblemOut]
    warnings: list[str]
    stock: dict[str, int]


class ListingOut(BaseModel):
    store_id: int
    store_name: str
    manage_number: str
    hidden: bool
    synced_at: dt.datetime | None


def _rms(call: Any) -> Any:
    try:
        return call()
    except RmsError as exc:
        raise RakutenUnavailable(f"Rakuten did not take the request: {exc}") from None


@router.post("/products/{product_id}/listings", status_code=201, response_model=ListingResultOut,
             responses=errors(502))  # fmt: skip
def list_on_store(product_id: PathId, body: ListingIn, response: Response, user: Writer,
                  db: Database = Depends(get_db)) -> dict[str, Any]:  # fmt: skip
    """Lists (or re-lists) the product on a Rakuten store, with its current prices and initial stock."""
    result = _rms(lambda: listing.list_product_or_raise(db, body.store_id, product_id,
                                                        manage_number=body.manage_number))  # fmt: skip
    if not result.created:
        response.status_code = 200
    return result.to_dict()


@router.get("/products/{product_id}/listings", response_model=list[ListingOut])
def product_listings(product_id: PathId, user: Reader, s: Session = Depends(read_scope)) -> list[dict[str, Any]]:
    """Where the product is listed."""
    get_product(s, product_id)
    return listings_of(s, product_id)


def listings_of(s: Session, product_id: int) -> list[dict[str, Any]]:
    rows = s.execute(
        select(Binding, Store.name).join(Store, Store.id == Binding.store_id)
        .where(Binding.entity == BindingEntity.product, Binding.local_id == product_id).order_by(Store.name)
    ).all()  # fmt: skip
    return [{"store_id": b.store_id, "store_name": name, "manage_number": b.external_id,
             "hidden": bool((b.data or {}).get("hidden")), "synced_at": b.synced_at} for b, name in rows]  # fmt: skip


@router.patch("/products/{product_id}/listings/{store_id}", response_model=list[ListingOut], responses=errors(502))
def change_listing(product_id: PathId, store_id: PathId, body: ListingChange, user: Writer,
                   db: Database = Depends(get_db)) -> list[dict[str, Any]]:  # fmt: skip
    """Activates or deactivates the listing (Rakuten's hideItem)."""
    _rms(lambda: listing.set_hidden(db, store_id, product_id, body.hidden))
    with db.reader() as s:
        return listings_of(s, product_id)


@router.delete("/products/{product_id}/listings/{store_id}", status_code=204, responses=errors(502))
def delete_listing(product_id: PathId, store_id: PathId, user: Admin, db: Database = Depends(get_db)) -> Response:
    """Deletes the item from Rakuten (items.delete); the product stays in Kura."""
    _rms(lambda: listing.delete_listing(db, store_id, product_id))
    return Response(status_code=204)
