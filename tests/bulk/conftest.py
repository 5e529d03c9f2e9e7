"""Bulk fixtures: build upload files (xlsx from the real templates, CSV in any encoding)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook, load_workbook

from kura.bulk.columns import COLUMNS, SHEET_NAMES, ProductKind
from kura.bulk.templates import template
from tests.listing.conftest import fast_clients, store_id, test_queue  # noqa: F401
from tests.web.conftest import admin, api, app_client, settings  # noqa: F401


def workbook(sheets: dict[ProductKind, Sequence[dict[str, Any]]]) -> bytes:
    """A filled template: one sheet per kind, values by column key."""
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for kind, rows in sheets.items():
        ws = book.create_sheet(SHEET_NAMES[kind])
        keys = [c.key for c in COLUMNS[kind]]
        ws.append([c.header for c in COLUMNS[kind]])
        for row in rows:
            ws.append([row.get(k) for k in keys])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def from_template(kind: ProductKind, rows: Sequence[dict[str, Any]]) -> bytes:
    """The downloadable template itself, filled in (as a person would do it)."""
    book = load_workbook(io.BytesIO(template(kind)))
    ws = book[SHEET_NAMES[kind]]
    keys = [c.key for c in COLUMNS[kind]]
    for i, row in enumerate(rows, 2):
        for j, key in enumerate(keys, 1):
            if key in row:
                ws.cell(row=i, column=j, value=row[key])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(kind: ProductKind, rows: Sequence[dict[str, Any]], encoding: str, *, type_column: bool = True,
              japanese_headers: bool = True) -> bytes:  # fmt: skip
    columns = COLUMNS[kind]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    header = [c.ja if japanese_headers else c.en for c in columns]
    writer.writerow((["type"] if type_column else []) + header)
    for row in rows:
        writer.writerow(([kind] if type_column else []) + ["" if row.get(c.key) is None else row[c.key]
                                                             for c in columns])  # fmt: skip
    return text.getvalue().encode(encoding)
