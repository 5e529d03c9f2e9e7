"""Applies an uploaded product file: every row is checked, every problem reported with sheet, row, column and the
fix; valid products are created or updated, invalid ones change nothing.

- A single product is one row. A kit is one row per component and a group one row per variant, their rows
  together; a kit or a group is all-or-nothing (one bad row keeps the whole kit or group out).
- Products are applied in batches of about `batch_rows` rows per transaction, each product in a savepoint of
  its own, so a product the catalog refuses rolls back alone. Memory stays bounded: rows stream from the file,
  problems stream into the report (.xlsx, openpyxl write_only), and only the first few are kept for the page.
- A code that exists already updates that product (only the cells filled in change); a new one is created.
- With a store, the applied products are queued for listing on it (outbox kind "listing"); the listing job
  calls RMS after the commit. The listing rules (Rakuten codes, the one-price rule) are checked per row first.
"""

from __future__ import annotations

import contextlib
import logging
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kura.bulk.columns import COLUMNS, TYPE_COLUMN, TYPE_WORDS, Column, ProductKind, header_index, normalize
from kura.bulk.models import BulkUpload
from kura.bulk.reader import Sheet, cell_text, open_xlsx, read
from kura.catalog import service as catalog
from kura.catalog.models import Product, ProductType, Sku, product_search_text
from kura.db import Database, utcnow
from kura.errors import Invalid, KuraError

log = logging.getLogger(__name__)

BATCH_ROWS = 500
SHOWN_PROBLEMS = 200
_APPLY_ORDER: dict[ProductKind, int] = {"single": 0, "group": 1, "kit": 2}  # kits may use the others' SKUs


def _printable(value: Any) -> Any:
    """Text from the upload as a report cell or a JSON summary can hold it: control characters (a NUL in a cell)
    become U+FFFD; openpyxl refuses them, and PostgreSQL refuses a NUL in text and JSON."""
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value) if isinstance(value, str) else value


@dataclass(frozen=True)
class RowProblem:
    sheet: str
    row: int
    column: str  # "C 販売価格 / Selling price", or "" for the whole row
    value: str
    message: str
    fix: str

    def __post_init__(self) -> None:
        for name in ("sheet", "column", "value", "message", "fix"):
            object.__setattr__(self, name, _printable(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        return {"sheet": self.sheet, "row": self.row, "column": self.column, "value": self.value,
                "message": self.message, "fix": self.fix}  # fmt: skip


@dataclass
class Summary:
    filename: str
    upload_id: int | None = None
    rows: int = 0
    created: int = 0
    updated: int = 0
    products_failed: int = 0
    rows_failed: int = 0
    problem_count: int = 0
    queued_for_listing: int = 0
    store_id: int | None = None
    dry_run: bool = False
    sheets: dict[str, int] = field(default_factory=dict)  # sheet → data rows
    problems: list[RowProblem] = field(default_factory=list)  # the first SHOWN_PROBLEMS
    report_path: str | None = None

    @property
    def applied(self) -> int:
        return self.created + self.updated

    def to_dict(self) -> dict[str, Any]:
        return {"filename": self.filename, "upload_id": self.upload_id, "rows": self.rows, "created": self.created,
                "updated": self.updated, "products_failed": self.products_failed, "rows_failed": self.rows_failed,
                "problem_count": self.problem_count, "queued_for_listing": self.queued_for_listing,
                "store_id": self.store_id, "dry_run": self.dry_run, "sheets": self.sheets,
                "problems": [p.to_dict() for p in self.problems]}  # fmt: skip


# ------------------------------------------------------------------------------------------------ report


class Report:
    """The downloadable report: a summary sheet and one row per problem, streamed to disk (write_only)."""

    HEADER = ("シート / Sheet", "行 / Row", "列 / Column", "値 / Value", "問題 / Problem", "直し方 / How to fix")

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._book = Workbook(write_only=True) if path else None
        if self._book is not None:
            self._summary = self._book.create_sheet("概要 Summary")
            self._problems = self._book.create_sheet("問題 Problems")
            self._problems.append(self.HEADER)

    def add(self, problem: RowProblem) -> None:
        if self._book is not None:
            self._problems.append((problem.sheet, problem.row, problem.column, problem.value, problem.message,
                                   problem.fix))  # fmt: skip

    def finish(self, summary: Summary) -> None:
        if self._book is None or self.path is None:
            return
        for label, value in (
            ("ファイル / File", summary.filename), ("行数 / Rows", summary.rows),
            ("新規 / Created", summary.created), ("更新 / Updated", summary.updated),
            ("エラーの商品 / Products with errors", summary.products_failed),
            ("エラーの行 / Rows with errors", summary.rows_failed), ("問題 / Problems", summary.problem_count),
            ("出品待ち / Queued for listing", summary.queued_for_listing),
            ("確認のみ / Check only", "yes" if summary.dry_run else "no"),
        ):  # fmt: skip
            self._summary.append((label, value))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._book.save(self.path)


# ------------------------------------------------------------------------------------------------ values


class CellError(Exception):
    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


def _yen(text: str, column: Column) -> int:
    cleaned = unicodedata.normalize("NFKC", text).replace(",", "").replace("¥", "").replace("円", "").strip()
    if re.fullmatch(r"\d+(\.0+)?", cleaned):
        value = int(cleaned.split(".")[0])
        if value <= catalog.MAX_PRICE:
            return value
    raise CellError(f"{text[:40]!r} is not a whole number of yen up to {catalog.MAX_PRICE:,}.",
                    f"Enter whole yen without decimals, e.g. 1980. {column.help_en}")  # fmt: skip


def _plain(text: str, column: Column) -> str:
    if "\x00" in text:  # PostgreSQL can't store it (and the report could not show it)
        raise CellError("The cell contains a NUL character.", "Retype the cell's text; it has an invisible character.")
    return text


def _int(text: str, column: Column) -> int:
    cleaned = unicodedata.normalize("NFKC", text).strip()
    if re.fullmatch(r"\d+(\.0+)?", cleaned) and int(float(cleaned)) >= 1:
        return int(float(cleaned))
    raise CellError(f"{text!r} is not a whole number ≥ 1.", column.help_en or "Enter a whole number ≥ 1.")


def _flag(text: str, column: Column) -> bool:
    word = normalize(text)
    if word in ("1", "true", "yes", "y", "on", "有効", "はい", "○"):
        return True
    if word in ("0", "false", "no", "n", "off", "無効", "いいえ", "×"):
        return False
    raise CellError(f"{text!r} is not 1 or 0.", "Enter 1 (on sale) or 0 (inactive).")


def _list(text: str, column: Column) -> list[str]:
    return [part.strip() for part in re.split(r"[|\n]", _plain(text, column)) if part.strip()]


def _code(text: str, column: Column) -> str:
    try:
        return catalog.clean_sku(text, column.key)
    except Invalid as exc:
        raise CellError(exc.message, "Use a code of at most 100 characters without line breaks.") from None


_PARSERS: dict[str, Callable[[str, Column], Any]] = {
    "text": _plain, "code": _code, "yen": _yen, "int": _int, "flag": _flag, "list": _list,
}  # fmt: skip


# ------------------------------------------------------------------------------------------------ rows → products


@dataclass
class Row:
    number: int
    values: dict[str, Any]  # column key → parsed value (filled cells only)
    raw: dict[str, str]


@dataclass
class Draft:
    """One product's rows, as read; `problems` decide whether it is applied."""

    kind: ProductKind
    code: str
    rows: list[Row] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


class SheetParser:
    """Turns a sheet's rows into product drafts, checking each cell against its column."""

    def __init__(self, sheet: Sheet, kind: ProductKind) -> None:
        self.sheet = sheet
        self.kind = kind
        index = header_index(kind)
        self.columns: dict[int, Column] = {}
        self.labels: dict[str, str] = {}
        self.type_at: int | None = None
        self.header_problems: list[RowProblem] = []
        for i, text in enumerate(sheet.header):
            if not text:
                continue
            column = index.get(normalize(text))
            if column is not None and column.key not in self.labels:
                self.columns[i] = column
                self.labels[column.key] = f"{get_column_letter(i + 1)} {text}"
            elif normalize(text) in {normalize(t) for t in TYPE_COLUMN}:
                self.type_at = i
        for column in COLUMNS[kind]:
            if column.required and column.key not in self.labels:
                self.header_problems.append(RowProblem(sheet.name, sheet.header_row, column.header, "",
                                                       f"The column {column.header!r} is missing.",
                                                       f"Add it to the header row (row {sheet.header_row}); download "
                                                       "the template to see every column."))  # fmt: skip
        self.key_column = "code" if kind == "group" else "sku"

    def label(self, key: str) -> str:
        return self.labels.get(key, key)

    def problem(self, row: int, key: str, value: str, message: str, fix: str) -> RowProblem:
        return RowProblem(self.sheet.name, row, self.label(key) if key else "", value, message, fix)

    def parse_row(self, number: int, cells: list[Any]) -> tuple[Row, list[RowProblem]]:
        values: dict[str, Any] = {}
        raw: dict[str, str] = {}
        problems: list[RowProblem] = []
        for i, column in self.columns.items():
            text = cell_text(cells[i]) if i < len(cells) else ""
            if not text:
                continue
            raw[column.key] = text
            try:
                values[column.key] = _PARSERS[column.kind](text, column)
            except CellError as exc:
                problems.append(self.problem(number, column.key, text, exc.message, exc.fix))
        if self.type_at is not None and self.type_at < len(cells):
            word = normalize(cell_text(cells[self.type_at]))
            if word and TYPE_WORDS.get(word, TYPE_WORDS.get(cell_text(cells[self.type_at]))) not in (self.kind, None):
                problems.append(
                    RowProblem(
                        self.sheet.name,
                        number,
                        "type",
                        cell_text(cells[self.type_at]),
                        f"This file holds {self.kind} products; this row says otherwise.",
                        "Upload each product type in its own CSV (or use the .xlsx template).",
                    )
                )
        return Row(number, values, raw), problems

    def drafts(self) -> Iterator[Draft]:
        """Product drafts in file order; rows of one kit or group must follow each other."""
        current: Draft | None = None
        finished: set[str] = set()
        for number, cells in self.sheet.rows:
            if all(cell_text(c) == "" for c in cells):
                continue
            row, problems = self.parse_row(number, cells)
            code = row.values.get(self.key_column) or row.raw.get(self.key_column, "")
            if self.kind == "single" or current is None or code != current.code or not code:
                if current is not None:
                    finished.add(current.code)
                    yield current
                current = Draft(self.kind, code)
                if code and code in finished and self.kind != "single":
                    problems.append(self.problem(number, self.key_column, code,
                                                 f"The rows of {code!r} are not together.",
                                                 "Put all rows of a kit or group one after another."))  # fmt: skip
                if not code and self.key_column not in row.raw:
                    problems.append(self.problem(number, self.key_column, "", "No code on this row.",
                                                 f"Fill in {self.label(self.key_column)}."))  # fmt: skip
            current.rows.append(row)
            current.problems.extend(problems)
        if current is not None:
            yield current


# ------------------------------------------------------------------------------------------------ checks


_PRODUCT_KEYS = ("name", "selling_price", "retail_price", "brand", "description", "images", "active")
_ATTRIBUTE_KEYS = ("genre_id", "jan")


def _product_values(parser: SheetParser, draft: Draft) -> dict[str, Any]:
    """Product-level values of a multi-row draft: the first filled cell wins; a different one is a problem."""
    found: dict[str, tuple[Any, int]] = {}
    for row in draft.rows:
        for key in (*_PRODUCT_KEYS, *_ATTRIBUTE_KEYS, "axes"):
            if key not in row.values:
                continue
            if key not in found:
                found[key] = (row.values[key], row.number)
            elif found[key][0] != row.values[key]:
                draft.problems.append(
                    parser.problem(
                        row.number,
                        key,
                        row.raw[key],
                        f"This differs from row {found[key][1]} of {draft.code!r}.",
                        "Fill product-level columns once (on the first row) or identically on every row.",
                    )
                )
    return {k: v for k, (v, _) in found.items()}


def _listing_checks(parser: SheetParser, draft: Draft, values: dict[str, Any], has_genre: bool) -> None:
    from kura.channels.rakuten.listing import manage_number_problem, price_problems, variant_id_problem

    first = draft.rows[0].number
    p = manage_number_problem(draft.code.lower(), parser.key_column)
    if p is not None:
        draft.problems.append(parser.problem(first, parser.key_column, draft.code, p.message, p.fix))
    if not has_genre and "genre_id" not in values:
        draft.problems.append(parser.problem(first, "genre_id", "", "No Rakuten genre to list this product under.",
                                             "Fill in ジャンルID / Genre ID (6 digits), or set the store's default "
                                             "genre."))  # fmt: skip
    skus = [(r, r.values.get("sku")) for r in draft.rows] if draft.kind == "group" else [(draft.rows[0], draft.code)]
    for row, sku in skus:
        if sku and (p := variant_id_problem(sku)) is not None:
            draft.problems.append(parser.problem(row.number, "sku", sku, p.message, p.fix))
        selling = row.values.get("variant_selling_price", values.get("selling_price"))
        retail = row.values.get("variant_retail_price", values.get("retail_price"))
        for p in price_problems(selling, retail) if selling is not None else []:
            key = "variant_" + p.field if draft.kind == "group" and "variant_" + p.field in row.values else p.field
            draft.problems.append(parser.problem(row.number, key, row.raw.get(key, ""), p.message, p.fix))


def _one_price_check(parser: SheetParser, draft: Draft, values: dict[str, Any], exists: bool) -> None:
    """A new product needs a selling price; a retail price alone is never turned into one (see listing)."""
    if exists or "selling_price" in values or any("selling_price" in r.raw for r in draft.rows):
        return  # present (if unreadable, that cell's own problem says so)
    row = draft.rows[0]
    if "retail_price" in values:
        message = (
            f"Only a retail price ({values['retail_price']}) is given; a retail price is shown as the "
            "reference price and is never used as the selling price."
        )
    else:
        message = "The selling price is empty."
    draft.problems.append(parser.problem(row.number, "selling_price", "", message,
                                         "Enter the selling price (whole yen); Rakuten needs it as the standard "
                                         "price."))  # fmt: skip


# ------------------------------------------------------------------------------------------------ apply


def _fields(values: dict[str, Any], current: Product | None) -> dict[str, Any]:
    changes = {k: values[k] for k in _PRODUCT_KEYS if k in values}
    attrs = {k: str(values[k]) for k in _ATTRIBUTE_KEYS if k in values}
    if attrs:
        changes["attributes"] = {**((current.attributes or {}) if current else {}), **attrs}
    return changes


def _new_fields(changes: dict[str, Any]) -> catalog.ProductFields:
    return catalog.ProductFields(
        name=changes.get("name", ""), selling_price=changes["selling_price"], retail_price=changes.get("retail_price"),
        brand=changes.get("brand"), description=changes.get("description"), images=changes.get("images", ()),
        attributes=changes.get("attributes", {}), active=changes.get("active", True),
    )  # fmt: skip


def _apply_single(s: Session, draft: Draft, values: dict[str, Any], current: Product | None) -> tuple[bool, int]:
    changes = _fields(values, current)
    if current is None:
        return True, catalog.create_single(s, draft.code, _new_fields(changes)).id
    if changes:
        catalog.update_product(s, current.id, changes)
    return False, current.id


def _components(parser: SheetParser, draft: Draft) -> dict[str, int]:
    parts: dict[str, int] = {}
    for row in draft.rows:
        sku, qty = row.values.get("component_sku"), row.values.get("component_quantity")
        if sku is None or qty is None:
            continue
        if sku in parts:
            draft.problems.append(parser.problem(row.number, "component_sku", sku, f"{sku!r} appears twice in the kit.",
                                                 "List each component once, with its total quantity."))  # fmt: skip
        parts[sku] = qty
    return parts


def _apply_kit(s: Session, draft: Draft, values: dict[str, Any], current: Product | None,
               parts: dict[str, int]) -> tuple[bool, int]:  # fmt: skip
    changes = _fields(values, current)
    if current is None:
        return True, catalog.create_kit(s, draft.code, _new_fields(changes), parts).id
    if changes:
        catalog.update_product(s, current.id, changes)
    catalog.set_kit_components(s, draft.code, parts)
    return False, current.id


def _variants(parser: SheetParser, draft: Draft, axes: list[str]) -> list[catalog.VariantSpec]:
    specs = []
    for row in draft.rows:
        sku = row.values.get("sku")
        if sku is None:
            if "sku" not in row.raw:
                draft.problems.append(parser.problem(row.number, "sku", "", "The variant's SKU is empty.",
                                                     "Fill in the SKU of this variant."))  # fmt: skip
            continue
        given = [row.values.get(f"value{i}", "") for i in range(1, 7)]
        if any(given[len(axes) :]) or not all(given[: len(axes)]):
            draft.problems.append(
                parser.problem(
                    row.number,
                    "value1",
                    "|".join(v for v in given if v),
                    f"{len(axes)} variation value(s) are needed, one per axis {axes}.",
                    "Fill バリエーション値1… in the order of the axes, and no more.",
                )
            )
            continue
        specs.append(catalog.VariantSpec(
            sku=sku, axis_values=dict(zip(axes, given, strict=False)),
            selling_price=row.values.get("variant_selling_price"), retail_price=row.values.get("variant_retail_price"),
        ))  # fmt: skip
    return specs


def _apply_group(s: Session, draft: Draft, values: dict[str, Any], current: Product | None,
                 specs: list[catalog.VariantSpec]) -> tuple[bool, int]:  # fmt: skip
    changes = _fields(values, current)
    axes = values.get("axes") or (current.axes if current else [])
    if current is None:
        return True, catalog.create_group(s, draft.code, _new_fields(changes), axes, specs).id
    if current.type != ProductType.group:
        raise Invalid("code", f"{draft.code!r} is a {current.type} product, not a group.")
    if "axes" in values and values["axes"] != current.axes:
        raise Invalid("axes", f"{draft.code!r} has the axes {current.axes}; the file says {values['axes']}.")
    if changes:
        catalog.update_product(s, current.id, changes)
    known = {sku.code for sku in current.skus}
    for spec in specs:
        if spec.sku in known:
            catalog.update_sku(s, spec.sku, {"axis_values": dict(spec.axis_values), "selling_price": spec.selling_price,
                                             "retail_price": spec.retail_price})  # fmt: skip
        else:
            catalog.add_variant(s, current.id, spec)
    return False, current.id


_FIELD_TO_KEY = {"sku": "sku", "code": "code", "name": "name", "selling_price": "selling_price",
                 "retail_price": "retail_price", "brand": "brand", "description": "description", "images": "images",
                 "components": "component_sku", "axes": "axes", "axis_values": "value1",
                 "attributes": "genre_id"}  # fmt: skip


@dataclass(frozen=True)
class _Checked:
    values: dict[str, Any]
    parts: dict[str, int]
    specs: list[catalog.VariantSpec]


def _plain_new_single(values: dict[str, Any]) -> bool:
    """Within the catalog's limits (else the catalog says what is wrong, one product at a time)."""
    name = str(values.get("name") or "").strip()
    return (
        0 < len(name) <= 255
        and len(values.get("brand") or "") <= 100
        and len(values.get("description") or "") <= 100_000
        and "selling_price" in values
        and all(u.startswith(("https://", "http://")) and len(u) <= 1000 for u in values.get("images") or [])
    )


def _product_row(code: str, values: dict[str, Any]) -> dict[str, Any]:
    name = str(values["name"]).strip()
    return {"type": ProductType.single, "code": code, "name": name, "selling_price": values["selling_price"],
            "retail_price": values.get("retail_price"), "brand": (values.get("brand") or "").strip() or None,
            "description": (values.get("description") or "").strip() or None, "images": values.get("images") or [],
            "attributes": {k: str(values[k]) for k in _ATTRIBUTE_KEYS if k in values},
            "active": values.get("active", True), "axes": [],
            "search_text": product_search_text(code, name, [code])}  # fmt: skip


class _CheckOnly(Exception):
    """Raised to roll a check-only batch back."""


class Uploader:
    """One upload: reads, checks, applies in batches, reports."""

    def __init__(self, db: Database, summary: Summary, report: Report, *, store_id: int | None,
                 has_genre: bool, batch_rows: int) -> None:  # fmt: skip
        self.db = db
        self.summary = summary
        self.report = report
        self.store_id = store_id
        self.has_genre = has_genre
        self.batch_rows = batch_rows
        self.listed: list[int] = []

    def problem(self, p: RowProblem) -> None:
        self.summary.problem_count += 1
        if len(self.summary.problems) < SHOWN_PROBLEMS:
            self.summary.problems.append(p)
        self.report.add(p)

    def failed(self, draft: Draft) -> None:
        self.summary.products_failed += 1
        self.summary.rows_failed += len(draft.rows)
        for p in draft.problems:
            self.problem(p)

    def run_sheet(self, sheet: Sheet, kind: ProductKind) -> None:
        parser = SheetParser(sheet, kind)
        if parser.header_problems:
            for p in parser.header_problems:
                self.problem(p)
            rows = sum(1 for _ in sheet.rows)
            self.summary.rows += rows
            self.summary.rows_failed += rows
            self.summary.sheets[sheet.name] = rows
            return
        batch: list[Draft] = []
        size = 0
        rows = 0
        for draft in parser.drafts():
            rows += len(draft.rows)
            batch.append(draft)
            size += len(draft.rows)
            if size >= self.batch_rows:
                self.apply(parser, batch)
                batch, size = [], 0
        if batch:
            self.apply(parser, batch)
        self.summary.rows += rows
        self.summary.sheets[sheet.name] = rows

    def apply(self, parser: SheetParser, batch: list[Draft]) -> None:
        with contextlib.suppress(_CheckOnly):
            self._apply(parser, batch)

    def _apply(self, parser: SheetParser, batch: list[Draft]) -> None:
        dry = self.summary.dry_run
        with self.db.transaction() as s:
            codes = [d.code for d in batch if d.code and "\x00" not in d.code]  # a NUL: the cell's problem says so
            existing = {p.code: p for p in s.scalars(select(Product).where(Product.code.in_(codes)))} if codes else {}
            fast: list[tuple[Draft, dict[str, Any]]] = []
            for draft in batch:
                current = existing.get(draft.code)
                checked = self.check(parser, draft, current)
                if checked is None:
                    continue
                if draft.kind == "single" and current is None and _plain_new_single(checked.values):
                    fast.append((draft, checked.values))
                else:
                    self.apply_one(s, parser, draft, current, checked)
            if fast:
                self.insert_singles(s, parser, fast)
            if self.listed and self.store_id is not None and not dry:
                from kura.channels.rakuten.listing import queue_listing

                queue_listing(s, self.store_id, self.listed)
                self.summary.queued_for_listing += len(self.listed)
            self.listed = []
            if dry:
                raise _CheckOnly

    def check(self, parser: SheetParser, draft: Draft, current: Product | None) -> _Checked | None:
        """Every check that needs no write; None (and the problems reported) if the product can't be applied."""
        if not draft.code:
            self.failed(draft)
            return None
        values = _product_values(parser, draft)
        _one_price_check(parser, draft, values, current is not None)
        if self.store_id is not None:
            _listing_checks(
                parser, draft, values, self.has_genre or bool(current and (current.attributes or {}).get("genre_id"))
            )
        kind_of = {"single": ProductType.single, "kit": ProductType.kit, "group": ProductType.group}[draft.kind]
        if current is not None and current.type != kind_of:
            draft.problems.append(
                parser.problem(
                    draft.rows[0].number,
                    parser.key_column,
                    draft.code,
                    f"{draft.code!r} exists as a {current.type} product.",
                    f"Upload it on the {current.type} sheet, or use another code.",
                )
            )
        parts = _components(parser, draft) if draft.kind == "kit" else {}
        specs: list[catalog.VariantSpec] = []
        if draft.kind == "group":
            axes = values.get("axes") or (current.axes if current else [])
            if not axes:
                draft.problems.append(
                    parser.problem(
                        draft.rows[0].number,
                        "axes",
                        "",
                        "No variation axes.",
                        "Fill in バリエーション項目 / Variation axes, e.g. カラー|サイズ.",
                    )
                )
            else:
                specs = _variants(parser, draft, list(axes))
        if draft.problems:
            self.failed(draft)
            return None
        return _Checked(values, parts, specs)

    def apply_one(self, s: Session, parser: SheetParser, draft: Draft, current: Product | None,
                  checked: _Checked) -> None:  # fmt: skip
        values, parts, specs = checked.values, checked.parts, checked.specs
        try:
            with s.begin_nested():
                if draft.kind == "single":
                    created, product_id = _apply_single(s, draft, values, current)
                elif draft.kind == "kit":
                    created, product_id = _apply_kit(s, draft, values, current, parts)
                else:
                    created, product_id = _apply_group(s, draft, values, current, specs)
        except KuraError as exc:
            key = _FIELD_TO_KEY.get(str(exc.details.get("field", "")), "")
            row = self._row_for(draft, exc.message)
            draft.problems.append(parser.problem(row, key, "", exc.message, _fix_for(parser, key)))
            self.failed(draft)
            return
        except IntegrityError as exc:
            draft.problems.append(parser.problem(draft.rows[0].number, parser.key_column, draft.code,
                                                 f"The database refused {draft.code!r} ({type(exc.orig).__name__}).",
                                                 "Check that its SKUs are not used by another product."))  # fmt: skip
            self.failed(draft)
            return
        if created:
            self.summary.created += 1
        else:
            self.summary.updated += 1
        self.listed.append(product_id)

    def insert_singles(self, s: Session, parser: SheetParser, drafts: list[tuple[Draft, dict[str, Any]]]) -> None:
        """New single products in two multi-row INSERTs (the catalog's rules checked here); anything unusual (a SKU
        taken by a variant, a code twice in the file, a race) goes through the catalog one by one instead."""
        codes = [d.code for d, _ in drafts]
        taken = set(s.scalars(select(Sku.code).where(Sku.code.in_(codes))))
        seen: set[str] = set()
        plain: list[tuple[Draft, dict[str, Any]]] = []
        slow: list[tuple[Draft, dict[str, Any]]] = []
        for draft, values in drafts:
            (slow if draft.code in taken or draft.code in seen else plain).append((draft, values))
            seen.add(draft.code)
        try:
            with s.begin_nested():
                rows = [_product_row(d.code, v) for d, v in plain]
                ids = dict(s.execute(insert(Product).returning(Product.code, Product.id), rows).all())
                s.execute(insert(Sku), [{"code": d.code, "product_id": ids[d.code], "axis_values": {}, "active": True}
                                        for d, _ in plain])  # fmt: skip
        except IntegrityError:
            slow, plain = [*plain, *slow], []
        for draft, _ in plain:
            self.summary.created += 1
            self.listed.append(ids[draft.code])
        for draft, values in slow:
            self.apply_one(s, parser, draft, None, _Checked(values, {}, []))

    @staticmethod
    def _row_for(draft: Draft, message: str) -> int:
        """The row a catalog error is about: the one whose SKU it names, else the product's first row."""
        for row in draft.rows:
            for key in ("sku", "component_sku"):
                value = row.values.get(key)
                if value and repr(value) in message and value != draft.code:
                    return row.number
        return draft.rows[0].number


def _fix_for(parser: SheetParser, key: str) -> str:
    for column in COLUMNS[parser.kind]:
        if column.key == key:
            return f"Correct {column.header}: {column.help_en}".strip()
    return "Correct the row and upload it again."


# ------------------------------------------------------------------------------------------------ entry point


def process(db: Database, source: IO[bytes], filename: str, *, report_path: Path | None = None,
            report_dir: Path | None = None,
            store_id: int | None = None, product_type: ProductKind | None = None, dry_run: bool = False,
            user_id: int | None = None, batch_rows: int = BATCH_ROWS,
            record: bool = True) -> Summary:  # fmt: skip
    """Reads `source` (an .xlsx template or a CSV), applies what is valid and writes the report.

    Returns the summary (with the first problems); the full list is in the report at `report_path` (or
    `report_dir`/upload-<id>.xlsx)."""
    summary = Summary(filename=_printable(filename), store_id=store_id, dry_run=dry_run)
    has_genre = False
    if store_id is not None:
        from kura.channels.rakuten.listing import ListingSettings, _rakuten_store

        with db.reader() as s:
            has_genre = bool(ListingSettings.of(_rakuten_store(s, store_id)).genre_id)
    upload_id = None
    if record:
        with db.transaction() as s:
            upload = BulkUpload(filename=summary.filename[:255], user_id=user_id, store_id=store_id, status="running")
            s.add(upload)
            s.flush()
            upload_id = upload.id
    summary.upload_id = upload_id
    if report_path is None and report_dir is not None:
        report_path = report_dir / f"upload-{upload_id or 'check'}.xlsx"
    report = Report(report_path)
    uploader = Uploader(db, summary, report, store_id=store_id, has_genre=has_genre, batch_rows=batch_rows)
    status = "failed"
    try:
        sheets = list_sheets(source, filename, product_type)
        for sheet in sheets:
            if sheet.kind is not None:
                uploader.run_sheet(sheet, sheet.kind)
        if not summary.sheets and not summary.problem_count:
            raise Invalid("file", "The file has no product sheet; use the template's 単品 Single, セット Kit or "
                          "バリエーション Group sheets (or name the CSV's type).")  # fmt: skip
        status = "done"
    finally:
        report.finish(summary)
        summary.report_path = str(report_path) if report_path else None
        if record and upload_id is not None:
            with db.transaction() as s:
                row = s.get_one(BulkUpload, upload_id)
                row.status = status
                row.summary = summary.to_dict()
                row.report_path = summary.report_path
                row.finished_at = utcnow()
    return summary


def list_sheets(source: IO[bytes], filename: str, product_type: ProductKind | None) -> Iterator[Sheet]:
    """The sheets in apply order (single, group, kit) for xlsx; a CSV has one. Sheets stream lazily."""
    if filename.lower().endswith((".xlsx", ".xlsm")):
        book = open_xlsx(source)
        order = sorted(book.sheetnames, key=lambda n: _APPLY_ORDER.get(_kind_or_last(n), 9))
        book.close()
        for name in order:
            source.seek(0)
            for sheet in read(source, filename, product_type):
                if sheet.name == name:
                    yield sheet
                    break
        return
    yield from read(source, filename, product_type)


def _kind_or_last(name: str) -> Any:
    from kura.bulk.columns import sheet_kind

    return sheet_kind(name) or "zzz"
