"""`kura stock …` and `kura warehouses …`: stock levels, adjustments and warehouses from the command line."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer
from rich.console import Console

from kura import i18n
from kura.catalog.service import get_sku
from kura.cli_areas import fail, print_json, print_table, reading, writing
from kura.errors import Invalid
from kura.inventory import service as inventory
from kura.inventory.sheets import MAX_SHEET_BYTES, read_stock_sheet

stock_app = typer.Typer(no_args_is_help=True, help="Stock levels and changes (every change is in the ledger).")
warehouses_app = typer.Typer(no_args_is_help=True, help="Warehouses.")
console = Console(highlight=False)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in some containers
        return "cli"


@stock_app.command("adjust")
def adjust(
    sku: str = typer.Option(..., "--sku", help="The SKU (case-sensitive)."),
    warehouse: str = typer.Option(..., "--warehouse", help="The warehouse code, e.g. TOKYO-1."),
    delta: int = typer.Option(..., "--delta", help="Units to add (+) or take off (−)."),
    reason: str = typer.Option(..., "--reason", help="Why, kept in the ledger: 'damaged', 'stock count', …"),
) -> None:
    """Correct on-hand stock of a SKU in a warehouse by DELTA units."""
    if not reason.strip():
        fail("--reason is needed: say why the stock changes (it is kept in the ledger).")
    with writing() as s:
        where = inventory.get_warehouse_by_code(s, warehouse)
        m = inventory.adjust(s, where.id, sku, delta, note=reason.strip()[:500], actor=_actor())
        line = (f"{m.sku.code} in {where.code}: on hand {m.on_hand_after - m.on_hand_change} → {m.on_hand_after}, "
                f"available {m.on_hand_after - m.reserved_after}")  # fmt: skip
    console.print(line, markup=False)


def _read_sheet(path: Path) -> list[inventory.StockLine]:
    """The lines of a stock sheet (`kura.inventory.sheets`), or one red line saying what to fix."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_SHEET_BYTES + 1)  # more is refused anyway
    except OSError as exc:
        fail(f"Can't read {path}: {exc.strerror}.")
    english = i18n.current_locale.set("en")  # the CLI speaks English; pages speak the user's language
    try:
        return read_stock_sheet(raw, str(path))
    except Invalid as exc:
        fail(exc.message)
    finally:
        i18n.current_locale.reset(english)


@stock_app.command("apply")
def apply(
    path: Path = typer.Argument(
        ..., help="CSV or .xlsx: sku,kind,quantity[,reference,note]; kind = receipt|adjustment|count."
    ),
    warehouse: str = typer.Option(..., "--warehouse", help="The warehouse code, e.g. TOKYO-1."),
    reference: str = typer.Option(None, "--reference", help="For lines without their own, e.g. a receipt number."),
    as_json: bool = typer.Option(False, "--json", help="Print each line's result as JSON."),
) -> None:
    """Apply a goods receipt or stock count sheet: every line in order, all or nothing, one ledger entry each."""
    lines = _read_sheet(path)
    with writing() as s:
        where = inventory.get_warehouse_by_code(s, warehouse)
        results = inventory.apply_lines(s, where.id, lines, reference=reference, actor=_actor())
        code = where.code
    if as_json:
        print_json([{"sku": r.sku, "on_hand": r.on_hand, "reserved": r.reserved, "change": r.change}
                    for r in results])  # fmt: skip
        return
    changed = sum(1 for r in results if r.change)
    console.print(f"{len(results)} lines applied in {code}: {changed} changed stock, "
                  f"{len(results) - changed} already right.", markup=False)  # fmt: skip


@stock_app.command("levels")
def levels(
    sku: str = typer.Option(None, "--sku", help="Only this SKU."),
    warehouse: str = typer.Option(None, "--warehouse", help="Only this warehouse (code)."),
    limit: int = typer.Option(500, "--limit", help="At most this many rows (1–500)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """On hand, reserved and available per SKU and warehouse."""
    with reading() as s:
        if sku is not None:
            get_sku(s, sku)
        warehouse_id = inventory.get_warehouse_by_code(s, warehouse).id if warehouse is not None else None
        page = inventory.list_stock(s, sku=sku, warehouse_id=warehouse_id, limit=limit)
    rows = [
        {"sku": r.sku, "product_name": r.product_name, "warehouse": r.warehouse_code,
         "on_hand": r.on_hand, "reserved": r.reserved, "available": r.available}
        for r in page.items
    ]  # fmt: skip
    if as_json:
        print_json(rows)
    else:
        print_table(["sku", "product_name", "warehouse", "on_hand", "reserved", "available"], rows, total=page.total)


@warehouses_app.command("create")
def create_warehouse(
    code: str = typer.Argument(..., help="Short and unique, e.g. TOKYO-1."),
    name: str = typer.Argument(..., help="A name people recognise."),
) -> None:
    """Add a warehouse."""
    with writing() as s:
        w = inventory.create_warehouse(s, code, name)
        line = f"warehouse {w.code} ({w.name}) created, id {w.id}"
    console.print(line, markup=False)


@warehouses_app.command("list")
def list_warehouses(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """The warehouses, oldest first."""
    with reading() as s:
        rows = [{"id": w.id, "code": w.code, "name": w.name, "active": w.active} for w in inventory.list_warehouses(s)]
    if as_json:
        print_json(rows)
    else:
        print_table(["id", "code", "name", "active"], rows)
