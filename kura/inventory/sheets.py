"""Reads a stock sheet (a goods receipt or a stock count) from CSV or Excel into the lines of a stock batch.

The header is `sku,kind,quantity[,reference,note]` in any order and case; `kind` is receipt, adjustment or count
(`LineKind`). A CSV is UTF-8 (with or without BOM) or Shift_JIS as Excel writes it in Japan; an .xlsx is read with
openpyxl in read-only mode, from its first sheet that has the header. Blank rows are skipped. Every bad line is
named (the CSV's line, the workbook's row) and nothing is returned unless every line reads.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator

from openpyxl import load_workbook

from kura import i18n
from kura.bulk.reader import cell_text
from kura.errors import Invalid
from kura.inventory.service import MAX_LINE_QUANTITY as MAX_QUANTITY
from kura.inventory.service import NOTE_MAX, REFERENCE_MAX, LineKind, StockLine

MAX_SHEET_BYTES = 5 * 1024 * 1024  # ~50 times a 10,000-line batch (the most `apply_lines` takes)
REQUIRED = ("sku", "kind", "quantity")
_PROBLEMS_SHOWN = 20
_KINDS = {kind.value: kind for kind in LineKind}
_ZIP = b"PK\x03\x04"  # an .xlsx is a zip, whatever its name says
_OLE = b"\xd0\xcf\x11\xe0"  # an old .xls

# fmt: off
TEMPLATE_CSV = (
    "sku,kind,quantity,reference,note\r\n"
    "TEE-RED-M,receipt,12,GR-1001,入荷\r\n"
    "MUG-1,count,30,,棚卸し\r\n"
).encode("utf-8-sig")  # with a BOM, so that Excel opens the Japanese notes as UTF-8
# fmt: on


Rows = Iterator[tuple[int, list[str]]]  # (line or row number in the file, cells as text)


def read_stock_sheet(data: bytes, name: str) -> list[StockLine]:
    """The lines of a stock sheet, in order; `name` is the file's name (its extension picks CSV or .xlsx).
    Raises Invalid("file", …) naming what to fix: the size, the encoding, the header, or each bad line.
    Callers may read at most MAX_SHEET_BYTES + 1 bytes of a file: more is refused anyway."""
    if len(data) > MAX_SHEET_BYTES:
        raise Invalid(
            "file",
            i18n.gettext(
                "{name} is larger than {limit} MB, the most a stock sheet can be; split it into several sheets."
            ).format(name=name, limit=MAX_SHEET_BYTES >> 20),
        )
    if data.startswith(_OLE):
        raise Invalid("file", i18n.gettext("{name} is an old Excel file (.xls); save it as .xlsx or as CSV and try "
                                           "again.").format(name=name))  # fmt: skip
    if data.startswith(_ZIP) or name.lower().endswith((".xlsx", ".xlsm")):
        return _lines(_xlsx_rows(data, name), name, i18n.gettext("row {n}"))
    return _lines(_csv_rows(data, name), name, i18n.gettext("line {n}"))


def _csv_rows(data: bytes, name: str) -> Rows:
    for encoding in ("utf-8-sig", "cp932"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise Invalid("file", i18n.gettext("{name} is neither UTF-8 nor Shift_JIS text; save it as CSV (UTF-8) or as "
                                           "an Excel workbook (.xlsx).").format(name=name))  # fmt: skip
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    try:
        for cells in reader:
            yield start, [cell.strip() for cell in cells]
            start = reader.line_num + 1
    except csv.Error as exc:
        raise Invalid("file", i18n.gettext("{name} can't be read as CSV near line {n} ({error}).").format(
            name=name, n=reader.line_num, error=exc)) from None  # fmt: skip


def _xlsx_rows(data: bytes, name: str) -> Rows:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # a renamed file, a broken zip: openpyxl raises many kinds
        raise Invalid("file", i18n.gettext("{name} is not a readable Excel workbook; save it from Excel as .xlsx "
                                           "(or as CSV) and try again.").format(name=name)) from None  # fmt: skip
    try:
        headers: list[tuple[int, list[str]]] = []
        for ws in book.worksheets:
            ws.reset_dimensions()  # files written by other tools can carry wrong dimensions
            rows = ((n, [cell_text(v) for v in values]) for n, values in enumerate(ws.iter_rows(values_only=True), 1))
            first = next(((n, cells) for n, cells in rows if any(cells)), None)
            if first is not None and not _missing(first[1]):
                yield first
                yield from rows
                return
            headers += [first] if first is not None else []
        yield from headers[:1]  # no sheet has the header: the first one's says what is missing
    finally:
        book.close()


def _missing(header: list[str]) -> list[str]:
    names = {_column(h) for h in header}
    return [column for column in REQUIRED if column not in names]


def _column(heading: str) -> str:
    return heading.strip().lower()


def _lines(rows: Rows, name: str, where: str) -> list[StockLine]:
    first = next(((n, cells) for n, cells in rows if any(cells)), None)
    missing = _missing(first[1]) if first is not None else list(REQUIRED)
    if missing:
        raise Invalid("file", i18n.gettext("{name} needs a header line with sku,kind,quantity (optional: "
                                           "reference,note) and at least one line below it; missing: "
                                           "{missing}.").format(name=name, missing=", ".join(missing)),
                      missing=missing)  # fmt: skip
    assert first is not None
    at = {_column(h): i for i, h in reversed(list(enumerate(first[1])))}  # the first of a repeated heading wins
    lines: list[StockLine] = []
    problems: list[str] = []
    for n, cells in rows:
        if not any(cells):
            continue
        line = _line({column: (cells[i] if i < len(cells) else "") for column, i in at.items()})
        if isinstance(line, str):
            problems.append(f"{where.format(n=n)}: {line}")
        else:
            lines.append(dataclasses.replace(line, line=n))  # apply_lines names it by its line in the file
    if problems:
        shown = "; ".join(problems[:_PROBLEMS_SHOWN])
        if len(problems) > _PROBLEMS_SHOWN:
            shown += i18n.gettext(" (and {more} more)").format(more=len(problems) - _PROBLEMS_SHOWN)
        message = i18n.ngettext(
            "{count} line of {name} can't be read, so nothing was applied: {problems}.",
            "{count} lines of {name} can't be read, so nothing was applied: {problems}.",
            len(problems),
        )
        raise Invalid("file", message.format(count=len(problems), name=name, problems=shown), lines=problems[:100])
    if not lines:
        raise Invalid("file", i18n.gettext("{name} has a header but no lines below it; add one line per SKU.").format(
            name=name))  # fmt: skip
    return lines


def _line(row: dict[str, str]) -> StockLine | str:
    """One line, or what is wrong with it."""
    sku, kind, quantity = row["sku"], _KINDS.get(row["kind"].lower()), _whole(row["quantity"])
    reference, note = row.get("reference", ""), row.get("note", "")
    if not sku:
        return i18n.gettext("the sku is empty")
    if kind is None:
        return i18n.gettext("kind {kind!r} is not one of receipt, adjustment, count").format(kind=row["kind"])
    if quantity is None:
        return i18n.gettext("quantity {quantity!r} is not a whole number").format(quantity=row["quantity"])
    if abs(quantity) > MAX_QUANTITY:
        return i18n.gettext("quantity {quantity} is beyond ±{limit:,}").format(quantity=quantity, limit=MAX_QUANTITY)
    for column, text, limit in (("reference", reference, REFERENCE_MAX), ("note", note, NOTE_MAX)):
        if len(text) > limit:
            return i18n.gettext("the {column} is longer than {limit} characters").format(column=column, limit=limit)
    return StockLine(sku, kind, quantity, reference or None, note or None)


def _whole(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None
