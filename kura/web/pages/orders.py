"""Order pages: the list with status tabs and search, an order's page with its lines, addresses, totals,
history and a button for each status it may move to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from kura.auth.models import User
from kura.channels.rakuten.statuses import ORDER_PROGRESS
from kura.db import Database
from kura.errors import KuraError
from kura.japan import prefecture
from kura.orders.models import Address
from kura.orders.service import (
    allocate,
    change_status,
    count_by_channel_status,
    count_by_status,
    get_order,
    line_reservations,
    list_orders,
)
from kura.orders.statuses import FINAL, OrderStatus, allowed_next
from kura.stores.service import list_stores
from kura.web.deps import get_db, page_user
from kura.web.pages.forms import Window, is_partial, page_writer
from kura.web.templating import render

router = APIRouter(include_in_schema=False)

# Tabs always shown (the working queue); other statuses get a tab once an order is in them.
MAIN_TABS = (
    OrderStatus.New,
    OrderStatus.Partial,
    OrderStatus.RFP,
    OrderStatus.Packed,
    OrderStatus.In_transit,
    OrderStatus.Complete,
    OrderStatus.Cancel,
)


def phone_display(digits: str) -> str:
    """0312345678 → 03-1234-5678, 09012345678 → 090-1234-5678 (a readable grouping, not a carrier rule)."""
    if len(digits) == 11:
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if len(digits) == 10 and digits[:2] in ("03", "06"):
        return f"{digits[:2]}-{digits[2:6]}-{digits[6:]}"
    if len(digits) == 10:
        return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    return digits


def address_lines(address: Address) -> dict[str, str]:
    """A Japanese address as written on a label: 〒, prefecture + city, building, name 様, kana, phone."""
    try:
        pref_en = prefecture(address.prefecture).name_en
    except KuraError:
        pref_en = ""
    kana = " ".join(k for k in (address.family_name_kana, address.given_name_kana) if k)
    return {
        "postal": f"〒{address.postal_code}",
        "line1": f"{address.prefecture}{address.address_line1}",
        "line2": address.address_line2 or "",
        "name": f"{address.family_name} {address.given_name}",
        "kana": kana,
        "phone": phone_display(address.phone),
        "prefecture_en": pref_en,
    }


@router.get("/orders")
def order_list(
    request: Request,
    status: str = "",
    q: str = "",
    page: int = 1,
    store: str = "",
    rakuten: str = "",
    user: User = Depends(page_user),
    db: Database = Depends(get_db),
) -> Response:
    window = Window.of(page)
    filters = {"status": status, "q": q, "store": store, "rakuten": rakuten}
    chosen = status if status in OrderStatus.__members__ else None
    store_id = int(store) if store.isdigit() else None
    progress = int(rakuten) if rakuten.isdigit() else None  # Rakuten's orderProgress
    with db.reader() as s:
        counts = count_by_status(s, q=q or None, store_id=store_id, channel_status=progress)
        rakuten_counts = count_by_channel_status(s, status=chosen, store_id=store_id, q=q or None)
        found = list_orders(s, status=chosen, q=q or None, store_id=store_id, channel_status=progress,
                            limit=window.per_page, offset=window.offset)  # fmt: skip
        stores = [(st.id, st.name) for st in list_stores(s)]
        s.expunge_all()
    tabs = [st for st in OrderStatus if st in MAIN_TABS or counts[st] or st.value == chosen]
    context: dict[str, Any] = {
        "user": user,
        "active": "orders",
        "orders": found.items,
        "window": window.with_total(found.total),
        "filters": filters,
        "counts": counts,
        "tabs": tabs,
        "all_count": sum(counts.values()),
        "chosen": chosen,
        "stores": stores,
        "rakuten_counts": rakuten_counts,
        "rakuten_statuses": sorted(ORDER_PROGRESS),
    }
    if is_partial(request, "results"):
        return render(request, "orders/_results.html", **context)
    return render(request, "orders/list.html", **context)


def _detail(
    request: Request,
    user: User,
    db: Database,
    order_id: int,
    *,
    error: KuraError | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Response:
    with db.reader() as s:
        order = get_order(s, order_id)
        held = line_reservations(s, order)
        held_view = {line_id: [(r.warehouse.code, r.sku.code, r.quantity) for r in rs] for line_id, rs in held.items()}
        s.expunge_all()
    return render(
        request,
        "orders/detail.html",
        status_code=status_code,
        user=user,
        active="orders",
        order=order,
        orderer=address_lines(order.orderer),
        shipping=address_lines(order.shipping),
        held=held_view,
        next_statuses=allowed_next(order.status),
        final=order.status in FINAL,
        error=error,
        done=done,
        can_allocate=order.status in (OrderStatus.New, OrderStatus.Partial),
    )


@router.get("/orders/{order_id:int}")
def order_detail(
    request: Request,
    order_id: int,
    done: str | None = None,
    user: User = Depends(page_user),
    db: Database = Depends(get_db),
) -> Response:
    return _detail(request, user, db, order_id, done=done)


@router.post("/orders/{order_id:int}/status")
def order_change_status(
    request: Request,
    order_id: int,
    to: str = Form(...),
    note: str = Form(""),
    user: User = Depends(page_writer),
    db: Database = Depends(get_db),
) -> Response:
    try:
        with db.transaction() as s:
            change_status(s, order_id, to, actor=user.username, note=note.strip() or None)
    except KuraError as exc:
        return _detail(request, user, db, order_id, error=exc, status_code=exc.status)
    return RedirectResponse(f"/orders/{order_id}?done=status", status_code=303)


@router.post("/orders/{order_id:int}/allocate")
def order_allocate(
    request: Request, order_id: int, user: User = Depends(page_writer), db: Database = Depends(get_db)
) -> Response:
    try:
        with db.transaction() as s:
            allocate(s, order_id, actor=user.username)
    except KuraError as exc:
        return _detail(request, user, db, order_id, error=exc, status_code=exc.status)
    return RedirectResponse(f"/orders/{order_id}?done=allocated", status_code=303)
