"""Big files stream: rows are read one at a time and applied in batches, so memory stays bounded.

The 50,000-row figure (rows/s, peak RSS) is bench/bench_bulk.py; here 20,000 rows keep the suite quick."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from openpyxl import Workbook

from kura.bulk.columns import COLUMNS, SHEET_NAMES
from kura.bulk.upload import process
from kura.db import Database

ROWS = 20_000


def _big_xlsx(path: Path, rows: int = ROWS) -> None:
    book = Workbook(write_only=True)
    ws = book.create_sheet(SHEET_NAMES["single"])
    ws.append([c.header for c in COLUMNS["single"]])
    for i in range(rows):
        ws.append([f"S{i:06d}", f"商品{i}", "x" if i == rows - 1 else 1000 + i, None, None, None, None, None, None, 1])
    book.save(path)


def test_a_20000_row_upload_streams_and_reports_its_last_row(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "big.xlsx"
    _big_xlsx(path)
    started = time.perf_counter()
    with path.open("rb") as f:
        summary = process(db, f, "big.xlsx", report_path=tmp_path / "r.xlsx", dry_run=True, record=False)
    seconds = time.perf_counter() - started

    assert summary.rows == ROWS and summary.created == ROWS - 1
    assert [(p.row, p.value) for p in summary.problems] == [(ROWS + 1, "x")]  # the very last row, precisely
    assert seconds < 60, f"{seconds:.1f} s"


def _peak(db: Database, tmp_path: Path, rows: int) -> int:
    path = tmp_path / f"{rows}.xlsx"
    _big_xlsx(path, rows)
    tracemalloc.start()
    with path.open("rb") as f:
        process(db, f, path.name, report_path=tmp_path / f"{rows}.report.xlsx", dry_run=True, record=False,
                batch_rows=100)  # fmt: skip
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def _peaks_alone(db_url: str, tmp_path: str) -> None:
    """In a child process of its own (tracemalloc counts every thread's allocations: a thread another test left
    behind, still finishing a job, made this test fail now and then): prints the peaks for 500 and 2,500 rows."""
    db = Database(db_url)
    _peak(db, Path(tmp_path), 100)  # warm up: first-use caches (SQL compilation, openpyxl) are not the rows' cost
    print(json.dumps([_peak(db, Path(tmp_path), 500), _peak(db, Path(tmp_path), 2500)]))


def test_peak_memory_does_not_grow_with_the_number_of_rows(db_url: str, tmp_path: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-c", "import sys; from tests.bulk.test_streaming import _peaks_alone; "
         "_peaks_alone(sys.argv[1], sys.argv[2])", db_url, str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert child.returncode == 0, child.stderr
    small, large = json.loads(child.stdout.strip().splitlines()[-1])
    # Only one batch of products is held at a time. What still grows is the workbook's shared-strings table,
    # which an .xlsx reader must keep (a few hundred bytes per distinct text); one product held in memory
    # (ORM objects, row dicts, problems) would cost several KiB per row.
    per_row = (large - small) / 2000
    assert per_row < 600, (
        f"{small / 2**20:.1f} MiB for 500 rows, {large / 2**20:.1f} MiB for 2500 ({per_row:.0f} B/row)"
    )


def test_csv_streams_from_a_file_object(db: Database) -> None:
    lines = ["type,SKU,商品名,販売価格"] + [f"single,C{i},品{i},{i + 1}" for i in range(5000)]
    data = io.BytesIO("\r\n".join(lines).encode("cp932"))
    summary = process(db, data, "x.csv", report_path=None, dry_run=True, record=False)
    assert summary.rows == 5000 and summary.created == 5000
