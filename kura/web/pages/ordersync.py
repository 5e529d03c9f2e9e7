"""Rakuten order pages: the Rakuten block of an order page (its Rakuten status, hold reasons, packages, the
interleaved OMS/Rakuten timeline, the raw order for support, Cancel on Rakuten), and on the store page Sync Orders
with its date range and the order-sync settings."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from kura import i18n
from kura.auth.models import Role, User
from kura.channels.rakuten import orders as ordersync
from kura.channels.rakuten.errors import RmsError
from kura.channels.rakuten.privacy import mask_personal
from kura.channels.rakuten.statuses import ORDER_PROGRESS
from kura.db import Database
from kura.errors import Invalid, KuraError
from kura.orders.models import Order, OrderStatusChange
from kura.orders.service import get_order
from kura.orders.service import resolve_unknown_skus as resolve_order_skus
from kura.stores.models import Channel
from kura.stores.service import get_store
from kura.stores.warehouses import reserving_warehouses
from kura.web.api.stores import launch
from kura.web.deps import get_db, page_user, require_role
from kura.web.pages import integrations
from kura.web.pages.forms import page_writer, whole_number, yes
from kura.web.pages.orders import address_lines
from kura.web.templating import JST, env, render

router = APIRouter(include_in_schema=False)
page_admin = require_role(Role.admin, page_user)  # the API too changes sync settings with the admin role only
CANCELLABLE = (100, 200, 300)  # Rakuten cancels an order only before it ships


def rakuten_status(code: int | None) -> str:
    """Rakuten's orderProgress for people: "300 発送待ち" in Japanese, "300 Waiting for shipping" in English."""
    if code is None:
        return "—"
    progress = ORDER_PROGRESS.get(int(code))
    if progress is None:
        return str(code)
    return f"{code} {progress.name_ja if i18n.current_locale.get() == 'ja' else progress.label}"


def time_slot(term: int | None) -> str:
    """Rakuten's shippingTerm: 0 none, 1 morning, 2 afternoon, 1416 = 14–16 h."""
    if not term:
        return "—"
    if term == 1:
        return i18n.gettext("Morning")
    if term == 2:
        return i18n.gettext("Afternoon")
    text = str(term)
    if len(text) in (3, 4):
        return f"{int(text[:-2])}:00–{int(text[-2:])}:00"
    return text


env.filters.update(rakuten_status=rakuten_status, time_slot=time_slot)


# ---------------------------------------------------------------- the order page's Rakuten block


@dataclass(frozen=True)
class TimelineRow:
    """One moment of an order: the OMS status it entered and/or the Rakuten status it then had."""

    at: dt.datetime
    oms: str | None  # the OMS status entered, None when only Rakuten's side changed
    rakuten: int | None  # the Rakuten status reached, None when it did not change
    sub_status: str | None
    actor: str | None
    note: str | None


def timeline(order: Order) -> list[TimelineRow]:
    """Both status histories interleaved by time, newest first: a row shows the OMS status when the order
    moved in Kura and the Rakuten status when Rakuten's changed (the first row shows both)."""
    rows: list[TimelineRow] = []
    seen: tuple[int | None, str | None] = (None, None)
    history: list[OrderStatusChange] = sorted(order.history, key=lambda h: (h.at, h.id))
    for i, h in enumerate(history):
        moved = i == 0 or h.from_status != h.to_status
        channel = (h.channel_status, h.channel_sub_status)
        changed = h.channel_status is not None and channel != seen
        if h.channel_status is not None:
            seen = channel
        if not moved and not changed and not h.note:
            continue
        rows.append(TimelineRow(h.at, h.to_status.value if moved else None, h.channel_status if changed else None,
                                h.channel_sub_status if changed else None, h.actor, h.note))  # fmt: skip
    return list(reversed(rows))


def payload_for(user: User, payload: dict[str, Any] | None) -> tuple[str | None, bool]:
    """The raw Rakuten order as shown to this user, and whether it was masked (for everyone but admins)."""
    if payload is None:
        return None, False
    masked = user.role != Role.admin
    shown = mask_personal(payload) if masked else payload
    return json.dumps(shown, ensure_ascii=False, indent=2, sort_keys=True), masked


@router.get("/orders/{order_id:int}/rakuten")
def rakuten_block(request: Request, order_id: int, error: str = "", done: str = "", user: User = Depends(page_user),
                  db: Database = Depends(get_db)) -> Response:  # fmt: skip
    """The Rakuten block an order page loads (htmx); empty for orders of other channels."""
    with db.reader() as s:
        order = get_order(s, order_id)
        if order.store.channel != Channel.rakuten:
            return Response("")
        raw, masked = payload_for(user, order.channel_payload)
        packages = [(p, address_lines(p.recipient), [line for line in order.lines if line.package_id == p.id])
                    for p in order.packages]  # fmt: skip
        unknown = [line for line in order.lines if line.sku_id is None]
        rows = timeline(order)
        s.expunge_all()
    return render(request, "orders/_rakuten.html", user=user, order=order, packages=packages, unknown=unknown,
                  timeline=rows, raw=raw, masked=masked, error=error, done=done,
                  can_cancel=order.channel_status in CANCELLABLE, reasons=ordersync.CANCEL_REASONS)  # fmt: skip


def _back(order_id: int, *, error: str = "", done: str = "") -> Response:
    query = f"rakuten_error={quote(error)}" if error else f"rakuten_done={done}"
    return RedirectResponse(f"/orders/{order_id}?{query}", status_code=303)


@router.post("/orders/{order_id:int}/cancel-on-rakuten")
def cancel(order_id: int, reason: str = Form(""), user: User = Depends(page_writer),
           db: Database = Depends(get_db)) -> Response:  # fmt: skip
    """Cancel on Rakuten with a reason; the order becomes Cancel_in_progress when Rakuten agrees."""
    try:
        code = whole_number(reason, "reason")
        if code not in ordersync.CANCEL_REASONS:
            raise Invalid("reason", "Choose why the order is cancelled.")
        ordersync.cancel_on_rakuten(db, order_id, code, actor=user.username)
    except (KuraError, RmsError) as exc:
        return _back(order_id, error=getattr(exc, "message", None) or str(exc))
    return _back(order_id, done="cancelled")


@router.post("/orders/{order_id:int}/resolve-skus")
def resolve_skus(order_id: int, user: User = Depends(page_writer), db: Database = Depends(get_db)) -> Response:
    """Matches the order's unknown lines to SKUs the catalog has now (after the SKU was created)."""
    with db.transaction() as s:
        order = get_order(s, order_id)
        matched = resolve_order_skus(s, order_id, reserving_warehouses(s, order.store_id), actor=user.username)
    if not matched:
        return _back(order_id, error=i18n.gettext("No line matched: create the SKU in the catalog first (same code)."))
    return _back(order_id, done="resolved")


# ---------------------------------------------------------------- the store page: Sync Orders and settings


def store_context(s: Session, store_id: int) -> dict[str, Any]:
    """What the store page's order-sync block shows."""
    store = get_store(s, store_id)
    if store.channel != Channel.rakuten:
        return {"order_sync": None}
    return {"order_sync": ordersync.OrderSyncSettings.of(store), "min_interval_s": ordersync.MIN_INTERVAL_S,
            "max_history_days": ordersync.MAX_HISTORY_DAYS}  # fmt: skip


integrations.store_blocks.append(store_context)


def _day(value: str, field: str, *, end: bool) -> dt.datetime | None:
    """A day typed in the form (Japan time): the start of the day, or for `end` the start of the next one."""
    text = value.strip()
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise Invalid(field, i18n.gettext("Give the day as YYYY-MM-DD; got %(value)s.") % {"value": text}) from None
    start = dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time(), tzinfo=JST)
    return start.astimezone(dt.UTC)


@router.post("/integrations/stores/{store_id}/sync/orders")
def sync_orders(store_id: int, request: Request, date_from: str = Form(""), date_to: str = Form(""),
                user: User = Depends(page_writer), db: Database = Depends(get_db)) -> Response:  # fmt: skip
    """Sync Orders: every order placed between the two days (default: the store's history days up to now)."""
    try:
        start = _day(date_from, "from", end=False)
        end = _day(date_to, "to", end=True)
        now = dt.datetime.now(dt.UTC)
        run_id = ordersync.request_sync(db, store_id, start, min(end, now) if end else None)
    except KuraError as exc:
        return integrations.store_page_response(request, user, db, store_id, error=exc.message,
                                                status_code=exc.status)  # fmt: skip
    launch(request, ordersync.KIND_SYNC, store_id, run_id)
    return RedirectResponse(f"/integrations/stores/{store_id}?run={run_id}", 303)


def _interval(value: str, field: str, label: str) -> int:
    seconds = whole_number(value, field, required=False)
    if seconds is None:
        raise Invalid(field, i18n.gettext("%(what)s is needed, in seconds.") % {"what": label})
    if seconds < ordersync.MIN_INTERVAL_S:
        raise Invalid(field, i18n.gettext("%(what)s must be at least %(min)s seconds; got %(n)s.")
                      % {"what": label, "min": ordersync.MIN_INTERVAL_S, "n": seconds})  # fmt: skip
    return seconds


@router.post("/integrations/stores/{store_id}/order-settings")
def order_settings(
    store_id: int,
    request: Request,
    history_days: str = Form(""),
    new_orders_interval_s: str = Form(""),
    status_interval_s: str = Form(""),
    auto_confirm: str = Form(""),
    packed_sub_status: str = Form(""),
    user: User = Depends(page_admin),
    db: Database = Depends(get_db),
) -> Response:
    """The order-sync settings: history days, both poll intervals (≥ 30 s), auto-confirm, Packed → sub-status."""
    try:
        days = whole_number(history_days, "history_days", required=False)
        if days is None or not 1 <= days <= ordersync.MAX_HISTORY_DAYS:
            raise Invalid("history_days", i18n.gettext("History days must be from 1 to %(max)s; got %(value)s.")
                          % {"max": ordersync.MAX_HISTORY_DAYS, "value": history_days or "—"})  # fmt: skip
        changes = {
            "history_days": days,
            "new_orders_interval_s": _interval(new_orders_interval_s, "new_orders_interval_s",
                                               i18n.gettext("The new-order check interval")),
            "status_interval_s": _interval(status_interval_s, "status_interval_s",
                                           i18n.gettext("The status check interval")),
            "auto_confirm": yes(auto_confirm),
            "packed_sub_status": packed_sub_status.strip() or None,
        }  # fmt: skip
        with db.transaction() as s:
            ordersync.update_order_settings(s, store_id, changes)
    except KuraError as exc:
        return integrations.store_page_response(request, user, db, store_id, error=exc.message,
                                                status_code=exc.status)  # fmt: skip
    return integrations.store_page_response(request, user, db, store_id, notice="Order sync settings saved.")
