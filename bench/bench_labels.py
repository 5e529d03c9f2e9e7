"""Benchmark of label printing: labels/s for a bulk print of 1,000 A6 labels as one PDF (Japanese CID
font, NW-7 barcode, cash on delivery on every third label), best of a few runs.

Run: python bench/bench_labels.py [--labels 1000] [--runs 3] [--out labels.pdf]"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from kura.shipping.carriers import TIME_SLOTS, Parcel, Party
from kura.shipping.labels import Label, render_label, render_labels
from kura.shipping.tracking import with_mod7

GOAL_LABELS_PER_S = 100  # a warehouse's whole day of parcels printed in well under a minute


def labels(count: int) -> list[Label]:
    sender = Party("株式会社くら商店　出荷担当", "150-0001", "東京都", "渋谷区神宮前1-2-3", "くらビル5F", "0312345678")
    out = []
    for i in range(count):
        recipient = Party(f"山田　太郎{i}", "530-0001", "大阪府", f"大阪市北区梅田3丁目{i % 50 + 1}番1号",
                          f"梅田タワー{i % 40 + 1}階 {i}号室", "09012345678")
        parcel = Parcel(
            reference=f"123456-20250602-{i:010d}", sender=sender, recipient=recipient, description="緑茶 3箱",
            time_slot=TIME_SLOTS[i % len(TIME_SLOTS)], delivery_date=dt.date(2025, 6, 4),
            ship_date=dt.date(2025, 6, 2), cod_amount=1000 + i if i % 3 == 0 else None,
        )  # fmt: skip
        out.append(Label("1001", with_mod7(f"4{i:010d}"), parcel, parcel.time_slot))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="also write the bulk PDF here")
    args = parser.parse_args(argv)

    batch = labels(args.labels)
    render_label(batch[0])  # fonts registered, modules warm
    timings, pdf = [], b""
    for _ in range(args.runs):
        started = time.perf_counter()
        pdf = render_labels(batch)
        timings.append(time.perf_counter() - started)
    best = min(timings)
    started = time.perf_counter()
    singles = 100
    for label in batch[:singles]:
        render_label(label)
    single_s = (time.perf_counter() - started) / singles
    if args.out:
        args.out.write_bytes(pdf)

    rate = args.labels / best
    print(f"bulk print: {args.labels} labels in one PDF: best {best:.2f} s of {args.runs} "
          f"({', '.join(f'{t:.2f}' for t in timings)}) = {rate:,.0f} labels/s")
    print(f"bulk PDF size: {len(pdf) / 1e6:.2f} MB ({len(pdf) / args.labels / 1024:.1f} KiB per label)")
    print(f"single label (one PDF each): {single_s * 1000:.1f} ms")
    print(f"goal {GOAL_LABELS_PER_S} labels/s: {'met' if rate >= GOAL_LABELS_PER_S else 'MISSED'}")
    return 0 if rate >= GOAL_LABELS_PER_S else 1


if __name__ == "__main__":
    sys.exit(main())
