"""`kura products upload|list-on|hide|unhide|delist`: bulk upload and Rakuten listings from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from kura.channels.rakuten.errors import RmsError
from kura.cli_areas import _database, fail, print_json, print_table
from kura.errors import KuraError, NotFound


def _product_ids(db: Any, codes: list[str]) -> list[int]:
    from kura.catalog.service import get_product_by_code, get_sku

    ids = []
    with db.reader() as s:
        for code in codes:
            try:
                ids.append(get_product_by_code(s, code).id)
            except KuraError:
                try:
                    ids.append(get_sku(s, code).product_id)  # a variant's SKU names its group
                except KuraError:
                    raise NotFound(f"No product or SKU {code!r} (codes are case-sensitive).") from None
    return ids


def upload(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help=".xlsx (the template) or .csv."),
    store: int = typer.Option(None, "--store", help="Also list the uploaded products on this Rakuten store."),
    type: str = typer.Option(None, "--type", help="single, kit or group: the type of a CSV without a type column."),
    check: bool = typer.Option(False, "--check", help="Check every row, change nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Upload products from an Excel template or a CSV; writes <file>.report.xlsx next to it."""
    from kura.bulk.upload import process

    if type not in (None, "single", "kit", "group"):
        fail(f"--type must be single, kit or group, not {type!r}.")
    report = file.with_name(f"{file.stem}.report.xlsx")
    try:
        with _database() as db, file.open("rb") as f:
            summary = process(db, f, file.name, report_path=report, store_id=store, product_type=type,  # type: ignore[arg-type]
                              dry_run=check)  # fmt: skip
    except KuraError as exc:
        fail(exc.message)
    data = summary.to_dict()
    if as_json:
        print_json([{k: v for k, v in data.items() if k != "problems"} | {"report": str(report)}])
        return
    console = Console(highlight=False)
    console.print(f"{summary.rows} rows: {summary.created} created, {summary.updated} updated, "
                  f"{summary.products_failed} products with problems ({summary.rows_failed} rows)"
                  + (f", {summary.queued_for_listing} queued for listing on store {store}" if store else "")
                  + (" — check only, nothing changed" if check else "") + ".")  # fmt: skip
    if summary.problems:
        print_table(["sheet", "row", "column", "value", "message", "fix"],
                    [p.to_dict() for p in summary.problems[:20]], total=summary.problem_count)  # fmt: skip
    console.print(f"Report: {escape(str(report))}")
    if summary.problem_count:
        raise typer.Exit(2)


def list_on(
    codes: list[str] = typer.Argument(..., help="Product codes or SKUs."),
    store: int = typer.Option(..., "--store", help="The Rakuten store."),
    manage_number: str = typer.Option(None, "--manage-number", help="List one product under this manage number."),
) -> None:
    """List products on a Rakuten store (items.upsert with prices and initial stock)."""
    from kura.channels.rakuten.listing import list_product

    rows: list[dict[str, Any]] = []
    failed = False
    with _database() as db:
        try:
            ids = _product_ids(db, codes)
            for product_id in ids:
                result = list_product(db, store, product_id, manage_number=manage_number if len(ids) == 1 else None)
                failed |= bool(result.problems)
                rows.append({"code": result.code, "manage_number": result.manage_number,
                             "result": ("created" if result.created else "updated") if result.listed else "refused",
                             "problems": "; ".join(f"{p.field}: {p.message} → {p.fix}" for p in result.problems)
                             or "; ".join(result.warnings)})  # fmt: skip
        except (KuraError, RmsError) as exc:
            fail(getattr(exc, "message", str(exc)))
    print_table(["code", "manage_number", "result", "problems"], rows)
    if failed:
        raise typer.Exit(2)


def _set_hidden(codes: list[str], store: int, hidden: bool) -> None:
    from kura.channels.rakuten.listing import set_hidden

    with _database() as db:
        try:
            for product_id in _product_ids(db, codes):
                mn = set_hidden(db, store, product_id, hidden)
                typer.echo(f"{mn}: {'deactivated (in the warehouse)' if hidden else 'activated (on sale)'}")
        except (KuraError, RmsError) as exc:
            fail(getattr(exc, "message", str(exc)))


def hide(codes: list[str] = typer.Argument(...), store: int = typer.Option(..., "--store")) -> None:
    """Deactivate listings on Rakuten (hideItem: in the warehouse, not on sale)."""
    _set_hidden(codes, store, True)


def unhide(codes: list[str] = typer.Argument(...), store: int = typer.Option(..., "--store")) -> None:
    """Activate listings on Rakuten again."""
    _set_hidden(codes, store, False)


def delist(
    codes: list[str] = typer.Argument(...),
    store: int = typer.Option(..., "--store"),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Delete items from Rakuten (items.delete); the products stay in Kura."""
    from kura.channels.rakuten.listing import delete_listing

    if not yes:
        typer.confirm(f"Delete {len(codes)} item(s) from Rakuten store {store}?", abort=True)
    with _database() as db:
        try:
            for product_id in _product_ids(db, codes):
                typer.echo(f"{delete_listing(db, store, product_id)}: deleted from Rakuten")
        except (KuraError, RmsError) as exc:
            fail(getattr(exc, "message", str(exc)))


def register(products_app: typer.Typer) -> None:
    if any(c.name == "upload" for c in products_app.registered_commands):
        return
    products_app.command("upload")(upload)
    products_app.command("list-on")(list_on)
    products_app.command("hide")(hide)
    products_app.command("unhide")(unhide)
    products_app.command("delist")(delist)
