"""Benchmark: a 50,000-row single-product .xlsx upload (read, check, create in batches, report): rows/s and peak RSS.

Usage: .venv/bin/python bench/bench_bulk.py [--rows 50000] [--db sqlite|URL] [--check]
Peak RSS is measured in a fresh child process (ru_maxrss), so the file generation does not count.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from openpyxl import Workbook

from kura.bulk.columns import COLUMNS, SHEET_NAMES


def make_xlsx(path: Path, rows: int) -> None:
    book = Workbook(write_only=True)
    ws = book.create_sheet(SHEET_NAMES["single"])
    ws.append([c.header for c in COLUMNS["single"]])
    for i in range(rows):
        bad = i % 1000 == 999  # one bad row in a thousand
        ws.append(
            [
                f"BENCH-{i:06d}",
                f"ベンチ商品 {i}",
                "abc" if bad else 1000 + i % 5000,
                9000,
                "Kura",
                "説明文",
                None,
                "100371",
                None,
                1,
            ]
        )
    book.save(path)


def child(path: Path, url: str, check: bool) -> None:
    from kura.bulk.upload import process
    from kura.db import Database
    from kura.migrate import upgrade

    upgrade(url)
    db = Database(url)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with path.open("rb") as f:
        summary = process(db, f, path.name, report_path=path.with_suffix(".report.xlsx"), dry_run=check)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "rows": summary.rows,
                "created": summary.created,
                "failed": summary.products_failed,
                "seconds": round(seconds, 2),
                "rows_per_s": round(summary.rows / seconds),
                "peak_rss_mb": round(peak / 1024, 1),
                "rss_before_upload_mb": round(baseline / 1024, 1),
                "file_mb": round(path.stat().st_size / 2**20, 2),
                "check_only": check,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child), args.db, args.check)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.xlsx"
        make_xlsx(path, args.rows)
        url = f"sqlite:///{Path(tmp) / 'bench.db'}" if args.db == "sqlite" else args.db
        command = [sys.executable, __file__, "--child", str(path), "--db", url] + (["--check"] if args.check else [])
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode:
            sys.exit(result.stderr)
        print(result.stdout.strip())


if __name__ == "__main__":
    main()
