"""Orders: manual orders, the order list with counts per status, order detail, status moves, allocation.

A status move the status table does not allow is 409 `illegal_transition`; its details name the allowed
next statuses."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from kura.catalog.models import SKU_MAX
from kura.catalog.service import find_skus
from kura.db import Database
from kura.errors import Invalid
from kura.inventory.service import get_warehouse
from kura.orders import service as orders
from kura.orders.models import Address, Order
from kura.orders.statuses import OrderStatus, allowed_next
from kura.web.api.common import (
    Id,
    Limit,
    Offset,
    PageOut,
    PathId,
    QueryId,
    QueryText,
    Reader,
    Text,
    Writer,
    Yen,
    errors,
)
from kura.web.deps import get_db, read_scope

router = APIRouter(tags=["orders"], responses=errors(401, 422))


Required100 = Annotated[Text, Field(min_length=1, max_length=100)]
Optional100 = Annotated[Text, Field(max_length=100)] | None


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- input


class AddressIn(_In):
    """A person at a Japanese address, family name first. Postal codes, prefectures and phones are normalised."""

    family_name: Required100
    given_name: Required100
    family_name_kana: Optional100 = None
    given_name_kana: Optional100 = None
    postal_code: Annotated[Text, Field(min_length=1, max_length=20, examples=["100-0001"])]
    prefecture: Annotated[Text, Field(min_length=1, max_length=20, examples=["東京都"])]
    address_line1: Annotated[Text, Field(min_length=1, max_length=255)]
    address_line2: Annotated[Text, Field(max_length=255)] | None = None
    phone: Annotated[Text, Field(min_length=1, max_length=30, examples=["03-1234-5678"])]

    def address(self) -> Address:
        return Address(**self.model_dump())


class LineIn(_In):
    sku: Annotated[Text, Field(min_length=1, max_length=SKU_MAX)]
    quantity: Annotated[int, Field(strict=True, ge=1, le=100_000)]
    name: Annotated[Text, Field(max_length=255, description="Default: the catalog's product name.")] | None = None
    unit_price: Annotated[
        int | None, Field(strict=True, ge=0, le=10**10, description="Yen, tax-inclusive. Default: the SKU's price.")
    ] = None
    tax_rate: Literal[10, 8, 0] = 10


class OrderIn(_In):
    """A manual order. Totals are computed from the lines; Kura numbers it unless `order_number` is given."""

    store_id: Id
    orderer: AddressIn
    shipping: AddressIn | None = Field(None, description="Default: ship to the orderer.")
    lines: list[LineIn] = Field(min_length=1, max_length=500)
    payment_method: Annotated[Text, Field(min_length=1, max_length=100)]
    order_number: Annotated[Text, Field(max_length=64)] | None = None
    ordered_at: AwareDatetime | None = Field(None, description="Default: now.")
    shipping_fee: Yen = 0
    discount_total: Yen = 0
    points_used: Yen = 0
    orderer_email: Annotated[Text, Field(max_length=255, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    note: Annotated[Text, Field(max_length=10_000)] | None = None


class StatusIn(_In):
    status: OrderStatus
    note: Annotated[Text, Field(max_length=500)] | None = None


class AllocateIn(_In):
    warehouse_ids: list[Id] | None = Field(
        None, max_length=100, description="Warehouses to try, in order; default: every active one, oldest first."
    )


# ---------------------------------------------------------------- output


class AddressOut(BaseModel):
    family_name: str
    given_name: str
    family_name_kana: str | None
    given_name_kana: str | None
    postal_code: str
    prefecture: str
    address_line1: str
    address_line2: str | None
    phone: str


class TotalsOut(BaseModel):
    goods_total: int
    tax_total: int = Field(description="Consumption tax contained in the amounts.")
    shipping_fee: int
    discount_total: int
    points_used: int
    total: int = Field(description="What the buyer pays: goods + shipping − discounts − points.")


class ReservationOut(BaseModel):
    warehouse_code: str
    sku: str
    quantity: int


class LineOut(BaseModel):
    id: int
    line_no: int
    sku: str
    in_catalog: bool
    name: str
    quantity: int
    unit_price: int
    tax_rate: int
    amount: int
    reservations: list[ReservationOut]


class StatusChangeOut(BaseModel):
    from_status: OrderStatus | None
    to_status: OrderStatus
    at: dt.datetime
    actor: str | None
    note: str | None


class OrderSummary(BaseModel):
    id: int
    store_id: int
    store_name: str
    order_number: str
    status: OrderStatus
    ordered_at: dt.datetime
    orderer_name: str
    ship_prefecture: str
    payment_method: str
    total: int
    line_count: int

    @classmethod
    def of(cls, o: Order) -> OrderSummary:
        return cls(
            id=o.id,
            store_id=o.store_id,
            store_name=o.store.name,
            order_number=o.order_number,
            status=o.status,
            ordered_at=o.ordered_at,
            orderer_name=f"{o.orderer_family_name} {o.orderer_given_name}",
            ship_prefecture=o.ship_prefecture,
            payment_method=o.payment_method,
            total=o.total,
            line_count=len(o.lines),
        )


class OrderPage(PageOut[OrderSummary]):
    counts: dict[str, int] = Field(description="Orders per status under the same store and q filters.")


class OrderDetail(OrderSummary):
    orderer: AddressOut
    shipping: AddressOut
    orderer_email: str | None
    note: str | None
    totals: TotalsOut
    lines: list[LineOut]
    history: list[StatusChangeOut]
    allowed_next: list[OrderStatus]
    created_at: dt.datetime
    updated_at: dt.datetime


def _detail(s: Session, o: Order) -> OrderDetail:
    held = orders.line_reservations(s, o)
    lines = [
        LineOut(id=line.id, line_no=line.line_no, sku=line.sku, in_catalog=line.sku_id is not None, name=line.name,
                quantity=line.quantity, unit_price=line.unit_price, tax_rate=line.tax_rate, amount=line.amount,
                reservations=[ReservationOut(warehouse_code=r.warehouse.code, sku=r.sku.code, quantity=r.quantity)
                              for r in held.get(line.id, [])])
        for line in o.lines
    ]  # fmt: skip
    return OrderDetail(
        **OrderSummary.of(o).model_dump(),
        orderer=AddressOut(**vars(o.orderer)),
        shipping=AddressOut(**vars(o.shipping)),
        orderer_email=o.orderer_email,
        note=o.note,
        totals=TotalsOut(
            goods_total=o.goods_total,
            tax_total=o.tax_total,
            shipping_fee=o.shipping_fee,
            discount_total=o.discount_total,
            points_used=o.points_used,
            total=o.total,
        ),
        lines=lines,
        history=[
            StatusChangeOut(from_status=h.from_status, to_status=h.to_status, at=h.at, actor=h.actor, note=h.note)
            for h in o.history
        ],
        allowed_next=allowed_next(o.status),
        created_at=o.created_at,
        updated_at=o.updated_at,
    )


# ---------------------------------------------------------------- orders


def _line_specs(s: Session, lines: list[LineIn]) -> list[orders.LineSpec]:
    """Fills a line's name and price from the catalog when they are left out."""
    known = find_skus(s, [line.sku.strip() for line in lines])
    specs = []
    for i, line in enumerate(lines):
        sku = known.get(line.sku.strip())
        if sku is None and (line.name is None or line.unit_price is None):
            raise Invalid(f"lines[{i}]", f"Line {i + 1}: SKU {line.sku!r} is not in the catalog; give its name and "
                          "unit_price.")  # fmt: skip
        name = line.name if line.name is not None else sku.product.name  # type: ignore[union-attr]
        price = line.unit_price if line.unit_price is not None else sku.effective_selling_price  # type: ignore[union-attr]
        specs.append(orders.LineSpec(sku=line.sku, name=name, quantity=line.quantity, unit_price=price,
                                     tax_rate=line.tax_rate))  # fmt: skip
    return specs


@router.post("/orders", status_code=201, response_model=OrderDetail, responses=errors(403, 404, 409))
def create_order(body: OrderIn, user: Writer, db: Database = Depends(get_db)) -> OrderDetail:
    """Record a manual order (status New)."""
    with db.transaction() as s:
        new = orders.NewOrder(
            orderer=body.orderer.address(),
            shipping=body.shipping.address() if body.shipping else None,
            lines=_line_specs(s, body.lines),
            payment_method=body.payment_method,
            order_number=body.order_number,
            ordered_at=body.ordered_at,
            shipping_fee=body.shipping_fee,
            discount_total=body.discount_total,
            points_used=body.points_used,
            orderer_email=body.orderer_email,
            note=body.note,
        )
        order = orders.create_order(s, body.store_id, new, actor=user.username)
        return _detail(s, order)


@router.get("/orders", response_model=OrderPage, responses=errors(404))
def list_orders(
    user: Reader,
    status: OrderStatus | None = None,
    store_id: QueryId = None,
    q: Annotated[QueryText, Query(description="Part of the order number, a name (kanji, kana) or a SKU.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    s: Session = Depends(read_scope),
) -> OrderPage:
    """Orders newest first, with the count per status (for status tabs)."""
    if store_id is not None:
        orders.get_store(s, store_id)
    page = orders.list_orders(s, status=status, store_id=store_id, q=q, limit=limit, offset=offset)
    counts = orders.count_by_status(s, store_id=store_id, q=q)
    return OrderPage(items=[OrderSummary.of(o) for o in page.items], total=page.total, limit=limit, offset=offset,
                     counts={k.value: v for k, v in counts.items()})  # fmt: skip


@router.get("/orders/{order_id}", response_model=OrderDetail, responses=errors(404))
def get_order(order_id: PathId, user: Reader, s: Session = Depends(read_scope)) -> OrderDetail:
    """An order with its lines (and the stock held for them), addresses, totals and status history."""
    return _detail(s, orders.get_order(s, order_id))


@router.post("/orders/{order_id}/status", response_model=OrderDetail, responses=errors(403, 404, 409))
def change_status(order_id: PathId, body: StatusIn, user: Writer, db: Database = Depends(get_db)) -> OrderDetail:
    """Move an order along the status table; 409 names the allowed next statuses."""
    with db.transaction() as s:
        order = orders.change_status(s, order_id, body.status, actor=user.username, note=body.note)
        return _detail(s, order)


@router.post("/orders/{order_id}/allocate", response_model=OrderDetail, responses=errors(403, 404, 409))
def allocate(
    order_id: PathId, user: Writer, body: AllocateIn | None = None, db: Database = Depends(get_db)
) -> OrderDetail:
    """Reserve stock for the lines not yet held: RFP when all are held, Partial when some are."""
    with db.transaction() as s:
        ids = list(dict.fromkeys(body.warehouse_ids)) if body and body.warehouse_ids else None
        for warehouse_id in ids or []:
            get_warehouse(s, warehouse_id)
        order = orders.allocate(s, order_id, warehouse_ids=ids, actor=user.username)
        return _detail(s, order)


@router.post("/orders/{order_id}/deallocate", response_model=OrderDetail, responses=errors(403, 404, 409))
def deallocate(order_id: PathId, user: Writer, db: Database = Depends(get_db)) -> OrderDetail:
    """Give back the stock held for a Partial or RFP order; it returns to New."""
    with db.transaction() as s:
        return _detail(s, orders.deallocate(s, order_id, actor=user.username))
