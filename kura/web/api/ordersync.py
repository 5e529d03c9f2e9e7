"""Order sync of a Rakuten store: Sync Orders (202 + run id; progress at /api/v1/runs/{id}), the order-sync
settings, and cancelling an order on Rakuten."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from kura.channels.rakuten import orders as ordersync
from kura.db import Database
from kura.web.api.common import Admin, PathId, Writer, errors
from kura.web.api.stores import Accepted, launch
from kura.web.deps import get_db

router = APIRouter(tags=["order sync"], responses=errors(401, 422))


class SyncOrdersIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: AwareDatetime | None = Field(None, alias="from", description="Default: the store's history days ago.")
    to: AwareDatetime | None = Field(None, description="Default: now.")
    order_numbers: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=1000, description="Only these orders (retry of one record)."
    )


@router.post("/stores/{store_id}/sync/orders", status_code=202, response_model=Accepted, responses=errors(403, 404))
def sync_orders(
    store_id: PathId, request: Request, user: Writer, body: SyncOrdersIn | None = None, db: Database = Depends(get_db)
) -> Accepted:
    """Sync Orders: import every order placed in [from, to] (any status), new or changed; runs in the
    background."""
    body = body or SyncOrdersIn.model_validate({})
    run_id = ordersync.request_sync(db, store_id, body.from_, body.to, order_numbers=body.order_numbers)
    launch(request, ordersync.KIND_SYNC, store_id, run_id)
    return Accepted(run_id=run_id, kind=ordersync.KIND_SYNC, status_url=f"/api/v1/runs/{run_id}")


class OrderSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    history_days: int | None = Field(None, ge=1, le=730)
    new_orders_interval_s: int | None = Field(None, ge=30)
    status_interval_s: int | None = Field(None, ge=30)
    overlap_s: int | None = Field(None, ge=0)
    sweep_days: int | None = Field(None, ge=1, le=63)
    get_order_version: int | None = Field(None, ge=7)
    history_statuses: list[int] | None = None
    auto_confirm: bool | None = None
    packed_sub_status: str | None = None


@router.put("/stores/{store_id}/order-settings", response_model=dict[str, Any], responses=errors(403, 404))
def order_settings(
    store_id: PathId, body: OrderSettingsIn, user: Admin, db: Database = Depends(get_db)
) -> dict[str, Any]:
    """Change the order sync of a store (fields given are changed; packed_sub_status null = push nothing)."""
    changes = body.model_dump(exclude_unset=True)
    with db.transaction() as s:
        settings = ordersync.update_order_settings(s, store_id, changes)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.__dict__.items()}


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: int = Field(
        description="Rakuten's changeReasonDetailApply: 1 customer cancel, 8 out of stock, 10 other, ..."
    )


@router.post("/orders/{order_id}/cancel-on-rakuten", responses=errors(403, 404))
def cancel_on_rakuten(order_id: PathId, body: CancelIn, user: Writer, db: Database = Depends(get_db)) -> dict[str, Any]:
    """Cancel the order on Rakuten (allowed at 100/200/300); the order becomes Cancel_in_progress."""
    order = ordersync.cancel_on_rakuten(db, order_id, body.reason, actor=user.username)
    return {"id": order.id, "status": order.status.value, "channel_status": order.channel_status}
