"""The OMS ↔ Rakuten status table from the seed, orderProgress codes and carrier codes."""

from __future__ import annotations

import pytest

from kura.channels.rakuten.statuses import (
    CARRIERS,
    ORDER_PROGRESS,
    PROGRESS_TO_OMS,
    SEED_STATUS_TABLE,
    RakutenTarget,
    oms_status_for,
    rakuten_target_for,
)


@pytest.mark.parametrize(
    ("progress", "oms"),
    [
        (200, "MP_unpaid"),
        (300, "New"),
        (500, "In_transit"),
        (700, "Complete"),
        (800, "Cancel_in_progress"),
        (900, "Cancel"),
        (100, None),
        (400, None),
        (600, None),
    ],
)
def test_rakuten_progress_maps_to_oms_status(progress: int, oms: str | None) -> None:
    assert oms_status_for(progress) == oms


def test_every_order_progress_code_has_an_oms_entry() -> None:
    assert set(PROGRESS_TO_OMS) == set(ORDER_PROGRESS) == {100, 200, 300, 400, 500, 600, 700, 800, 900}


def test_unknown_progress_code_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown Rakuten orderProgress 1000"):
        oms_status_for(1000)


def test_packed_becomes_the_processed_sub_status() -> None:
    assert rakuten_target_for("Packed") == RakutenTarget(sub_status="Processed")


@pytest.mark.parametrize(
    ("oms", "progress"),
    [
        ("Partial", 300),
        ("New", 300),
        ("RFP", 300),
        ("In_transit", 500),
        ("Complete", 700),
        ("Cancel", 900),
        ("Cancel_in_progress", 800),
        ("MP_unpaid", 200),
    ],
)
def test_oms_status_lands_on_the_seed_tables_rakuten_status(oms: str, progress: int) -> None:
    assert rakuten_target_for(oms) == RakutenTarget(progress=progress)


def test_not_supported_statuses_have_no_rakuten_target() -> None:
    unsupported = [oms for oms, label in SEED_STATUS_TABLE if label is None]
    assert len(unsupported) == 15 and "Ready_to_Ship" in unsupported
    assert all(rakuten_target_for(oms) is None for oms in unsupported)


def test_seed_table_and_progress_map_agree_both_ways() -> None:
    for progress, oms in PROGRESS_TO_OMS.items():
        if oms is not None and oms != "New":
            assert rakuten_target_for(oms) == RakutenTarget(progress=progress)


def test_carrier_codes_run_from_1000_to_1031_as_strings() -> None:
    assert list(CARRIERS) == [str(code) for code in range(1000, 1032)]
    assert CARRIERS["1001"].name_ja == "ヤマト運輸"
    assert CARRIERS["1015"].name_ja == "NXトランスポート"
