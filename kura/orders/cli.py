"""`kura orders …` (list, show) and `kura sync orders`: orders from the command line."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import typer

from kura.cli_areas import fail, print_json, print_table, reading
from kura.errors import KuraError
from kura.orders import service as orders

orders_app = typer.Typer(no_args_is_help=True, help="Orders.")


@orders_app.command("list")
def list_orders(
    status: str = typer.Option(None, "--status", help="Only orders in this status, e.g. New, RFP, In_transit."),
    store: int = typer.Option(None, "--store", help="Only orders of this store (its id)."),
    q: str = typer.Option(None, "--q", help="Part of the order number, a name or a SKU."),
    limit: int = typer.Option(50, "--limit", help="At most this many (1–500), newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """List orders, newest first."""
    with reading() as s:
        if store is not None:
            orders.get_store(s, store)
        page = orders.list_orders(s, status=status, store_id=store, q=q, limit=limit)
        rows = [
            {"id": o.id, "store": o.store.name, "order_number": o.order_number, "status": o.status.value,
             "ordered_at": o.ordered_at.isoformat(), "orderer": f"{o.orderer_family_name} {o.orderer_given_name}",
             "total": o.total, "lines": len(o.lines), "rakuten_status": o.channel_status, "hold": o.hold}
            for o in page.items
        ]  # fmt: skip
    if as_json:
        print_json(rows)
    else:
        print_table(["id", "store", "order_number", "status", "ordered_at", "orderer", "total", "lines"], rows,
                    total=page.total)  # fmt: skip


def _order_json(o: Any, *, personal: bool) -> dict[str, Any]:
    """An order for `orders show --json`; names and addresses only with --personal (they are personal data)."""
    out: dict[str, Any] = {
        "id": o.id, "store": o.store.name, "order_number": o.order_number, "status": o.status.value,
        "rakuten_status": o.channel_status, "rakuten_sub_status": o.channel_sub_status, "hold": o.hold,
        "ordered_at": o.ordered_at.isoformat(), "payment_method": o.payment_method,
        "delivery_method": o.delivery_method,
        "delivery_date": o.delivery_date.isoformat() if o.delivery_date else None, "time_slot": o.time_slot,
        "goods_total": o.goods_total, "shipping_fee": o.shipping_fee, "cod_fee": o.cod_fee,
        "discount_total": o.discount_total, "points_used": o.points_used, "tax_total": o.tax_total, "total": o.total,
        "amounts_fixed": o.amounts_fixed,
        "lines": [{"line_no": x.line_no, "sku": x.sku, "known": x.sku_id is not None, "name": x.name,
                   "quantity": x.quantity, "unit_price": x.unit_price, "tax_rate": x.tax_rate,
                   "manage_number": x.manage_number, "variant_id": x.variant_id, "sku_info": x.sku_info}
                  for x in o.lines],
        "packages": [{"basket_id": p.basket_id, "shipping_fee": p.shipping_fee, "total": p.total,
                      "carrier_code": p.carrier_code, "shipments": p.shipments,
                      **({"recipient": dataclasses.asdict(p.recipient)} if personal else {})} for p in o.packages],
        "history": [{"at": h.at.isoformat(), "from": h.from_status, "to": h.to_status, "rakuten": h.channel_status,
                     "rakuten_sub_status": h.channel_sub_status, "actor": h.actor, "note": h.note} for h in o.history],
    }  # fmt: skip
    if personal:
        out["orderer"] = dataclasses.asdict(o.orderer)
        out["shipping"] = dataclasses.asdict(o.shipping)
        out["note"] = o.note
    return out


@orders_app.command("show")
def show_order(
    number: str = typer.Argument(..., help="The order number (e.g. Rakuten's 123456-20250501-0000012345)."),
    store: int = typer.Option(None, "--store", help="The store, when two stores share a number."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
    personal: bool = typer.Option(False, "--personal", help="Include names and addresses (personal data)."),
) -> None:
    """Show one order: amounts, lines, packages and the history of both statuses (OMS and Rakuten)."""
    from sqlalchemy import select

    from kura.orders.models import Order

    with reading() as s:
        stmt = select(Order).where(Order.order_number == number.strip())
        if store is not None:
            stmt = stmt.where(Order.store_id == store)
        found = list(s.scalars(stmt))
        if not found:
            fail(f"No order {number!r}" + (f" in store {store}" if store is not None else "") + ".")
        if len(found) > 1:
            fail(f"{len(found)} stores have an order {number!r}; name one with --store.")
        data = _order_json(found[0], personal=personal)
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, default=str))
        return
    rakuten = f"  Rakuten {data['rakuten_status']}" if data["rakuten_status"] else ""
    typer.echo(f"{data['order_number']}  {data['status']}{rakuten}  {data['store']}  {data['ordered_at']}")
    if data["hold"]:
        typer.echo(f"on hold: {data['hold']}")
    typer.echo(f"total {data['total']} yen (goods {data['goods_total']}, shipping {data['shipping_fee']}, "
               f"discounts {data['discount_total']}, points {data['points_used']}) · "
               f"{data['payment_method']}")  # fmt: skip
    print_table(["line_no", "sku", "known", "name", "quantity", "unit_price"], data["lines"])
    print_table(["at", "from", "to", "rakuten", "actor", "note"], data["history"])


sync_app = typer.Typer(no_args_is_help=True, help="Sync with the sales channels.")


@sync_app.command("orders")
def sync_orders(
    store: int = typer.Option(..., "--store", help="The Rakuten store (its id)."),
    from_: str = typer.Option(
        None, "--from", help="First day (YYYY-MM-DD, JST) or an ISO time; default: history days ago."
    ),
    to: str = typer.Option(None, "--to", help="Last day (YYYY-MM-DD, JST, inclusive) or an ISO time; default: now."),
    order: list[str] = typer.Option([], "--order", help="Only this order number (repeatable)."),
) -> None:
    """Sync Orders in the foreground, with a progress bar: every order placed in the range, new or changed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from kura.channels.rakuten import orders as ordersync
    from kura.config import get_settings
    from kura.db import Database
    from kura.jobs import registry

    start, end = _when(from_, end=False), _when(to, end=True)
    db = Database(get_settings().database_url)
    registry.bind_database(db)
    try:
        with Progress(TextColumn("orders"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as bar:
            task = bar.add_task("orders", total=None)

            def progress(done: int, total: int | None = None) -> None:
                bar.update(task, completed=done, total=total)

            run = ordersync.sync_now(db, store, start, end, progress=progress, order_numbers=order)
    except KuraError as exc:
        fail(exc.message)
    finally:
        registry.unbind_database(db)
        db.dispose()
    counts = run.counts or {}
    if run.status != "done":
        fail(f"run {run.id} {run.status}: {run.error or ''}")
    summary = ", ".join(f"{k} {counts.get(k, 0)}" for k in ("found", "created", "updated", "unchanged", "failed"))
    typer.echo(f"run {run.id}: {summary}")


def _when(value: str | None, *, end: bool) -> dt.datetime | None:
    if not value:
        return None
    from kura.channels.rakuten.mapping import JST

    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            at = dt.datetime.combine(day, dt.time(23, 59, 59) if end else dt.time(0), tzinfo=JST)
            return at
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        fail(f"{value!r} is not a date (YYYY-MM-DD) or an ISO time.")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=JST)
