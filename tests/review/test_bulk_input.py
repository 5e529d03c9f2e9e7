"""Bulk uploads: a file that is not a workbook, a NUL in a cell or a price too large for the database is a
clear message (a 422, or a problem on its row in the report), never a 500, and nothing is written for it."""

from __future__ import annotations

import io
import zipfile

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from kura.catalog.models import Product
from kura.catalog.service import ProductFields, create_single
from kura.db import Database
from kura.errors import Invalid


def _empty_zip() -> bytes:
    out = io.BytesIO()
    zipfile.ZipFile(out, "w").close()
    return out.getvalue()


@pytest.mark.parametrize("content", [b"\x00not a workbook", _empty_zip()], ids=["garbage", "empty-zip"])
def test_a_file_named_xlsx_that_is_no_workbook_is_a_422(api: TestClient, content: bytes) -> None:
    response = api.post("/api/v1/bulk/uploads", files={"file": ("products.xlsx", content)})
    assert response.status_code == 422, response.text
    assert response.json()["details"]["field"] == "file"
    assert "not a readable .xlsx workbook" in response.json()["message"]


def _upload_csv(api: TestClient, body: bytes) -> dict[str, object]:
    content = b"type,sku,name,selling_price\n" + body
    response = api.post("/api/v1/bulk/uploads", files={"file": ("products.csv", content)})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _products(db: Database) -> list[str]:
    with db.reader() as s:
        return list(s.scalars(select(Product.code)))


@pytest.mark.parametrize(
    "row",
    [b"single,NUL-1,x\x00y,100\n", b"single,NUL-2,x,100\nsingle,N\x00L-3,x,100\n",
     b"single,BIG-1,x," + b"9" * 30 + b"\n"],
    ids=["nul-in-name", "nul-in-sku", "price-too-large"],
)
def test_a_cell_the_database_cannot_hold_is_a_problem_on_its_row(api: TestClient, db: Database, row: bytes) -> None:
    summary = _upload_csv(api, row)
    assert summary["products_failed"] == 1 and summary["problem_count"] == 1, summary
    written = _products(db)
    assert not any(code.startswith(("NUL-1", "N\x00L", "BIG")) for code in written)
    report = api.get(str(summary["report_url"]))
    assert report.status_code == 200
    problems = list(load_workbook(io.BytesIO(report.content))["問題 Problems"].iter_rows(values_only=True))
    assert len(problems) == 2  # the header and the one problem, readable in Excel


def test_the_catalog_refuses_a_price_beyond_bigint_and_a_nul_in_a_name(db: Database) -> None:
    with db.transaction() as s, pytest.raises(Invalid) as too_much:
        create_single(s, "BIG-2", ProductFields(name="x", selling_price=10**19))
    assert too_much.value.field == "selling_price"
    with db.transaction() as s, pytest.raises(Invalid) as nul:
        create_single(s, "NUL-4", ProductFields(name="x\x00y", selling_price=100))
    assert nul.value.field == "name"
    assert _products(db) == []
