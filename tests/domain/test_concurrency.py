"""Two transactions racing for the last unit: exactly one wins, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading

from sqlalchemy import text

from kura.db import Database
from kura.errors import InsufficientStock
from kura.inventory.service import available, ledger, receive, reserve
from tests.domain.factories import add_order, add_single


def _race(db: Database, sku: str, line_ids: list[int]) -> list[str]:
    barrier = threading.Barrier(len(line_ids), timeout=30)
    outcomes: list[str] = []

    def worker(line_id: int) -> None:
        try:
            if db.is_sqlite:  # one writer at a time: the second waits for its turn (kura.db.WriterQueue)
                barrier.wait()
            with db.transaction() as s:
                if not db.is_sqlite:  # both transactions are open before either reserves
                    s.execute(text("SELECT 1"))
                    barrier.wait()
                reserve(s, sku, 1, order_line_id=line_id)
            outcomes.append("reserved")
        except InsufficientStock as e:
            assert "Insufficient stock" in e.message
            outcomes.append("insufficient stock")

    threads = [threading.Thread(target=worker, args=(line_id,)) for line_id in line_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return sorted(outcomes)


def test_two_transactions_reserving_the_last_unit_one_wins_the_other_gets_insufficient_stock(
    db: Database, warehouses: tuple[int, int], store_id: int
) -> None:
    for round_no in range(5):
        sku = f"LAST-{round_no}"
        add_single(db, sku)
        with db.transaction() as s:
            receive(s, warehouses[0], sku, 1)
        lines = [add_order(db, store_id, [(sku, 1)], f"R-{round_no}-{i}").lines[0].id for i in range(2)]
        assert _race(db, sku, lines) == ["insufficient stock", "reserved"]
        with db.reader() as s:
            assert available(s, sku) == 0
            assert ledger(s, sku=sku, reason="reserve").total == 1
