"""Check digits (7DR mod 7, UPU S10 mod 11) on the reference's examples, and the status table."""

from __future__ import annotations

import pytest

from kura.errors import Invalid
from kura.shipping.tracking import (
    STATUS_WORDS,
    TrackingStatus,
    display_number,
    mod7_check_digit,
    mod7_valid,
    normalise_status,
    normalize_number,
    s10_check_digit,
    s10_valid,
    validate_mod7,
    validate_s10,
    with_mod7,
)

# Reference §2.2: worked examples, the carriers' published samples among them.
KNOWN_GOOD = ["123456789013", "444413758703", "512547514334", "405548424886", "200961185434",
              "200961185445", "200961185456"]


@pytest.mark.parametrize("number", KNOWN_GOOD)
def test_reference_samples_pass_7dr(number: str) -> None:
    assert mod7_valid(number)
    assert validate_mod7(number) == number


def test_check_digit_is_the_body_mod_7() -> None:
    assert mod7_check_digit("12345678901") == 3
    assert with_mod7("51254751433") == "512547514334"
    # the chunked 32-bit form of the chiebukuro answer agrees
    assert mod7_check_digit("12345678901") == (1234 * 3 + 5678 * 6 + 901) % 7


def test_hyphens_spaces_and_full_width_digits_are_normalised() -> None:
    assert normalize_number("４４４４－１３７５－８７０３") == "444413758703"
    assert validate_mod7("4444-1375-8703") == "444413758703"
    assert validate_mod7(" 4444 1375 8703 ") == "444413758703"
    assert display_number("444413758703") == "4444-1375-8703"


def test_wrong_check_digit_names_the_expected_one() -> None:
    with pytest.raises(Invalid) as exc:
        validate_mod7("4444-1375-8704")
    assert "needs 3" in exc.value.message and "444413758703" in exc.value.message
    assert exc.value.details["expected_check_digit"] == 3
    assert exc.value.field == "tracking_number"


@pytest.mark.parametrize("number", ["44441375870", "4444137587031", "44441375870A", "444413758707"])
def test_wrong_length_letters_and_check_digits_7_to_9_are_invalid(number: str) -> None:
    assert not mod7_valid(number)
    with pytest.raises(Invalid):
        validate_mod7(number)


def test_s10_reference_examples() -> None:
    assert s10_check_digit("47312482") == 9
    assert s10_check_digit("12345678") == 5
    assert s10_valid("EE473124829JP") and s10_valid("ee123456785jp")
    assert validate_s10("EE 1234 5678 5 JP") == "EE123456785JP"


def test_s10_remainders_10_and_11_map_to_0_and_5() -> None:
    assert s10_check_digit("00000000") == 5  # sum 0: 11 - 0 = 11 -> 5
    assert s10_check_digit("00000008") == 0  # sum 56, 56 % 11 = 1: 11 - 1 = 10 -> 0


def test_s10_wrong_check_digit_names_the_expected_one() -> None:
    with pytest.raises(Invalid) as exc:
        validate_s10("EE123456784JP")
    assert exc.value.details["expected_check_digit"] == 5


@pytest.mark.parametrize(("carrier", "word", "status"), [
    ("1001", "荷物受付", TrackingStatus.PICKED_UP),
    ("1001", "作業店通過", TrackingStatus.IN_TRANSIT),
    ("1001", "配達中", TrackingStatus.OUT_FOR_DELIVERY),
    ("1001", "持戻（ご不在）", TrackingStatus.ABSENT),
    ("1001", "持戻(ご不在)", TrackingStatus.ABSENT),
    ("1001", "配達完了", TrackingStatus.DELIVERED),
    ("1002", "↓集荷", TrackingStatus.PICKED_UP),
    ("1002", "↓輸送中", TrackingStatus.IN_TRANSIT),
    ("1002", "⇒配達完了", TrackingStatus.DELIVERED),
    ("1002", "持ち帰り", TrackingStatus.ABSENT),
    ("1003", "引受", TrackingStatus.PICKED_UP),
    ("1003", "持ち出し中", TrackingStatus.OUT_FOR_DELIVERY),
    ("1003", "お届け先にお届け済み", TrackingStatus.DELIVERED),
    ("1003", "窓口でお渡し", TrackingStatus.DELIVERED),
    ("1003", "差出人に返送", TrackingStatus.RETURNED),
    ("1003", "亡失", TrackingStatus.LOST),
    ("1004", "配達完了", TrackingStatus.DELIVERED),  # a carrier without its own rows: the common words
    ("1001", "見たことのない状態", TrackingStatus.UNKNOWN),
])  # fmt: skip
def test_carrier_words_normalise(carrier: str, word: str, status: TrackingStatus) -> None:
    assert normalise_status(carrier, word) is status


def test_every_normalised_status_but_unknown_and_cancelled_has_words_for_each_built_in_carrier() -> None:
    for carrier in ("1001", "1002", "1003"):
        covered = {w.status for w in STATUS_WORDS if w.carrier_code == carrier}
        wanted = {TrackingStatus.PICKED_UP, TrackingStatus.IN_TRANSIT, TrackingStatus.OUT_FOR_DELIVERY,
                  TrackingStatus.ABSENT, TrackingStatus.REDELIVERY, TrackingStatus.DELIVERED,
                  TrackingStatus.FAILED, TrackingStatus.RETURNED, TrackingStatus.LOST}
        assert wanted <= covered, (carrier, wanted - covered)
