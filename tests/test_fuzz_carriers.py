"""Fuzzing tracking numbers: whatever a spreadsheet or a person typed, only TrackingNumberError.

For every carrier: arbitrary text, and valid numbers damaged the way files damage them
(separators, case, a digit changed or dropped, look-alike Unicode), never raise anything but
TrackingNumberError with a known code and a message; what is accepted is the canonical form,
which is accepted again unchanged. The many-at-once path must agree with the one-by-one path
for every number, and every check-digit rule takes every number of its format's shape.

Case counts: LIEFERN_FUZZ_EXAMPLES (tests/stress/fuzzing.py).
"""

from __future__ import annotations

import random
import re

from hypothesis import given
from hypothesis import strategies as st

from core.carriers.checkdigits import CHECKS
from core.carriers.numbers import (
    TrackingNumberError,
    normalise_tracking_number,
    normalise_tracking_numbers,
)
from core.carriers.table import CARRIERS
from simulators.samples import sample_tracking_number
from tests.stress.fuzzing import fuzz

ERROR_CODES = frozenset(
    {
        "empty",
        "scientific_notation",
        "leading_zeros_lost",
        "bad_characters",
        "bad_format",
        "bad_check_digit",
    }
)
CARRIER_CODES = sorted(CARRIERS)
SAMPLED = ("dhl", "deutsche_post", "dpd", "ups", "gls", "hermes")  # simulators.samples knows these
FORMATS = [(c.code, f) for c in CARRIERS.values() for f in c.formats]
# what turns up inside numbers in real files: separators, look-alikes, spreadsheet residue
NOISE = " \t-./\u00a0\u2009\u2013_,;'\"0OIl1EeßÄ０１\u200b\x00"


@st.composite
def damaged_number(draw: st.DrawFn) -> str:
    """A valid sample number of some carrier, damaged in a few random ways."""
    carrier = draw(st.sampled_from(SAMPLED))
    number = list(sample_tracking_number(carrier, random.Random(draw(st.integers(0, 10**6)))))
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["insert", "replace", "drop", "swap", "lower"]))
        at = draw(st.integers(0, max(0, len(number) - 1)))
        if action == "insert":
            number.insert(at, draw(st.sampled_from(NOISE) | st.characters()))
        elif action == "replace" and number:
            number[at] = draw(st.sampled_from("0123456789ABCXYZ" + NOISE))
        elif action == "drop" and number:
            del number[at]
        elif action == "swap" and at + 1 < len(number):
            number[at], number[at + 1] = number[at + 1], number[at]
        elif action == "lower":
            number = list("".join(number).lower())
    return "".join(number)


raw_numbers = st.text(max_size=60) | st.text(NOISE + "0123456789", max_size=30) | damaged_number()


@fuzz()
@given(carrier=st.sampled_from(CARRIER_CODES), raw=raw_numbers)
def test_normalising_raises_only_tracking_number_errors_with_a_known_code(
    carrier: str, raw: str
) -> None:
    try:
        number = normalise_tracking_number(carrier, raw)
    except TrackingNumberError as error:
        assert error.code in ERROR_CODES, error.code
        assert error.message.strip()
        return
    assert number and number.isascii() and number.isalnum() and number == number.upper()
    assert normalise_tracking_number(carrier, number) == number  # canonical stays canonical


@st.composite
def same_length_batch(draw: st.DrawFn) -> tuple[str, list[str]]:
    """One carrier and 32..80 numbers of one length: its valid numbers, some damaged in place."""
    carrier = draw(st.sampled_from(SAMPLED))
    seed = draw(st.integers(0, 10**6))
    rng = random.Random(seed)
    base = [sample_tracking_number(carrier, rng) for _ in range(draw(st.integers(32, 80)))]
    length = len(base[0])
    batch = []
    for number in base:
        if len(number) != length:
            continue
        chars = list(number)
        for _ in range(draw(st.integers(0, 2))):
            at = draw(st.integers(0, length - 1))
            chars[at] = draw(st.sampled_from("0123456789ABZ -./ß\u00a0"))
        batch.append("".join(chars))
    return carrier, batch


@fuzz(0.3)
@given(case=same_length_batch())
def test_many_numbers_at_once_agree_with_one_at_a_time(case: tuple[str, list[str]]) -> None:
    carrier, raws = case
    many = normalise_tracking_numbers(carrier, raws)
    assert len(many) == len(raws)
    for raw, got in zip(raws, many, strict=True):
        try:
            expected: str | tuple[str, str] = normalise_tracking_number(carrier, raw)
        except TrackingNumberError as error:
            expected = (error.code, error.message)
        if isinstance(got, TrackingNumberError):
            assert expected == (got.code, got.message), raw
        else:
            assert expected == got, raw


@fuzz()
@given(data=st.data(), index=st.integers(0, len(FORMATS) - 1))
def test_every_check_digit_rule_takes_every_number_of_its_shape(
    data: st.DataObject, index: int
) -> None:
    carrier, fmt = FORMATS[index]
    number = data.draw(st.from_regex(re.compile(fmt.pattern, re.ASCII), fullmatch=True))
    if fmt.check is not None:
        assert isinstance(CHECKS[fmt.check](number), bool)
    try:
        normalise_tracking_number(carrier, number)
    except TrackingNumberError as error:
        assert error.code in ERROR_CODES
