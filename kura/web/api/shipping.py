"""Fulfilment API: parcels (create, split, cancel), labels as PDF, pack/ship/cancel an order, bulk actions, the
shipping report's state and retry, tracking, returns, and a store's ship-from address."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from kura.db import Database
from kura.shipping import service as shipping
from kura.shipping.models import Parcel, Return
from kura.web.api.common import Id, Limit, Offset, PageOut, PathId, Quantity, Reader, Text, Writer, errors
from kura.web.deps import get_db, read_scope

router = APIRouter(tags=["shipping"], responses=errors(401, 422))


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParcelOut(BaseModel):
    id: int
    order_id: int
    carrier_code: str
    tracking_number: str
    tracking_url: str | None
    status: str
    tracking_status: str | None
    warehouse_id: int | None
    package_id: int | None
    lines: dict[int, int]
    shipped_on: dt.date | None
    delivered_at: dt.datetime | None
    shipping_detail_id: int | None
    report_status: str
    report_attempts: int
    report_error: str | None
    label_url: str

    @classmethod
    def of(cls, p: Parcel) -> ParcelOut:
        return cls(id=p.id, order_id=p.order_id, carrier_code=p.carrier_code, tracking_number=p.tracking_number,
                   tracking_url=p.tracking_url, status=p.status.value, tracking_status=p.tracking_status,
                   warehouse_id=p.warehouse_id, package_id=p.package_id,
                   lines={pl.order_line_id: pl.quantity for pl in p.lines}, shipped_on=p.shipped_on,
                   delivered_at=p.delivered_at, shipping_detail_id=p.shipping_detail_id,
                   report_status=p.report_status.value, report_attempts=p.report_attempts,
                   report_error=p.report_error, label_url=f"/api/v1/parcels/{p.id}/label")  # fmt: skip


class PlanIn(_In):
    lines: dict[int, Quantity] = Field(description="Order line id → units in this parcel.")
    warehouse_id: Id | None = None
    tracking_number: Annotated[Text, Field(max_length=120)] | None = None
    package_id: Id | None = None


CarrierText = Annotated[Text, Field(min_length=1, max_length=20, description="yamato, sagawa, japanpost, other or "
                                                                            "a Rakuten code 1000–1031")]  # fmt: skip


class ParcelsIn(_In):
    carrier: CarrierText = "yamato"
    parcels: list[PlanIn] | None = Field(None, description="Omit for one parcel with everything; several split.")
    tracking_number: Annotated[Text, Field(max_length=120)] | None = None


class ShipIn(_In):
    carrier: CarrierText = "yamato"
    tracking_number: Annotated[Text, Field(max_length=120)] | None = None
    shipped_on: dt.date | None = None


class ShippedIn(_In):
    shipped_on: dt.date | None = None


class CancelIn(_In):
    reason: int = Field(10, description="Rakuten changeReasonDetailApply code (10 = shop: other).")


class BulkIn(_In):
    action: Literal["allocate", "pack", "parcels", "ship"]
    order_ids: list[Id] = Field(min_length=1, max_length=1000)
    carrier: CarrierText = "yamato"


class BulkOut(BaseModel):
    done: list[int]
    failed: dict[str, str]


class LabelsIn(_In):
    order_ids: list[Id] = Field(min_length=1, max_length=1000)
    carrier: CarrierText = "yamato"


class ReturnIn(_In):
    lines: dict[str, Quantity] = Field(description="SKU (or line number) → units coming back.")
    reason: Annotated[Text, Field(min_length=1, max_length=500)]
    warehouse_id: Id | None = None
    note: Text | None = None


class ReturnStepIn(_In):
    warehouse_id: Id | None = None
    note: Text | None = None


class ReturnOut(BaseModel):
    id: int
    order_id: int
    status: str
    reason: str
    warehouse_id: int | None
    lines: dict[int, int]
    created_at: dt.datetime
    decided_at: dt.datetime | None
    putaway_at: dt.datetime | None
    completed_at: dt.datetime | None

    @classmethod
    def of(cls, r: Return) -> ReturnOut:
        return cls(id=r.id, order_id=r.order_id, status=r.status.value, reason=r.reason, warehouse_id=r.warehouse_id,
                   lines={x.order_line_id: x.quantity for x in r.lines}, created_at=r.created_at,
                   decided_at=r.decided_at, putaway_at=r.putaway_at, completed_at=r.completed_at)  # fmt: skip


class ShipFromIn(_In):
    name: Annotated[Text, Field(min_length=1, max_length=100)]
    company: Annotated[Text, Field(max_length=100)] | None = None
    postal_code: Annotated[Text, Field(max_length=10)]
    prefecture: Annotated[Text, Field(max_length=10)]
    address_line1: Annotated[Text, Field(min_length=1, max_length=255)]
    address_line2: Annotated[Text, Field(max_length=255)] | None = None
    phone: Annotated[Text, Field(max_length=20)]


class OrderStatusOut(BaseModel):
    id: int
    order_number: str
    status: str
    parcels: list[ParcelOut]


def _pdf(content: bytes, name: str) -> Response:
    return Response(
        content, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'}
    )


def _state(db: Database, order_id: int) -> OrderStatusOut:
    from kura.orders.service import get_order

    with db.reader() as s:
        order = get_order(s, order_id)
        return OrderStatusOut(id=order.id, order_number=order.order_number, status=order.status.value,
                              parcels=[ParcelOut.of(p) for p in shipping.parcels_of(s, order_id)])  # fmt: skip


@router.get("/orders/{order_id}/parcels", response_model=list[ParcelOut], responses=errors(404))
def list_parcels(order_id: PathId, user: Reader, s: Session = Depends(read_scope)) -> list[ParcelOut]:
    from kura.orders.service import get_order

    get_order(s, order_id)
    return [ParcelOut.of(p) for p in shipping.parcels_of(s, order_id)]


@router.post("/orders/{order_id}/parcels", status_code=201, response_model=OrderStatusOut,
             responses=errors(403, 404, 409, 502, 503))  # fmt: skip
def create_parcels(order_id: PathId, body: ParcelsIn, user: Writer, db: Database = Depends(get_db)) -> OrderStatusOut:
    """Creates one parcel with everything not yet parcelled, or splits the order into the given parcels."""
    plans = [shipping.ParcelPlan(p.lines, p.warehouse_id, p.tracking_number, p.package_id) for p in body.parcels or []]
    shipping.create_parcels(db, order_id, body.carrier, plans or None, actor=user.username,
                            tracking_number=body.tracking_number)  # fmt: skip
    return _state(db, order_id)


@router.post("/orders/{order_id}/split", status_code=201, response_model=OrderStatusOut,
             responses=errors(403, 404, 409, 502, 503))  # fmt: skip
def split(order_id: PathId, body: ParcelsIn, user: Writer, db: Database = Depends(get_db)) -> OrderStatusOut:
    plans = [shipping.ParcelPlan(p.lines, p.warehouse_id, p.tracking_number, p.package_id) for p in body.parcels or []]
    shipping.split(db, order_id, body.carrier, plans, actor=user.username)
    return _state(db, order_id)


@router.post("/parcels/{parcel_id}/cancel", response_model=OrderStatusOut, responses=errors(403, 404, 409, 502, 503))
def cancel_parcel(parcel_id: PathId, user: Writer, db: Database = Depends(get_db)) -> OrderStatusOut:
    shipping.cancel_parcel(db, parcel_id, actor=user.username)
    with db.reader() as s:
        order_id = shipping.get_parcel(s, parcel_id).order_id
    return _state(db, order_id)


@router.get("/parcels/{parcel_id}/label", response_class=Response, responses=errors(404))
def parcel_label(parcel_id: PathId, user: Reader, s: Session = Depends(read_scope)) -> Response:
    """The label as a PDF, shown in the browser (inline)."""
    number = shipping.get_parcel(s, parcel_id).tracking_number
    return _pdf(shipping.label_pdf(s, parcel_id), f"label-{number}.pdf")


@router.post("/labels", response_class=Response, responses=errors(403, 404))
def bulk_labels(body: LabelsIn, user: Writer, db: Database = Depends(get_db)) -> Response:
    """Bulk print: creates missing parcels with `carrier`, returns one PDF; orders that failed are named in the
    X-Kura-Failed header."""
    pdf, result = shipping.print_labels(db, body.order_ids, carrier=body.carrier, actor=user.username)
    response = _pdf(pdf, "labels.pdf")
    if result.failed:
        response.headers["X-Kura-Failed"] = ",".join(str(i) for i in result.failed)
    return response


@router.post("/orders/{order_id}/pack", response_model=OrderStatusOut, responses=errors(403, 404, 409))
def pack(order_id: PathId, user: Writer, db: Database = Depends(get_db)) -> OrderStatusOut:
    with db.transaction() as s:
        shipping.pack(s, order_id, actor=user.username)
    return _state(db, order_id)


@router.post("/orders/{order_id}/ship", response_model=OrderStatusOut, responses=errors(403, 404, 409, 502, 503))
def ship(order_id: PathId, body: ShipIn, user: Writer, db: Database = Depends(get_db)) -> OrderStatusOut:
    """Allocates if needed, creates a parcel for what is not in one, marks the order shipped, queues the report."""
    shipping.ship(db, order_id, body.carrier, tracking_number=body.tracking_number, shipped_on=body.shipped_on,
                  actor=user.username)  # fmt: skip
    return _state(db, order_id)


@router.post("/orders/{order_id}/shipped", response_model=OrderStatusOut, responses=errors(403, 404, 409))
def mark_shipped(order_id: PathId, body: ShippedIn, user: Writer, db: Database = Depends(get_db)) -> OrderStatusOut:
    with db.transaction() as s:
        shipping.mark_shipped(s, order_id, shipped_on=body.shipped_on, actor=user.username)
    return _state(db, order_id)


@router.post("/orders/{order_id}/report-shipping", response_model=OrderStatusOut, responses=errors(403, 404))
def retry_report(order_id: PathId, user: Writer, db: Database = Depends(get_db)) -> OrderStatusOut:
    """Queues the order's shipping report again (after a refusal was fixed)."""
    from kura.channels.rakuten import shipping as rakuten_shipping

    with db.transaction() as s:
        rakuten_shipping.retry_report(s, order_id)
    return _state(db, order_id)


@router.post("/orders/{order_id}/cancel", response_model=OrderStatusOut, responses=errors(403, 404, 409))
def cancel(order_id: PathId, body: CancelIn, user: Writer, db: Database = Depends(get_db)) -> OrderStatusOut:
    shipping.cancel_by_seller(db, order_id, reason=body.reason, actor=user.username)
    return _state(db, order_id)


@router.post("/orders/bulk", response_model=BulkOut, responses=errors(403))
def bulk(body: BulkIn, user: Writer, db: Database = Depends(get_db)) -> BulkOut:
    """allocate | pack | parcels | ship over many orders; one failure never stops the others."""
    result = shipping.bulk(db, body.action, body.order_ids, carrier=body.carrier, actor=user.username)
    return BulkOut(**result.as_dict())


@router.post("/tracking/poll", responses=errors(403))
def poll_tracking(user: Writer, db: Database = Depends(get_db)) -> dict[str, int]:
    return shipping.track(db)


@router.get("/returns", response_model=PageOut[ReturnOut])
def list_returns(user: Reader, status: str | None = None, limit: Limit = 50, offset: Offset = 0,
                 s: Session = Depends(read_scope)) -> PageOut[ReturnOut]:  # fmt: skip
    rows, total = shipping.list_returns(s, status=status, limit=limit, offset=offset)
    return PageOut(items=[ReturnOut.of(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/orders/{order_id}/returns", response_model=list[ReturnOut], responses=errors(404))
def order_returns(order_id: PathId, user: Reader, s: Session = Depends(read_scope)) -> list[ReturnOut]:
    return [ReturnOut.of(r) for r in shipping.returns_of(s, order_id)]


@router.post("/orders/{order_id}/returns", status_code=201, response_model=ReturnOut, responses=errors(403, 404, 409))
def record_return(order_id: PathId, body: ReturnIn, user: Writer, db: Database = Depends(get_db)) -> ReturnOut:
    with db.transaction() as s:
        ret = shipping.record_return(s, order_id, body.lines, body.reason, warehouse_id=body.warehouse_id, note=body.note,  # noqa: E501
                                     actor=user.username)  # fmt: skip
        return ReturnOut.of(ret)


@router.post("/returns/{return_id}/{step}", response_model=ReturnOut, responses=errors(403, 404, 409))
def return_step(return_id: PathId, step: Literal["approve", "reject", "putaway", "complete"], user: Writer,
                body: ReturnStepIn | None = None, db: Database = Depends(get_db)) -> ReturnOut:  # fmt: skip
    given = body or ReturnStepIn()
    with db.transaction() as s:
        if step == "approve":
            ret = shipping.approve_return(s, return_id, actor=user.username)
        elif step == "reject":
            ret = shipping.reject_return(s, return_id, note=given.note, actor=user.username)
        elif step == "putaway":
            ret = shipping.putaway_return(s, return_id, given.warehouse_id, actor=user.username)
        else:
            ret = shipping.complete_return(s, return_id, actor=user.username)
        return ReturnOut.of(ret)


@router.put("/stores/{store_id}/ship-from", responses=errors(403, 404))
def set_ship_from(
    store_id: PathId, body: ShipFromIn, user: Writer, db: Database = Depends(get_db)
) -> dict[str, object]:
    with db.transaction() as s:
        return dict(shipping.set_ship_from(s, store_id, body.model_dump()))
