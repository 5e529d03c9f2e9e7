"""`kura orders …`: the order list from the command line."""

from __future__ import annotations

import typer

from kura.cli_areas import print_json, print_table, reading
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
             "total": o.total, "lines": len(o.lines)}
            for o in page.items
        ]  # fmt: skip
    if as_json:
        print_json(rows)
    else:
        print_table(["id", "store", "order_number", "status", "ordered_at", "orderer", "total", "lines"], rows,
                    total=page.total)  # fmt: skip
