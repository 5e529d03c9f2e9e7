"""`kura products|stock|warehouses|orders …`: tables for people, --json for scripts, one red line for mistakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kura.catalog.service import ProductFields, VariantSpec, create_group, create_single
from kura.config import get_settings
from kura.db import Database
from kura.inventory.service import create_warehouse, ledger, receive
from kura.orders.service import change_status, create_order, create_store
from tests.cli.conftest import Kura
from tests.domain.factories import new_order


def _catalog(db: Database) -> None:
    with db.transaction() as s:
        create_single(s, "TS-RED", ProductFields(name="Tシャツ 赤", selling_price=1980))
        create_single(s, "MUG", ProductFields(name="マグ", selling_price=800))
        create_group(s, "SHIRT", ProductFields(name="シャツ", selling_price=3000), ["サイズ"],
                     [VariantSpec(sku="SHIRT-M", axis_values={"サイズ": "M"})])  # fmt: skip


def test_products_list_prints_a_table_and_json(kura: Kura, db: Database) -> None:
    _catalog(db)
    table = kura("products", "list")
    assert table.exit_code == 0, table.output
    assert "TS-RED" in table.output and "3 of 3" in table.output
    result = kura("products", "list", "--json", "--q", "shirt")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [(r["code"], r["type"], r["skus"]) for r in rows] == [("SHIRT", "group", ["SHIRT-M"])]
    singles = json.loads(kura("products", "list", "--json", "--type", "single", "--limit", "1").stdout)
    assert [r["code"] for r in singles] == ["MUG"]


def test_products_list_with_a_bad_type_or_limit_says_what_to_fix(kura: Kura) -> None:
    result = kura("products", "list", "--type", "bundle")
    assert result.exit_code == 1
    assert "Unknown product type 'bundle'; use single, kit or group." in result.stderr
    assert "Traceback" not in result.output
    too_many = kura("products", "list", "--limit", "1000")
    assert too_many.exit_code == 1 and "limit must be between 1 and 500" in too_many.stderr


def test_warehouses_create_and_list(kura: Kura) -> None:
    created = kura("warehouses", "create", "TOKYO-1", "東京倉庫")
    assert created.exit_code == 0 and "TOKYO-1" in created.stdout
    assert json.loads(kura("warehouses", "list", "--json").stdout) == [
        {"id": 1, "code": "TOKYO-1", "name": "東京倉庫", "active": True}]  # fmt: skip
    again = kura("warehouses", "create", "TOKYO-1", "x")
    assert again.exit_code == 1 and "exists already" in again.stderr
    assert "東京倉庫" in kura("warehouses", "list").stdout


def test_stock_adjust_changes_on_hand_and_writes_the_reason_to_the_ledger(kura: Kura, db: Database) -> None:
    _catalog(db)
    with db.transaction() as s:
        receive(s, create_warehouse(s, "TOKYO", "東京").id, "MUG", 5)
    result = kura("stock", "adjust", "--sku", "MUG", "--warehouse", "TOKYO", "--delta", "-2", "--reason", "割れ")
    assert result.exit_code == 0, result.output
    assert "on hand 5 → 3" in result.stdout
    levels = json.loads(kura("stock", "levels", "--sku", "MUG", "--json").stdout)
    assert levels == [{"sku": "MUG", "product_name": "マグ", "warehouse": "TOKYO", "on_hand": 3, "reserved": 0,
                       "available": 3}]  # fmt: skip
    with db.reader() as s:
        entry = ledger(s, sku="MUG").items[0]
        assert (entry.note, entry.on_hand_change) == ("割れ", -2)


def test_stock_adjust_mistakes_are_one_red_line_and_exit_1(kura: Kura, db: Database) -> None:
    _catalog(db)
    with db.transaction() as s:
        create_warehouse(s, "TOKYO", "東京")
    below = kura("stock", "adjust", "--sku", "MUG", "--warehouse", "TOKYO", "--delta", "-1", "--reason", "x")
    assert below.exit_code == 1
    assert "0 on hand" in below.stderr and "below zero" in below.stderr
    unknown = kura("stock", "adjust", "--sku", "MUG", "--warehouse", "OSAKA", "--delta", "1", "--reason", "x")
    assert unknown.exit_code == 1 and "No warehouse with code 'OSAKA'; known codes: TOKYO." in unknown.stderr
    no_sku = kura("stock", "adjust", "--sku", "NOPE", "--warehouse", "TOKYO", "--delta", "1", "--reason", "x")
    assert no_sku.exit_code == 1 and "No SKU 'NOPE'" in no_sku.stderr
    zero = kura("stock", "adjust", "--sku", "MUG", "--warehouse", "TOKYO", "--delta", "0", "--reason", "x")
    assert zero.exit_code == 1 and "non-zero" in zero.stderr
    for result in (below, unknown, no_sku, zero):
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error:")
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_stock_levels_table_lists_every_warehouse(kura: Kura, db: Database) -> None:
    _catalog(db)
    with db.transaction() as s:
        receive(s, create_warehouse(s, "TOKYO", "東京").id, "MUG", 5)
        receive(s, create_warehouse(s, "OSAKA", "大阪").id, "TS-RED", 2)
    result = kura("stock", "levels")
    assert result.exit_code == 0
    assert "OSAKA" in result.stdout and "TOKYO" in result.stdout and "2 of 2" in result.stdout
    assert kura("stock", "levels", "--sku", "GHOST").exit_code == 1


def test_orders_list_filters_by_status_and_store(kura: Kura, db: Database) -> None:
    with db.transaction() as s:
        shop = create_store(s, "楽天ショップ", "rakuten").id
        other = create_store(s, "手動", "manual").id
        create_order(s, shop, new_order([("MUG", 1)], "R-1"))
        cancelled = create_order(s, shop, new_order([("MUG", 2)], "R-2")).id
        create_order(s, other, new_order([("MUG", 1)], "M-1"))
        change_status(s, cancelled, "Cancel")
    rows = json.loads(kura("orders", "list", "--json").stdout)
    assert sorted(r["order_number"] for r in rows) == ["M-1", "R-1", "R-2"]
    assert {"id", "store", "order_number", "status", "ordered_at", "total"} <= set(rows[0])
    by_status = json.loads(kura("orders", "list", "--status", "Cancel", "--json").stdout)
    assert [r["order_number"] for r in by_status] == ["R-2"]
    by_store = json.loads(kura("orders", "list", "--store", str(other), "--json").stdout)
    assert [r["order_number"] for r in by_store] == ["M-1"]
    assert "R-1" in kura("orders", "list").stdout
    bad = kura("orders", "list", "--status", "Shipped")
    assert bad.exit_code == 1 and "Unknown status 'Shipped'" in bad.stderr
    no_store = kura("orders", "list", "--store", "99")
    assert no_store.exit_code == 1 and "No store with id 99." in no_store.stderr


def test_an_unmigrated_database_is_a_message_not_a_traceback(
    kura: Kura, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KURA_DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    get_settings.cache_clear()
    result = kura("warehouses", "list")
    assert result.exit_code == 1
    assert "kura db upgrade" in result.stderr and "Traceback" not in result.output


def test_stock_apply_takes_a_receipt_or_count_sheet_all_or_nothing(kura: Kura, db: Database, tmp_path: Path) -> None:
    _catalog(db)
    with db.transaction() as s:
        receive(s, create_warehouse(s, "TOKYO", "東京").id, "MUG", 5)
    sheet = tmp_path / "count.csv"
    sheet.write_bytes("sku,kind,quantity,note\nTS-RED,receipt,10,入荷\nMUG,count,3,棚卸し\nSHIRT-M,count,0,\n"
                      .encode("cp932"))  # Shift_JIS, as Excel saves a CSV in Japan  # fmt: skip
    result = kura("stock", "apply", str(sheet), "--warehouse", "TOKYO", "--reference", "GR-1")
    assert result.exit_code == 0, result.output
    assert "3 lines applied in TOKYO: 2 changed stock, 1 already right." in result.stdout
    levels = {r["sku"]: r["on_hand"] for r in json.loads(kura("stock", "levels", "--json").stdout)}
    assert levels["TS-RED"] == 10 and levels["MUG"] == 3
    with db.reader() as s:
        entry = ledger(s, sku="MUG").items[0]
        assert (entry.note, entry.on_hand_change, entry.reference) == ("棚卸し", -2, "GR-1")

    bad = tmp_path / "bad.csv"
    bad.write_text("sku,kind,quantity\nTS-RED,receipt,1\nMUG,restock,2\nMUG,count,many\n", encoding="utf-8-sig")
    refused = kura("stock", "apply", str(bad), "--warehouse", "TOKYO")
    assert refused.exit_code == 1
    assert "line 3: kind 'restock'" in refused.stderr and "line 4: quantity 'many'" in refused.stderr
    short = tmp_path / "short.csv"
    short.write_text("sku,kind,quantity\nTS-RED,receipt,1\nMUG,adjustment,-9\n", encoding="utf-8")
    too_few = kura("stock", "apply", str(short), "--warehouse", "TOKYO")
    assert too_few.exit_code == 1 and "Line 3 (MUG, adjustment -9)" in too_few.stderr
    no_header = tmp_path / "nohead.csv"
    no_header.write_text("TS-RED,1\n", encoding="utf-8")
    assert "needs a header line with sku,kind,quantity" in kura("stock", "apply", str(no_header), "--warehouse",
                                                                "TOKYO").stderr  # fmt: skip
    levels = {r["sku"]: r["on_hand"] for r in json.loads(kura("stock", "levels", "--json").stdout)}
    assert levels["TS-RED"] == 10 and levels["MUG"] == 3  # nothing of the refused sheets was applied


def test_a_wrong_setting_ends_the_command_that_reads_it_with_what_to_fix(tmp_path: Path) -> None:
    """As a user runs it (`python -m kura.cli`, what the `kura` script calls): exit 2 and the setting named, no
    traceback; a command that reads no setting still works."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KURA_")}
    env.update(KURA_VAR_DIR=str(tmp_path / "var"), KURA_RMS_RATES="items.search=[often]")

    def kura(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kura.cli", *args], env=env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip

    refused = kura("warehouses", "list")
    assert refused.returncode == 2
    assert "KURA_RMS_RATES entry 'items.search=[often]': '[often]' is not a rate" in refused.stderr
    assert "Traceback" not in refused.stderr + refused.stdout
    helped = kura("warehouses", "--help")
    assert helped.returncode == 0 and "list" in helped.stdout
