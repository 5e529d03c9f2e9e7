"""`kura products …`: the catalog from the command line."""

from __future__ import annotations

from typing import Any

import typer

from kura.catalog.models import Product
from kura.catalog.service import search_products
from kura.cli_areas import print_json, print_table, reading

products_app = typer.Typer(no_args_is_help=True, help="Products (single, kit, group) and their SKUs.")


def _row(p: Product) -> dict[str, Any]:
    return {
        "id": p.id,
        "type": p.type.value,
        "code": p.code,
        "name": p.name,
        "brand": p.brand,
        "selling_price": p.selling_price,
        "retail_price": p.retail_price,
        "active": p.active,
        "skus": [s.code for s in p.skus],
    }


@products_app.command("list")
def list_products(
    q: str = typer.Option(None, "--q", help="Part of the code, the name or a variant SKU."),
    type: str = typer.Option(None, "--type", help="single, kit or group."),
    limit: int = typer.Option(50, "--limit", help="At most this many (1–500), newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """List products, newest first."""
    with reading() as s:
        page = search_products(s, q=q, type=type, limit=limit)
        rows = [_row(p) for p in page.items]
        if as_json:
            from kura.stores.service import product_bindings

            bindings = product_bindings(s, [p.id for p in page.items])
            for row in rows:
                row["rakuten"] = bindings.get(row["id"], [])
    if as_json:
        print_json(rows)
        return
    for row in rows:
        row["skus"] = len(row["skus"])
    print_table(["id", "type", "code", "name", "brand", "selling_price", "active", "skus"], rows, total=page.total)
