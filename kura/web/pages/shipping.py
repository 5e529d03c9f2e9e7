"""Fulfilment pages: the shipping panel of an order page (pack, create shipment and print its label, split, mark
shipped, cancel, report again, return), labels as PDF in the browser, the fulfilment queue with checkboxes for
bulk actions (allocate, pack, print labels as one PDF, ship), and the returns list."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from kura.auth.models import User
from kura.db import Database
from kura.errors import KuraError
from kura.inventory.service import list_warehouses
from kura.orders.models import Order
from kura.orders.service import get_order, list_orders
from kura.orders.statuses import OrderStatus
from kura.shipping import service as shipping
from kura.shipping.models import ReturnStatus
from kura.web import templating
from kura.web.deps import get_db, page_user
from kura.web.pages.forms import Window, page_writer
from kura.web.templating import render

router = APIRouter(include_in_schema=False)

# The fulfilment pages join the main navigation right after Orders.
_nav: list[tuple[str, str, str]] = list(templating.NAV)
if not any(key == "shipping" for key, _, _ in _nav):
    _at = [key for key, _, _ in _nav].index("orders") + 1
    _nav[_at:_at] = [("shipping", "/shipping", "Shipping"), ("returns", "/returns", "Returns")]
    templating.env.globals["nav"] = tuple(_nav)

QUEUE = (OrderStatus.New, OrderStatus.Partial, OrderStatus.RFP, OrderStatus.Packed, OrderStatus.Ready_to_Ship)
CARRIERS = (("yamato", "ヤマト運輸"), ("sagawa", "佐川急便"), ("japanpost", "日本郵便"), ("other", "その他"))


def _pdf(content: bytes, name: str) -> Response:
    return Response(
        content, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'}
    )


@router.get("/orders/{order_id:int}/shipping")
def shipping_panel(request: Request, order_id: int, error: str = "", user: User = Depends(page_user),
                   db: Database = Depends(get_db)) -> Response:  # fmt: skip
    """The shipping panel an order page loads (htmx): its parcels, returns and the actions its status allows."""
    with db.reader() as s:
        order = get_order(s, order_id)
        parcels = shipping.parcels_of(s, order_id)
        returns = shipping.returns_of(s, order_id)
        warehouses = list_warehouses(s, active=True)
        s.expunge_all()
    return render(request, "shipping/_order_panel.html", order=order, parcels=parcels, returns=returns,
                  warehouses=warehouses, carriers=CARRIERS, S=OrderStatus, error=error, user=user)  # fmt: skip


def _back(order_id: int, error: KuraError | None = None) -> Response:
    suffix = "?done=shipping" if error is None else f"?shipping_error={quote(error.message[:300])}"
    return RedirectResponse(f"/orders/{order_id}{suffix}#shipping", status_code=303)


@router.post("/orders/{order_id:int}/shipping/{action}")
async def shipping_action(request: Request, order_id: int, action: str, user: User = Depends(page_writer),
                          db: Database = Depends(get_db)) -> Response:  # fmt: skip
    form = await request.form()
    get = lambda name: str(form.get(name) or "").strip()  # noqa: E731
    try:
        if action == "pack":
            with db.transaction() as s:
                shipping.pack(s, order_id, actor=user.username)
        elif action == "parcels":
            carrier = get("code") if get("carrier") == "other" and get("code") else get("carrier") or "yamato"
            shipping.create_parcels(db, order_id, carrier, actor=user.username, tracking_number=get("tracking") or None)
        elif action == "split":
            plans = []
            with db.reader() as s:
                order = get_order(s, order_id)
                for box in ("1", "2"):
                    lines = {line.id: int(get(f"p{box}_{line.id}")) for line in order.lines
                             if get(f"p{box}_{line.id}").isdigit() and int(get(f"p{box}_{line.id}")) > 0}  # fmt: skip
                    if lines:
                        wh = get(f"p{box}_warehouse")
                        plans.append(shipping.ParcelPlan(lines, int(wh) if wh.isdigit() else None))
            shipping.split(db, order_id, get("carrier") or "yamato", plans, actor=user.username)
        elif action == "ship":
            shipping.ship(db, order_id, get("carrier") or "yamato", tracking_number=get("tracking") or None,
                          actor=user.username)  # fmt: skip
        elif action == "cancel":
            shipping.cancel_by_seller(db, order_id, actor=user.username)
        elif action == "report":
            from kura.channels.rakuten import shipping as rakuten_shipping

            with db.transaction() as s:
                rakuten_shipping.retry_report(s, order_id)
        elif action == "return":
            with db.reader() as s:
                order = get_order(s, order_id)
                back: dict[str | int, int] = {line.id: int(get(f"r_{line.id}")) for line in order.lines
                                               if get(f"r_{line.id}").isdigit() and int(get(f"r_{line.id}")) > 0}  # fmt: skip  # noqa: E501
            wh = get("warehouse")
            with db.transaction() as s:
                shipping.record_return(s, order_id, back, get("reason"), warehouse_id=int(wh) if wh.isdigit() else None,
                                       actor=user.username)  # fmt: skip
        else:
            return Response(status_code=404)
    except KuraError as exc:
        return _back(order_id, exc)
    return _back(order_id)


@router.get("/parcels/{parcel_id:int}/label")
def parcel_label(parcel_id: int, user: User = Depends(page_user), db: Database = Depends(get_db)) -> Response:
    with db.reader() as s:
        number = shipping.get_parcel(s, parcel_id).tracking_number
        return _pdf(shipping.label_pdf(s, parcel_id), f"label-{number}.pdf")


@router.get("/shipping")
def queue(request: Request, status: str = "", page: int = 1, done: str = "", error: str = "",
          user: User = Depends(page_user), db: Database = Depends(get_db)) -> Response:  # fmt: skip
    """Orders waiting to leave, with checkboxes for bulk actions."""
    window = Window.of(page)
    chosen = status if status in {s.value for s in QUEUE} else OrderStatus.RFP.value
    with db.reader() as s:
        found = list_orders(s, status=chosen, limit=window.per_page, offset=window.offset)
        s.expunge_all()
    return render(request, "shipping/queue.html", user=user, active="shipping", page=found, statuses=QUEUE,
                  status=chosen, carriers=CARRIERS, done=done, error=error, window=window)  # fmt: skip


@router.post("/shipping/bulk")
async def bulk(request: Request, user: User = Depends(page_writer), db: Database = Depends(get_db)) -> Response:
    form = await request.form()
    ids = [int(str(v)) for v in form.getlist("order_id") if str(v).isdigit()]
    action, carrier = str(form.get("action") or ""), str(form.get("carrier") or "yamato")
    status = str(form.get("status") or "RFP")
    if not ids:
        return RedirectResponse(f"/shipping?status={status}&error=Choose+at+least+one+order.", status_code=303)
    if action == "labels":
        try:
            pdf, _ = shipping.print_labels(db, ids, carrier=carrier, actor=user.username)
        except KuraError as exc:
            return RedirectResponse(f"/shipping?status={status}&error={quote(exc.message[:200])}", status_code=303)
        return _pdf(pdf, "labels.pdf")
    result = shipping.bulk(db, action, ids, carrier=carrier, actor=user.username)
    first = next(iter(result.failed.values()), "")
    failed = f"&error={quote(f'{len(result.failed)} failed: {first}'[:200])}" if result.failed else ""
    return RedirectResponse(f"/shipping?status={status}&done={len(result.done)}{failed}", status_code=303)


@router.get("/returns")
def returns(request: Request, status: str = "", page: int = 1, done: str = "", error: str = "",
            user: User = Depends(page_user), db: Database = Depends(get_db)) -> Response:  # fmt: skip
    window = Window.of(page)
    with db.reader() as s:
        rows, total = shipping.list_returns(s, status=status or None, limit=window.per_page, offset=window.offset)
        numbers = dict(
            s.execute(select(Order.id, Order.order_number).where(Order.id.in_([r.order_id for r in rows]))).all()
        )
        warehouses = list_warehouses(s, active=True)
        s.expunge_all()
    return render(request, "shipping/returns.html", user=user, active="returns", rows=rows, total=total,
                  numbers=numbers, statuses=list(ReturnStatus), status=status, warehouses=warehouses, done=done,
                  error=error)  # fmt: skip


@router.post("/returns/{return_id:int}/{step}")
async def return_step(request: Request, return_id: int, step: str, user: User = Depends(page_writer),
                      db: Database = Depends(get_db)) -> Response:  # fmt: skip
    form = await request.form()
    wh = str(form.get("warehouse") or "")
    try:
        with db.transaction() as s:
            if step == "approve":
                shipping.approve_return(s, return_id, actor=user.username)
            elif step == "reject":
                shipping.reject_return(s, return_id, actor=user.username)
            elif step == "putaway":
                shipping.putaway_return(s, return_id, int(wh) if wh.isdigit() else None, actor=user.username)
            elif step == "complete":
                shipping.complete_return(s, return_id, actor=user.username)
            else:
                return Response(status_code=404)
    except KuraError as exc:
        return RedirectResponse(f"/returns?error={quote(exc.message[:200])}", status_code=303)
    return RedirectResponse(f"/returns?done={step}", status_code=303)
