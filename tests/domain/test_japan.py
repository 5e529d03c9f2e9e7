"""Japanese postal codes, prefectures, phone numbers and included tax."""

from __future__ import annotations

import pytest

from kura import japan
from kura.errors import Invalid


@pytest.mark.parametrize("raw", ["1000001", "100-0001", "〒100-0001", "１００－０００１", " 100ー0001 "])
def test_postal_code_is_normalised_to_nnn_nnnn(raw: str) -> None:
    assert japan.postal_code(raw) == "100-0001"


@pytest.mark.parametrize("raw", ["100001", "10000011", "abc-defg", "", "100--0001"])
def test_malformed_postal_code_is_refused_saying_the_form(raw: str) -> None:
    with pytest.raises(Invalid) as e:
        japan.postal_code(raw)
    assert e.value.field == "postal_code"
    assert "NNN-NNNN" in e.value.message


def test_there_are_47_prefectures_with_jis_codes_01_to_47() -> None:
    assert [p.code for p in japan.PREFECTURES] == [f"{i:02d}" for i in range(1, 48)]
    assert japan.PREFECTURES[0].name == "北海道"
    assert japan.PREFECTURES[12].name == "東京都"
    assert japan.PREFECTURES[46].name_en == "Okinawa"


@pytest.mark.parametrize("raw", ["東京都", "東京", "13", 13, "tokyo", "Tokyo", "１３"])
def test_prefecture_is_found_by_name_code_or_english(raw: str | int) -> None:
    assert japan.prefecture(raw).name == "東京都"


def test_unknown_prefecture_is_refused() -> None:
    with pytest.raises(Invalid) as e:
        japan.prefecture("東京府")
    assert e.value.field == "prefecture" and "47" in e.value.message


def test_split_prefecture_matches_the_longest_name_first() -> None:
    assert japan.split_prefecture("京都府京都市中京区") == (japan.prefecture("26"), "京都市中京区")
    assert japan.split_prefecture("東京都千代田区")[0] == japan.prefecture("13")
    assert japan.split_prefecture("北海道札幌市")[0] == japan.prefecture("01")
    assert japan.split_prefecture("どこか")[0] is None


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("03-1234-5678", "0312345678"),
        ("０９０－１２３４－５６７８", "09012345678"),
        ("+81 90 1234 5678", "09012345678"),
    ],
)
def test_phone_is_normalised_to_digits(raw: str, digits: str) -> None:
    assert japan.phone(raw) == digits


@pytest.mark.parametrize("raw", ["12345", "3-1234-5678", "03-1234-5678-9999", "phone"])
def test_malformed_phone_is_refused(raw: str) -> None:
    with pytest.raises(Invalid) as e:
        japan.phone(raw)
    assert e.value.field == "phone"


def test_included_tax_is_rounded_down() -> None:
    assert japan.included_tax(1100, 10) == 100
    assert japan.included_tax(1999, 8) == 148  # 148.07…
    assert japan.included_tax(1000, 0) == 0


def test_full_name_is_family_first_with_a_full_width_space() -> None:
    assert japan.full_name("山田", "太郎") == "山田\u3000太郎"
