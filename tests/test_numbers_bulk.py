"""Normalising many tracking numbers at once gives exactly the one-by-one results."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from core.carriers.numbers import (
    TrackingNumberError,
    normalise_tracking_number,
    normalise_tracking_numbers,
)
from core.carriers.table import CARRIERS
from simulators.samples import SAMPLE_CARRIER_WEIGHTS, sample_tracking_number

SAMPLE_CARRIERS = [code for code, _ in SAMPLE_CARRIER_WEIGHTS]
# what spreadsheets and people do to numbers
DAMAGE = ("digit", "lower", "space", "drop", "extra", "umlaut", "letter", "none")


def one_by_one(carrier: str, raws: list[str]) -> list[object]:
    out: list[object] = []
    for raw in raws:
        try:
            out.append(normalise_tracking_number(carrier, raw))
        except TrackingNumberError as error:
            out.append((error.code, error.message))
    return out


def in_bulk(carrier: str, raws: list[str]) -> list[object]:
    return [
        (r.code, r.message) if isinstance(r, TrackingNumberError) else r
        for r in normalise_tracking_numbers(carrier, raws)
    ]


def damaged(number: str, how: str, rng: random.Random) -> str:
    at = rng.randrange(len(number))
    if how == "digit":
        return number[:at] + rng.choice("0123456789") + number[at + 1 :]
    if how == "lower":
        return number.lower()
    if how == "space":
        return number[:at] + " " + number[at:]
    if how == "drop":
        return number[:at] + number[at + 1 :]
    if how == "extra":
        return number + rng.choice("0123456789")
    if how == "umlaut":
        return number[:at] + "Ä" + number[at + 1 :]
    if how == "letter":
        return number[:at] + rng.choice("AZQ") + number[at + 1 :]
    return number


@settings(max_examples=60, deadline=None)
@given(
    carrier=st.sampled_from(SAMPLE_CARRIERS),
    number_carrier=st.sampled_from(SAMPLE_CARRIERS),
    seed=st.integers(0, 2**32),
    damage=st.lists(st.sampled_from(DAMAGE), min_size=40, max_size=120),
)
def test_bulk_equals_one_by_one(
    carrier: str, number_carrier: str, seed: int, damage: list[str]
) -> None:
    rng = random.Random(seed)
    raws = [damaged(sample_tracking_number(number_carrier, rng), how, rng) for how in damage]
    assert in_bulk(carrier, raws) == one_by_one(carrier, raws)


def test_every_carrier_agrees_on_valid_and_mistyped_numbers() -> None:
    rng = random.Random(7)
    pool = [sample_tracking_number(c, rng) for c in SAMPLE_CARRIERS for _ in range(80)]
    pool += [damaged(n, "digit", rng) for n in pool]
    pool += ["", "3,40434E+17", "JJD" + "1" * 18, "H" + "1" * 19, "ABCD1234", "1" * 10]
    for code in CARRIERS:
        assert in_bulk(code, pool) == one_by_one(code, pool), code


def test_carrier_names_are_accepted_like_one_by_one() -> None:
    numbers = [sample_tracking_number("dhl", random.Random(i)) for i in range(40)]
    assert normalise_tracking_numbers("DHL Paket", numbers) == [
        normalise_tracking_number("dhl", n) for n in numbers
    ]


def test_a_bad_number_in_a_large_group_keeps_its_own_error() -> None:
    rng = random.Random(3)
    numbers = [sample_tracking_number("hermes", rng) for _ in range(50)]
    broken = numbers[17][:-1] + str((int(numbers[17][-1]) + 1) % 10)
    results = normalise_tracking_numbers("hermes", [*numbers[:17], broken, *numbers[18:]])
    assert isinstance(results[17], TrackingNumberError)
    assert results[17].code == "bad_check_digit"
    assert results[:17] == numbers[:17] and results[18:] == numbers[18:]
