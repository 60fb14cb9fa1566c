"""The carriers' check-digit rules: known numbers, and what each rule can and cannot catch.

The property tests build a number from a random body and its computed check digit (it must be
valid), then change one character: wherever the rule guarantees to notice (the weight of the
position is coprime with the modulus, and the change does not land on a documented blind spot)
the changed number must be invalid.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.carriers import checkdigits as cd
from core.carriers.table import CARRIER_TABLE

DIGITS = "0123456789"
ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def digits(length: int) -> st.SearchStrategy[str]:
    return st.text(DIGITS, min_size=length, max_size=length)


def replace(number: str, position: int, char: str) -> str:
    return number[:position] + char + number[position + 1 :]


@st.composite
def one_digit_changed(draw: st.DrawFn, number: str) -> tuple[int, int, int]:
    """A position in `number` and a different digit for it: (position, old, new)."""
    position = draw(st.integers(0, len(number) - 1))
    old = int(number[position])
    new = draw(st.integers(0, 9).filter(lambda d: d != old))
    return position, old, new


# --- known numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "number"),
    [
        ("gs1_mod10", "00340433836442636597"),  # DHL Paket, published example
        ("gs1_mod10", "340433836442636597"),  # the same SSCC without the 00
        ("gs1_mod10", "09133131530724"),  # Hermes, published example
        ("gs1_mod10", "041441760228964"),  # FedEx Ground
        ("dhl_identcode", "201298452277"),  # DHL Paket Identcode, published example
        ("gls", "364123734778"),  # GLS parcel number
        ("mod7", "3318810025"),  # DHL Express air waybill
        ("upu_s10", "RR123456785DE"),
        ("mod37_36", "01905002345615Y"),  # DPD with its check character
        ("mod37_36", "01015026003653C"),
        ("ups", "1Z5R89390357567127"),
        ("fedex_12", "986578788855"),
    ],
)
def test_published_numbers_pass_their_rule(rule: str, number: str) -> None:
    assert cd.CHECKS[rule](number)


@pytest.mark.parametrize(
    ("rule", "number"),
    [
        ("gs1_mod10", "00340433836442636598"),
        ("dhl_identcode", "201298452278"),
        ("gls", "364123734779"),
        ("mod7", "3318810026"),
        ("upu_s10", "RR123456786DE"),
        ("mod37_36", "01905002345615Z"),
        ("ups", "1Z5R89390357567128"),
        ("fedex_12", "986578788856"),
    ],
)
def test_a_wrong_last_digit_fails_its_rule(rule: str, number: str) -> None:
    assert not cd.CHECKS[rule](number)


def test_identcode_weighs_4_and_9_from_the_left() -> None:
    # 1·4 + 2·9 + 3·4 + 4·9 + 5·4 + 6·9 + 7·4 + 8·9 + 9·4 + 0·9 + 1·4 = 284 → 10 - 4 = 6
    assert cd.dhl_identcode_check_digit("12345678901") == 6


def test_gls_adds_one_to_the_weighted_sum() -> None:
    # 1·3 + 2 + 3·3 + 4 + 5·3 + 6 + 7·3 + 8 + 9·3 + 0 + 1·3 = 98, + 1 = 99 → 10 - 9 = 1
    assert cd.gls_check_digit("12345678901") == 1


def test_s10_maps_remainder_10_to_0_and_11_to_5() -> None:
    assert cd.s10_check_digit("10000000") == 3  # 8·1 = 8 → 11 - 8 = 3
    assert cd.s10_check_digit("00004000") == 0  # 3·4 = 12, 12 mod 11 = 1 → 11 - 1 = 10 → 0
    assert cd.s10_check_digit("00000000") == 5  # 0 → 11 - 0 = 11 → 5


def test_ups_letters_count_as_their_documented_digit() -> None:
    # Letters count as (ord - 63) mod 10: R = 19 mod 10 = 9, A = 2, I = 0.
    assert cd.is_valid_ups("1Z5R89390357567127")
    assert cd.is_valid_ups("1Z5989390357567127")
    assert cd.ups_check_digit("A" * 15) == cd.ups_check_digit("2" * 15)
    assert cd.ups_check_digit("I" * 15) == cd.ups_check_digit("0" * 15)


def test_every_rule_named_in_the_table_exists() -> None:
    named = {fmt.check for carrier in CARRIER_TABLE for fmt in carrier.formats if fmt.check}
    assert named <= set(cd.CHECKS)


# --- properties -----------------------------------------------------------------------------


@given(body=st.integers(1, 30).flatmap(digits), data=st.data())
def test_gs1_catches_every_single_digit_change(body: str, data: st.DataObject) -> None:
    number = body + str(cd.gs1_check_digit(body))
    assert cd.is_valid_gs1(number)
    position, _, new = data.draw(one_digit_changed(number))
    assert not cd.is_valid_gs1(replace(number, position, str(new)))


@given(body=digits(11), data=st.data())
def test_identcode_catches_changes_except_by_5_under_weight_4(
    body: str, data: st.DataObject
) -> None:
    number = body + str(cd.dhl_identcode_check_digit(body))
    assert cd.is_valid_dhl_identcode(number)
    position, old, new = data.draw(one_digit_changed(number))
    changed = replace(number, position, str(new))
    weighs_4 = position < 11 and position % 2 == 0
    if weighs_4 and abs(new - old) == 5:
        return  # 4 · 5 = 20: the sum mod 10 does not move, no weighting can see it
    assert not cd.is_valid_dhl_identcode(changed)


@given(body=digits(11), data=st.data())
def test_gls_catches_every_single_digit_change(body: str, data: st.DataObject) -> None:
    number = body + str(cd.gls_check_digit(body))
    assert cd.is_valid_gls(number)
    position, _, new = data.draw(one_digit_changed(number))
    assert not cd.is_valid_gls(replace(number, position, str(new)))


@given(body=st.integers(9, 10).flatmap(digits), data=st.data())
def test_mod7_catches_changes_except_by_7_in_the_body(body: str, data: st.DataObject) -> None:
    number = body + str(cd.mod7_check_digit(body))
    assert cd.is_valid_mod7(number)
    position, old, new = data.draw(one_digit_changed(number))
    if position < len(body) and abs(new - old) == 7:
        return  # 7 · 10^k is a multiple of 7
    assert not cd.is_valid_mod7(replace(number, position, str(new)))


S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


@given(
    service=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2),
    serial=digits(8),
    data=st.data(),
)
def test_s10_catches_changes_except_between_remainders_0_and_6(
    service: str, serial: str, data: st.DataObject
) -> None:
    number = f"{service}{serial}{cd.s10_check_digit(serial)}DE"
    assert cd.is_valid_s10(number)
    position, _, new = data.draw(one_digit_changed(number[2:11]))
    changed = replace(number, 2 + position, str(new))
    if position < 8:
        before = sum(w * int(d) for w, d in zip(S10_WEIGHTS, serial, strict=True)) % 11
        after_serial = changed[2:10]
        after = sum(w * int(d) for w, d in zip(S10_WEIGHTS, after_serial, strict=True)) % 11
        if {before, after} == {0, 6}:
            return  # both remainders give check digit 5 (11 → 5 and 11 - 6 = 5)
    assert not cd.is_valid_s10(changed)


@given(body=st.integers(1, 30).flatmap(lambda n: st.text(ALPHANUMERIC, min_size=n, max_size=n)))
def test_mod37_36_catches_every_single_character_change(body: str) -> None:
    number = body + cd.mod37_36_check_char(body)
    assert cd.is_valid_mod37_36(number)
    for position, old in enumerate(number):
        for new in ALPHANUMERIC:
            if new != old:
                assert not cd.is_valid_mod37_36(replace(number, position, new))


@given(body=digits(15), data=st.data())
def test_ups_catches_digit_changes_except_by_5_under_weight_2(
    body: str, data: st.DataObject
) -> None:
    number = f"1Z{body}{cd.ups_check_digit(body)}"
    assert cd.is_valid_ups(number)
    position, old, new = data.draw(one_digit_changed(body + number[-1]))
    changed = replace(number, 2 + position, str(new))
    weighs_2 = position < 15 and position % 2 == 1
    if weighs_2 and abs(new - old) == 5:
        return  # 2 · 5 = 10
    assert not cd.is_valid_ups(changed)


FEDEX_WEIGHTS = (3, 1, 7) * 4


@given(body=digits(11), data=st.data())
def test_fedex_12_catches_changes_except_between_remainders_0_and_10(
    body: str, data: st.DataObject
) -> None:
    number = body + str(cd.fedex_12_check_digit(body))
    assert cd.is_valid_fedex_12(number)
    position, _, new = data.draw(one_digit_changed(number))
    changed = replace(number, position, str(new))
    if position < 11:
        before = sum(w * int(d) for w, d in zip(FEDEX_WEIGHTS, body, strict=False)) % 11
        after = sum(w * int(d) for w, d in zip(FEDEX_WEIGHTS, changed[:11], strict=False)) % 11
        if {before, after} == {0, 10}:
            return  # remainder 10 and remainder 0 both give check digit 0
    assert not cd.is_valid_fedex_12(changed)
