"""`kura stock …` and `kura warehouses …`: stock levels, adjustments and warehouses from the command line."""

from __future__ import annotations

import csv
import getpass
from pathlib import Path

import typer
from rich.console import Console

from kura.catalog.service import get_sku
from kura.cli_areas import fail, print_json, print_table, reading, writing
from kura.inventory import service as inventory

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
    """A CSV with a header `sku,kind,quantity[,reference,note]` (UTF-8, with or without BOM, or Shift_JIS as Excel
    writes it in Japan); `kind` is receipt, adjustment or count."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        fail(f"Can't read {path}: {exc.strerror}.")
    for encoding in ("utf-8-sig", "cp932"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        fail(f"{path} is neither UTF-8 nor Shift_JIS text; save it as CSV (UTF-8).")
    rows = list(csv.DictReader(text.splitlines()))
    header = {h.strip().lower() for h in (rows[0].keys() if rows else [])}
    missing = {"sku", "kind", "quantity"} - header
    if not rows or missing:
        fail(f"{path} needs a header line with sku,kind,quantity (optional: reference,note) and at least one row"
             + (f"; missing: {', '.join(sorted(missing))}." if rows and missing else "."))
    lines: list[inventory.StockLine] = []
    kinds = {k.value: k for k in inventory.LineKind}
    problems: list[str] = []
    for n, row in enumerate(rows, start=2):  # line 1 is the header
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        kind = kinds.get(row["kind"].lower())
        quantity: int | None
        try:
            quantity = int(row["quantity"])
        except ValueError:
            quantity = None
        if kind is None:
            problems.append(f"line {n}: kind {row['kind']!r} is not one of receipt, adjustment, count")
        elif quantity is None:
            problems.append(f"line {n}: quantity {row['quantity']!r} is not a whole number")
        else:
            lines.append(inventory.StockLine(row["sku"], kind, quantity, row.get("reference") or None,
                                             row.get("note") or None))  # fmt: skip
    if problems:
        fail(f"{len(problems)} lines of {path} can't be read, so nothing was applied: " + "; ".join(problems[:20]))
    return lines


@stock_app.command("apply")
def apply(
    path: Path = typer.Argument(..., help="CSV: sku,kind,quantity[,reference,note]; kind = receipt|adjustment|count."),
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
