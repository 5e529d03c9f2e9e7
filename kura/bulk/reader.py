"""Streams the rows of an uploaded .xlsx or .csv without loading the file into memory.

- xlsx: openpyxl in read_only mode, row by row (python-calamine materialises a whole sheet before the first
  row, so it is not used for uploads of unbounded size).
- csv: the csv module over a text stream; UTF-8 with or without BOM, or Shift_JIS (CP932), told apart by
  decoding the first 64 KiB. One CSV holds one product type, named by a `type` column or by the caller.

Cells come back as text (SKUs never become 1980.0) or as int for whole numbers typed into number cells.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from openpyxl import load_workbook

from kura.bulk.columns import TYPE_COLUMN, TYPE_WORDS, ProductKind, normalize, sheet_kind
from kura.errors import Invalid

SNIFF_BYTES = 64 * 1024


@dataclass
class Sheet:
    """One table of rows: its name, the product type it holds, its header, and its data rows (lazily)."""

    name: str
    kind: ProductKind | None
    header: list[str]
    header_row: int
    rows: Iterator[tuple[int, list[Any]]]  # (1-based row number in the file, cells)


def cell_text(value: Any) -> str:
    """A cell as text: whole floats lose their '.0' (1980.0 → '1980'), dates become ISO, None becomes ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value).strip()


def _blank(cells: list[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def read(source: IO[bytes], filename: str, product_type: ProductKind | None = None) -> Iterator[Sheet]:
    """The sheets of an upload, by file name extension."""
    lower = filename.lower()
    if lower.endswith((".xlsx", ".xlsm")):
        yield from read_xlsx(source)
    elif lower.endswith((".csv", ".txt")):
        yield read_csv(source, product_type)
    else:
        raise Invalid("file", f"{filename!r} is neither .xlsx nor .csv; upload the template (.xlsx) or a CSV.")


def _first_row(rows: Iterator[tuple[int, list[Any]]]) -> tuple[int, list[Any]] | None:
    for number, cells in rows:
        if not _blank(cells):
            return number, cells
    return None


def open_xlsx(source: IO[bytes]) -> Any:
    """The workbook (read-only, values), or Invalid when the bytes are not one (a renamed file, an empty zip)."""
    try:
        return load_workbook(source, read_only=True, data_only=True)
    except Exception as exc:
        raise Invalid("file", f"The file is not a readable .xlsx workbook ({type(exc).__name__}); save it "
                      "from Excel as .xlsx and upload it again.") from None  # fmt: skip


def read_xlsx(source: IO[bytes]) -> Iterator[Sheet]:
    book = open_xlsx(source)
    try:
        for ws in book.worksheets:
            kind = sheet_kind(ws.title)
            if kind is None:
                continue  # the instructions sheet, or a sheet of the user's own
            ws.reset_dimensions()  # files written by other tools can carry wrong dimensions
            rows = ((i, list(r)) for i, r in enumerate(ws.iter_rows(values_only=True), 1))
            first = _first_row(rows)
            if first is None:
                continue
            number, header = first
            yield Sheet(ws.title, kind, [cell_text(h) for h in header], number, rows)
    finally:
        book.close()


def detect_encoding(head: bytes) -> str:
    """utf-8-sig with a BOM; utf-8 if the head decodes as UTF-8; otherwise cp932 (Shift_JIS as Windows writes it)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)  # a character cut at the end of the head is not an error
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        head.decode("cp932", errors="strict")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 1:  # not just a character cut at the end
            raise Invalid("file", "The CSV is neither UTF-8 nor Shift_JIS (CP932); save it as UTF-8 or as "
                          "CSV (Shift_JIS) and upload it again.") from None  # fmt: skip
    return "cp932"


def read_csv(source: IO[bytes], product_type: ProductKind | None = None) -> Sheet:
    buffered = source if isinstance(source, io.BufferedReader) else io.BufferedReader(_Raw(source), SNIFF_BYTES)
    encoding = detect_encoding(buffered.peek(SNIFF_BYTES)[:SNIFF_BYTES])
    text = io.TextIOWrapper(buffered, encoding=encoding, errors="strict", newline="")
    reader = csv.reader(text)
    rows = _csv_rows(reader)
    first = _first_row(rows)
    if first is None:
        raise Invalid("file", "The CSV is empty; fill in the template's header row and one row per product.")
    number, header = first
    kind = product_type
    type_at = next((i for i, h in enumerate(header) if normalize(h) in {normalize(t) for t in TYPE_COLUMN}), None)
    if type_at is not None:
        peeked = _peek_type(rows, type_at)
        found: ProductKind | None = next(peeked)
        kind = kind or found
        rows = peeked
    if kind is None:
        raise Invalid("type", "Say which products the CSV holds: add a `type` column (single, kit or group) or "
                      "choose the type when uploading.")  # fmt: skip
    return Sheet("CSV", kind, [cell_text(h) for h in header], number, rows)


def _csv_rows(reader: Any) -> Iterator[tuple[int, list[Any]]]:
    try:
        for cells in reader:
            yield reader.line_num, cells
    except UnicodeDecodeError as exc:
        raise Invalid("file", f"The CSV is not valid text in its encoding near line {reader.line_num + 1} "
                      f"({exc.reason}); save it again as UTF-8 or Shift_JIS.") from None  # fmt: skip


def _peek_type(rows: Iterator[tuple[int, list[Any]]], at: int) -> Iterator[Any]:  # first a kind, then rows
    """First yields the product type named in the first data row, then every row (that one included)."""
    first = _first_row(rows)
    word = normalize(first[1][at]) if first and at < len(first[1]) else ""
    yield next((kind for w, kind in TYPE_WORDS.items() if normalize(w) == word), None)
    if first is not None:
        yield first
    yield from rows


class _Raw(io.RawIOBase):
    """Adapts any binary file object (an upload's SpooledTemporaryFile) to a raw stream for BufferedReader."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._f.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
