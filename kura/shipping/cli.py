"""`kura orders ship|pack|label|return|returns|ship-from|track|report-shipping`: fulfilment from the command line."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from kura.cli_areas import _database, fail, print_json, print_table
from kura.db import Database
from kura.errors import KuraError
from kura.inventory.service import get_warehouse, get_warehouse_by_code
from kura.orders.models import Order
from kura.shipping import service as shipping


@contextmanager
def _db() -> Iterator[Database]:
    try:
        with _database() as database:
            yield database
    except KuraError as exc:
        fail(exc.message)


def _order_id(db: Database, number: str, store: int | None) -> int:
    with db.reader() as s:
        stmt = select(Order.id).where(Order.order_number == number.strip())
        if store is not None:
            stmt = stmt.where(Order.store_id == store)
        found = list(s.scalars(stmt))
    if not found:
        fail(f"No order {number!r}" + (f" in store {store}" if store is not None else "") + ".")
    if len(found) > 1:
        fail(f"{len(found)} stores have an order {number!r}; name one with --store.")
    return found[0]


def _warehouse(s: Session, value: str | None) -> int | None:
    if value is None:
        return None
    return get_warehouse(s, int(value)).id if value.isdigit() else get_warehouse_by_code(s, value).id


def _lines(values: list[str]) -> dict[str | int, int]:
    out: dict[str | int, int] = {}
    for value in values:
        sku, sep, qty = value.rpartition(":")
        if not sep or not sku or not qty.isdigit():
            fail(f"--line {value!r}: write SKU:QTY, e.g. --line ABC-1:2.")
        out[sku] = out.get(sku, 0) + int(qty)
    return out


def register(orders_app: typer.Typer) -> None:
    """Adds the fulfilment commands to `kura orders`."""

    @orders_app.command("ship")
    def ship(
        number: str = typer.Argument(..., help="The order number."),
        carrier: str = typer.Option("yamato", "--carrier", help="yamato, sagawa, japanpost or other."),
        code: str = typer.Option(None, "--code", help="Rakuten carrier code for --carrier other (1000–1031)."),
        tracking: str = typer.Option(None, "--tracking", help="The number on the slip (carriers without an API)."),
        date: str = typer.Option(None, "--date", help="Shipping date YYYY-MM-DD (default: today in Japan)."),
        store: int = typer.Option(None, "--store", help="The store, when two stores share a number."),
    ) -> None:
        """Ship an order: allocate if needed, one parcel with the carrier, mark shipped, queue the Rakuten report."""
        chosen = code if carrier.strip().lower() == "other" and code else carrier
        if carrier.strip().lower() == "other" and not tracking:
            fail("--carrier other needs --tracking (the number on the slip).")
        with _db() as db:
            order_id = _order_id(db, number, store)
            when = dt.date.fromisoformat(date) if date else None
            order = shipping.ship(db, order_id, chosen, tracking_number=tracking, shipped_on=when, actor="cli")
            with db.reader() as s:
                parcels = shipping.parcels_of(s, order_id)
                rows = [{"parcel": p.id, "carrier": p.carrier_code, "tracking_number": p.tracking_number,
                         "status": p.status.value, "report": p.report_status.value} for p in parcels]  # fmt: skip
        typer.echo(f"{number}: {order.status}")
        print_table(["parcel", "carrier", "tracking_number", "status", "report"], rows)

    @orders_app.command("pack")
    def pack(number: str = typer.Argument(...), store: int = typer.Option(None, "--store")) -> None:
        """RFP → Packed."""
        with _db() as db:
            order_id = _order_id(db, number, store)
            with db.transaction() as s:
                typer.echo(f"{number}: {shipping.pack(s, order_id, actor='cli').status}")

    @orders_app.command("label")
    def label(
        numbers: list[str] = typer.Argument(..., help="One or more order numbers."),
        out: Path = typer.Option(Path("labels.pdf"), "--out", help="Where to write the PDF."),
        carrier: str = typer.Option("yamato", "--carrier", help="For orders that have no parcel yet."),
    ) -> None:
        """Print labels (one PDF) for orders, creating their parcels first where they have none."""
        with _db() as db:
            ids = [_order_id(db, n, None) for n in numbers]
            pdf, result = shipping.print_labels(db, ids, carrier=carrier, actor="cli")
        out.write_bytes(pdf)
        for order_id, error in result.failed.items():
            typer.echo(f"order {order_id}: {error}", err=True)
        typer.echo(f"wrote {out} ({len(pdf)} bytes)")

    @orders_app.command("return")
    def record_return(
        number: str = typer.Argument(..., help="The order number."),
        line: list[str] = typer.Option(..., "--line", help="SKU:QTY, repeatable."),
        reason: str = typer.Option(..., "--reason", help="Why the goods come back."),
        warehouse: str = typer.Option(None, "--warehouse", help="Where they go back (code or id)."),
        approve: bool = typer.Option(False, "--approve", help="Approve it at once."),
        putaway: bool = typer.Option(False, "--putaway", help="Approve and put it away (needs --warehouse)."),
        complete: bool = typer.Option(False, "--complete", help="…and complete it."),
        store: int = typer.Option(None, "--store"),
    ) -> None:
        """Record a return; optionally approve, put away (restock) and complete it in one go."""
        lines = _lines(line)
        with _db() as db:
            order_id = _order_id(db, number, store)
            with db.transaction() as s:
                ret = shipping.record_return(
                    s, order_id, lines, reason, warehouse_id=_warehouse(s, warehouse), actor="cli"
                )
                if approve or putaway or complete:
                    shipping.approve_return(s, ret.id, actor="cli")
                if putaway:
                    shipping.putaway_return(s, ret.id, actor="cli")
                if complete:
                    shipping.complete_return(s, ret.id, actor="cli")
                typer.echo(f"return {ret.id}: {ret.status.value}")

    @orders_app.command("return-step")
    def return_step(
        return_id: int = typer.Argument(..., help="The return's id."),
        step: str = typer.Argument(..., help="approve, reject, putaway or complete."),
        warehouse: str = typer.Option(None, "--warehouse", help="For putaway: the warehouse (code or id)."),
    ) -> None:
        """Move a return on: approve, reject, putaway (restocks) or complete."""
        with _db() as db, db.transaction() as s:
            actions = {
                "approve": lambda: shipping.approve_return(s, return_id, actor="cli"),
                "reject": lambda: shipping.reject_return(s, return_id, actor="cli"),
                "putaway": lambda: shipping.putaway_return(s, return_id, _warehouse(s, warehouse), actor="cli"),
                "complete": lambda: shipping.complete_return(s, return_id, actor="cli"),
            }
            if step not in actions:
                fail(f"Unknown step {step!r}; use approve, reject, putaway or complete.")
            typer.echo(f"return {return_id}: {actions[step]().status.value}")

    @orders_app.command("returns")
    def list_returns(
        status: str = typer.Option(None, "--status"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """List returns, newest first."""
        with _db() as db, db.reader() as s:
            rows_, total = shipping.list_returns(s, status=status, limit=200)
            numbers = dict(
                s.execute(select(Order.id, Order.order_number).where(Order.id.in_([r.order_id for r in rows_]))).all()
            )
            rows = [{"id": r.id, "order": numbers.get(r.order_id), "status": r.status.value, "reason": r.reason,
                     "units": sum(x.quantity for x in r.lines), "created_at": r.created_at.isoformat()} for r in rows_]  # fmt: skip  # noqa: E501
        if as_json:
            print_json(rows)
        else:
            print_table(["id", "order", "status", "reason", "units", "created_at"], rows, total=total)

    @orders_app.command("ship-from")
    def set_ship_from(
        store: int = typer.Option(..., "--store"),
        name: str = typer.Option(..., "--name"),
        postal_code: str = typer.Option(..., "--postal-code"),
        prefecture: str = typer.Option(..., "--prefecture"),
        address1: str = typer.Option(..., "--address1"),
        address2: str = typer.Option(None, "--address2"),
        phone: str = typer.Option(..., "--phone"),
    ) -> None:
        """The sender address printed on a store's labels."""
        with _db() as db, db.transaction() as s:
            value = shipping.set_ship_from(s, store, {"name": name, "postal_code": postal_code, "prefecture": prefecture,  # noqa: E501
                                                      "address_line1": address1, "address_line2": address2,
                                                      "phone": phone})  # fmt: skip
        typer.echo(f"store {store} ships from {value['postal_code']} {value['prefecture']}{value['address_line1']}")

    @orders_app.command("track")
    def track() -> None:
        """Ask the carriers about parcels in transit now (the scheduled poll does this on its own)."""
        with _db() as db:
            typer.echo(str(shipping.track(db)))

    @orders_app.command("report-shipping")
    def report(
        store: int = typer.Option(..., "--store"), mode: str = typer.Option(None, "--mode", help="auto, sync or async")
    ) -> None:
        """Send the store's due shipping reports to Rakuten now."""
        from kura.channels.rakuten import shipping as rakuten_shipping

        with _db() as db:
            typer.echo(str(rakuten_shipping.report_due(db, store, mode=mode)))
