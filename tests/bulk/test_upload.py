"""Bulk upload: every problem reported with sheet, row, column and fix; valid products applied; invalid rows (and
their whole kit or group) change nothing; CSV in UTF-8 and Shift_JIS; SKUs stay text."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from kura.bulk.upload import process
from kura.catalog.models import Product
from kura.catalog.service import get_product_by_code, get_sku
from kura.db import Database
from kura.errors import Invalid, NotFound
from tests.bulk.conftest import csv_bytes, from_template, workbook


def _upload(db: Database, data: bytes, name: str, tmp_path: Path, **kw: object):  # type: ignore[no-untyped-def]
    return process(db, io.BytesIO(data), name, report_path=tmp_path / "report.xlsx", **kw)  # type: ignore[arg-type]


def test_one_bad_row_is_reported_precisely_and_the_rest_is_applied(db: Database, tmp_path: Path) -> None:
    data = from_template("single", [
        {"sku": "A-1", "name": "りんご", "selling_price": 300, "retail_price": 400},
        {"sku": "A-2", "name": "みかん", "selling_price": "3OO"},  # a letter O: not a number
        {"sku": "A-3", "name": "ぶどう", "selling_price": 980, "images": "https://example.com/a.jpg|https://example.com/b.jpg"},
    ])  # fmt: skip

    summary = _upload(db, data, "products.xlsx", tmp_path)

    assert (summary.rows, summary.created, summary.products_failed, summary.rows_failed) == (3, 2, 1, 1)
    (problem,) = summary.problems
    assert (problem.sheet, problem.row, problem.column, problem.value) == (
        "単品 Single",
        3,
        "C 販売価格 / Selling price",
        "3OO",
    )
    assert "whole number" in problem.message and "1980" in problem.fix
    with db.reader() as s:
        assert get_product_by_code(s, "A-3").images == ["https://example.com/a.jpg", "https://example.com/b.jpg"]
        assert get_product_by_code(s, "A-1").retail_price == 400
        with pytest.raises(NotFound):
            get_product_by_code(s, "A-2")
    report = load_workbook(tmp_path / "report.xlsx", read_only=True)
    rows = list(report["問題 Problems"].iter_rows(values_only=True))
    assert rows[1][:4] == ("単品 Single", 3, "C 販売価格 / Selling price", "3OO")
    summary_rows = dict(r[:2] for r in report["概要 Summary"].iter_rows(values_only=True))
    assert summary_rows["新規 / Created"] == 2


def test_skus_typed_as_numbers_stay_text(db: Database, tmp_path: Path) -> None:
    data = workbook({"single": [{"sku": 1980, "name": "数字のSKU", "selling_price": 1980.0},
                                {"sku": "00123", "name": "先頭ゼロ", "selling_price": 500}]})  # fmt: skip
    summary = _upload(db, data, "numbers.xlsx", tmp_path)
    assert summary.created == 2, summary.problems
    with db.reader() as s:
        assert get_sku(s, "1980").product.selling_price == 1980
        assert get_sku(s, "00123").code == "00123"


def test_a_group_with_one_bad_row_changes_nothing_and_other_groups_apply(db: Database, tmp_path: Path) -> None:
    data = workbook({"group": [
        {"code": "POLO", "name": "ポロ", "selling_price": 3980, "axes": "カラー|サイズ", "sku": "POLO-R-M",
         "value1": "赤", "value2": "M"},
        {"code": "POLO", "sku": "POLO-R-L", "value1": "赤", "value2": "L", "variant_selling_price": 4280},
        {"code": "TEE", "name": "T", "selling_price": 1000, "axes": "サイズ", "sku": "TEE-S", "value1": "S"},
        {"code": "TEE", "sku": "TEE-M", "value1": "M", "value2": "余分"},  # one value too many
        {"code": "TEE", "sku": "TEE-L", "value1": "L"},
    ]})  # fmt: skip

    summary = _upload(db, data, "groups.xlsx", tmp_path)

    assert (summary.created, summary.products_failed, summary.rows_failed) == (1, 1, 3)
    assert [(p.row, p.column.split(" ")[0]) for p in summary.problems] == [(5, "L")]
    with db.reader() as s:
        polo = get_product_by_code(s, "POLO")
        assert [(k.code, k.axis_values, k.effective_selling_price) for k in polo.skus] == [
            ("POLO-R-M", {"カラー": "赤", "サイズ": "M"}, 3980),
            ("POLO-R-L", {"カラー": "赤", "サイズ": "L"}, 4280),
        ]
        with pytest.raises(NotFound):
            get_sku(s, "TEE-S")


def test_kits_are_applied_after_the_singles_they_are_made_of(db: Database, tmp_path: Path) -> None:
    data = workbook({
        "kit": [{"sku": "GIFT", "name": "ギフト", "selling_price": 2500, "component_sku": "CUP",
                 "component_quantity": 1},
                {"sku": "GIFT", "component_sku": "SAUCER", "component_quantity": 2},
                {"sku": "BROKEN", "name": "壊れたセット", "selling_price": 100, "component_sku": "NOPE",
                 "component_quantity": 1}],
        "single": [{"sku": "CUP", "name": "カップ", "selling_price": 800},
                   {"sku": "SAUCER", "name": "ソーサー", "selling_price": 600}],
    })  # fmt: skip
    summary = _upload(db, data, "kits.xlsx", tmp_path)
    assert (summary.created, summary.products_failed) == (3, 1)
    (problem,) = summary.problems
    assert (problem.sheet, problem.row, problem.column.split(" ")[0]) == ("セット Kit", 4, "J")
    assert "NOPE" in problem.message
    with db.reader() as s:
        assert {c.component.code: c.quantity for c in get_sku(s, "GIFT").components} == {"CUP": 1, "SAUCER": 2}


def test_a_retail_price_alone_is_never_the_selling_price(db: Database, tmp_path: Path) -> None:
    data = workbook({"single": [{"sku": "R-1", "name": "参考価格だけ", "retail_price": 5000}]})
    summary = _upload(db, data, "retail.xlsx", tmp_path)
    (problem,) = summary.problems
    assert problem.column == "C 販売価格 / Selling price"
    assert "retail price (5000)" in problem.message and "Enter the selling price" in problem.fix


def test_an_existing_product_is_updated_with_the_cells_given(db: Database, tmp_path: Path) -> None:
    _upload(db, workbook({"single": [{"sku": "U-1", "name": "元の名前", "selling_price": 1000, "brand": "Kura"}]}),
            "a.xlsx", tmp_path)  # fmt: skip
    summary = _upload(db, workbook({"single": [{"sku": "U-1", "selling_price": 900}]}), "b.xlsx", tmp_path)
    assert (summary.created, summary.updated) == (0, 1)
    with db.reader() as s:
        product = get_product_by_code(s, "U-1")
        assert (product.name, product.selling_price, product.brand) == ("元の名前", 900, "Kura")


@pytest.mark.parametrize("encoding", ["cp932", "utf-8", "utf-8-sig"])
def test_csv_in_shift_jis_and_utf8_is_read(db: Database, tmp_path: Path, encoding: str) -> None:
    data = csv_bytes("single", [{"sku": "ソ-1", "name": "表示・ソース①", "selling_price": "１，９８０",
                                 "brand": "ｶﾀｶﾅ"},
                                {"sku": "ソ-2", "name": "二つ目", "selling_price": "abc"}], encoding)  # fmt: skip
    summary = _upload(db, data, "items.csv", tmp_path)
    assert (summary.created, summary.products_failed) == (1, 1)
    assert (summary.problems[0].sheet, summary.problems[0].row) == ("CSV", 3)
    with db.reader() as s:
        product = get_product_by_code(s, "ソ-1")
        assert (product.name, product.selling_price, product.brand) == ("表示・ソース①", 1980, "ｶﾀｶﾅ")


def test_a_csv_without_a_type_needs_one(db: Database, tmp_path: Path) -> None:
    data = csv_bytes("single", [{"sku": "X", "name": "x", "selling_price": 1}], "utf-8", type_column=False,
                     japanese_headers=False)  # fmt: skip
    with pytest.raises(Invalid, match="type"):
        _upload(db, data, "x.csv", tmp_path)
    assert _upload(db, data, "x.csv", tmp_path, product_type="single").created == 1


def test_a_missing_required_column_is_reported_on_the_header_row(db: Database, tmp_path: Path) -> None:
    data = b"type,SKU,Name\nsingle,A,a\n"
    summary = _upload(db, data, "x.csv", tmp_path)
    assert [(p.row, p.column) for p in summary.problems] == [(1, "販売価格 / Selling price")]
    with db.reader() as s:
        assert s.query(Product).count() == 0


def test_check_only_changes_nothing(db: Database, tmp_path: Path) -> None:
    data = workbook({"single": [{"sku": "C-1", "name": "c", "selling_price": 1}]})
    summary = _upload(db, data, "c.xlsx", tmp_path, dry_run=True)
    assert summary.created == 1 and summary.dry_run
    with db.reader() as s:
        assert s.query(Product).count() == 0
