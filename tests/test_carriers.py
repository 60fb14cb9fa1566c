"""The carrier table: finding carriers by name, normalising tracking numbers, tracking links."""

from __future__ import annotations

import json
import pickle
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.carriers import checkdigits as cd
from core.carriers.numbers import (
    TrackingNumberError,
    UnknownCarrier,
    detect_carriers,
    find_carrier,
    get_carrier,
    normalise_tracking_number,
    tracking_url,
)
from core.carriers.table import CARRIERS, S10_COUNTRIES

SPECS = Path(__file__).resolve().parents[1] / ".." / "shared" / "specs"
COURIERS = SPECS / "carriers" / "tracking_number_data" / "couriers"

# Format ids in tracking_number_data → our carrier code. Formats not listed are not ours
# (US, UK and Asian services) and are not expected to pass.
SPEC_FORMATS = {
    ("dhl.json", "dhl_express"): "dhl_express",
    ("dhl.json", "dhl_express_piece_id"): "dhl_express",
    ("dpd.json", "dpd"): "dpd",
    ("dpd.json", "dpd_14"): "dpd",
    ("ups.json", "ups"): "ups",
    ("fedex.json", "fedex_12"): "fedex",
    ("fedex.json", "fedex_ground"): "fedex",
    ("s10.json", "s10"): "deutsche_post",
}


def error_code(carrier: str, raw: str) -> str:
    with pytest.raises(TrackingNumberError) as caught:
        normalise_tracking_number(carrier, raw)
    return caught.value.code


# --- the table ------------------------------------------------------------------------------


def test_the_table_has_the_carriers_other_code_relies_on() -> None:
    assert set(CARRIERS) == {
        "dhl",
        "deutsche_post",
        "dhl_express",
        "dpd",
        "ups",
        "gls",
        "hermes",
        "fedex",
        "other",
    }


def test_only_dhl_paket_has_a_daily_closing_api() -> None:
    assert [code for code, c in CARRIERS.items() if c.has_closing_api] == ["dhl"]


def test_every_carrier_but_other_has_german_and_english_tracking_pages() -> None:
    for code, carrier in CARRIERS.items():
        if code == "other":
            continue
        assert carrier.tracking_url_de.startswith("https://")
        assert carrier.tracking_url_en.startswith("https://")
        assert "{number}" in carrier.tracking_url_de
        assert "{number}" in carrier.tracking_url_en


# --- finding carriers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("dhl", "dhl"),
        ("DHL", "dhl"),
        ("  dhl paket ", "dhl"),
        ("Deutsche Post DHL", "dhl"),
        ("deutsche_post", "deutsche_post"),
        ("DEUTSCHE POST", "deutsche_post"),
        ("Post", "deutsche_post"),
        ("DP", "deutsche_post"),
        ("Warenpost", "deutsche_post"),
        ("dhl express", "dhl_express"),
        ("DHL-Express", "dhl_express"),
        ("DPD Deutschland", "dpd"),
        ("United Parcel Service", "ups"),
        ("General Logistics Systems", "gls"),
        ("myhermes", "hermes"),
        ("Hermes Germany", "hermes"),
        ("Federal Express", "fedex"),
        ("Sonstige", "other"),
    ],
)
def test_carriers_are_found_by_code_or_alias_whatever_the_case_and_spacing(
    name: str, code: str
) -> None:
    assert get_carrier(name).code == code


def test_every_alias_leads_to_its_own_carrier() -> None:
    for carrier in CARRIERS.values():
        for alias in carrier.aliases:
            assert get_carrier(alias) is carrier
            assert get_carrier(alias.upper()) is carrier


def test_an_unknown_carrier_name_is_an_error_naming_it_and_the_known_ones() -> None:
    with pytest.raises(UnknownCarrier) as caught:
        get_carrier("Pigeon Post")
    assert isinstance(caught.value, ValueError)
    assert "Pigeon Post" in str(caught.value)
    for code in CARRIERS:
        assert code in str(caught.value)


def test_find_carrier_answers_none_for_an_unknown_name() -> None:
    assert find_carrier("Pigeon Post") is None
    assert find_carrier("gls") is CARRIERS["gls"]


def test_normalise_with_an_unknown_carrier_is_an_unknown_carrier_error() -> None:
    with pytest.raises(UnknownCarrier):
        normalise_tracking_number("pigeon", "123")


def test_normalise_also_takes_an_alias() -> None:
    assert normalise_tracking_number("DHL Paket", "201298452277") == "201298452277"


# --- vectors from the courier data (tracking_number_data) -----------------------------------


def spec_vectors() -> list[Any]:
    if not COURIERS.is_dir():
        reason = f"carrier spec data not found at {COURIERS}"
        return [pytest.param("", "", True, marks=pytest.mark.skip(reason=reason), id="no-specs")]
    params = []
    for (file, format_id), carrier in SPEC_FORMATS.items():
        data = json.loads((COURIERS / file).read_text(encoding="utf-8"))
        (fmt,) = [f for f in data["tracking_numbers"] if f.get("id") == format_id]
        tests = fmt["test_numbers"]
        for valid, numbers in ((True, tests["valid"]), (False, tests["invalid"])):
            for number in numbers:
                label = f"{format_id}-{'valid' if valid else 'invalid'}-{number.strip()}"
                params.append(pytest.param(carrier, number, valid, id=label))
    return params


@pytest.mark.parametrize(("carrier", "number", "valid"), spec_vectors())
def test_courier_data_test_numbers(carrier: str, number: str, valid: bool) -> None:
    if valid:
        normalised = normalise_tracking_number(carrier, number)
        assert normalised.isalnum()
    else:
        with pytest.raises(TrackingNumberError):
            normalise_tracking_number(carrier, number)


def test_s10_country_codes_are_those_of_the_courier_data() -> None:
    s10 = COURIERS / "s10.json"
    if not s10.is_file():
        pytest.skip(f"carrier spec data not found at {s10}")
    data = json.loads(s10.read_text(encoding="utf-8"))
    (lookup,) = [
        extra["lookup"]
        for extra in data["tracking_numbers"][0]["additional"]
        if extra["regex_group_name"] == "CountryCode"
    ]
    assert {entry["matches"] for entry in lookup} == S10_COUNTRIES


# --- our own vectors: DHL Paket, GLS, Hermes (no courier data covers them) ------------------


@pytest.mark.parametrize(
    ("carrier", "number"),
    [
        ("dhl", "201298452277"),  # published Identcode
        ("dhl", "123456789016"),
        ("dhl", "563102430313"),
        ("dhl", "340433836442636597"),  # published SSCC (without its 00)
        ("dhl", "340434123456789012"),
        ("dhl", "JJD000390013320676359"),
        ("gls", "364123734778"),
        ("gls", "123456789011"),
        ("gls", "400123456781"),
        ("gls", "851234567895"),
        ("gls", "XHAX4HDA"),  # Track-ID
        ("hermes", "09133131530724"),  # published
        ("hermes", "01234567890128"),
        ("hermes", "12345678901231"),
        ("hermes", "H1003660401590901036"),
        ("deutsche_post", "RR123456785DE"),
        ("deutsche_post", "340433836442636597"),  # Warenpost carries DHL Paket numbers
        ("dhl_express", "JD014600006796814059"),
    ],
)
def test_valid_numbers_come_back_unchanged(carrier: str, number: str) -> None:
    assert normalise_tracking_number(carrier, number) == number


@pytest.mark.parametrize(
    ("carrier", "number"),
    [
        ("dhl", "201298452276"),
        ("dhl", "123456789017"),
        ("dhl", "340433836442636598"),
        ("dhl", "00340433836442636598"),
        ("gls", "364123734777"),
        ("gls", "123456789012"),
        ("hermes", "09133131530725"),
        ("hermes", "12345678901232"),
        ("deutsche_post", "RR123456784DE"),
    ],
)
def test_a_wrong_check_digit_is_reported_as_such(carrier: str, number: str) -> None:
    assert error_code(carrier, number) == "bad_check_digit"


# --- canonical numbers ----------------------------------------------------------------------


def test_the_20_digit_dhl_number_is_stored_as_its_18_digit_sscc() -> None:
    assert normalise_tracking_number("dhl", "00340433836442636597") == "340433836442636597"
    assert normalise_tracking_number("dhl", "340433836442636597") == "340433836442636597"


def test_deutsche_post_stores_dhl_numbers_the_same_way() -> None:
    assert (
        normalise_tracking_number("deutsche_post", "0034 0433 8364 4263 6597")
        == "340433836442636597"
    )


def test_dpd_numbers_are_stored_as_the_14_digit_parcel_number() -> None:
    parcel = "09980000020033"
    assert normalise_tracking_number("dpd", parcel) == parcel
    assert normalise_tracking_number("dpd", "0998 0000 0200 33F") == parcel
    assert normalise_tracking_number("dpd", "00 81827 0998 0000 0200 33 350 276 C") == parcel


def test_separators_and_lowercase_are_cleaned_away() -> None:
    assert normalise_tracking_number("ups", " 1z5r-8939.0357/5671 27 ") == "1Z5R89390357567127"
    assert normalise_tracking_number("other", "ab-12 cd") == "AB12CD"


# --- what goes wrong, and what the operator is told -----------------------------------------


@pytest.mark.parametrize("raw", ["", "   ", " - / . "])
def test_an_empty_number_is_reported_as_empty(raw: str) -> None:
    assert error_code("dhl", raw) == "empty"


@pytest.mark.parametrize(
    "raw", ["3,40434E+17", "3.40434E+17", "3.40434e17", " 3E+17 ", "9,13313E+12"]
)
def test_scientific_notation_is_named_as_spreadsheet_damage(raw: str) -> None:
    with pytest.raises(TrackingNumberError) as caught:
        normalise_tracking_number("dhl", raw)
    assert caught.value.code == "scientific_notation"
    assert raw.strip() in caught.value.message
    assert "spreadsheet" in caught.value.message
    assert "as text" in caught.value.message


def test_scientific_notation_is_recognised_for_any_carrier() -> None:
    assert error_code("other", "3.40434E+17") == "scientific_notation"


def test_a_code_merely_containing_an_e_is_no_scientific_notation() -> None:
    assert normalise_tracking_number("gls", "12E45678") == "12E45678"


def test_lost_leading_zeros_are_named_with_the_likely_number() -> None:
    with pytest.raises(TrackingNumberError) as caught:
        normalise_tracking_number("hermes", "9133131530724")
    assert caught.value.code == "leading_zeros_lost"
    assert "09133131530724" in caught.value.message
    assert "spreadsheet" in caught.value.message


def test_a_short_number_that_zeros_do_not_repair_is_a_bad_format() -> None:
    assert error_code("hermes", "9133131530725") == "bad_format"


def test_many_missing_digits_are_no_lost_zeros() -> None:
    assert error_code("dpd", "12345") == "bad_format"


@pytest.mark.parametrize("raw", ["0034#0433", "JJD0003_9001", "straße", "12345€"])
def test_characters_other_than_letters_and_digits_are_reported(raw: str) -> None:
    assert error_code("other", raw) == "bad_characters"


def test_a_bad_format_message_lists_what_the_carrier_expects() -> None:
    with pytest.raises(TrackingNumberError) as caught:
        normalise_tracking_number("gls", "1234")
    assert caught.value.code == "bad_format"
    assert "GLS" in caught.value.message
    assert "12 digits" in caught.value.message
    assert "Track-ID" in caught.value.message


def test_a_number_of_another_carrier_is_a_bad_format() -> None:
    assert error_code("dhl", "1Z5R89390357567127") == "bad_format"


def test_a_long_number_ending_in_zeros_hints_at_spreadsheet_rounding() -> None:
    with pytest.raises(TrackingNumberError) as caught:
        normalise_tracking_number("dhl", "340434310428091700")
    assert caught.value.code == "bad_check_digit"
    assert "rounded" in caught.value.message


def test_other_accepts_any_letters_and_digits_up_to_the_column_size() -> None:
    assert normalise_tracking_number("other", "X") == "X"
    assert normalise_tracking_number("other", "A" * 64) == "A" * 64
    assert error_code("other", "A" * 65) == "bad_format"


def test_errors_survive_pickling_between_processes() -> None:
    with pytest.raises(TrackingNumberError) as caught:
        normalise_tracking_number("dhl", "")
    copy = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 (our own bytes)
    assert (copy.code, copy.message, str(copy)) == (
        caught.value.code,
        caught.value.message,
        str(caught.value),
    )
    unknown = pickle.loads(pickle.dumps(UnknownCarrier("pigeon")))  # noqa: S301
    assert str(unknown) == str(UnknownCarrier("pigeon"))


# --- detection ------------------------------------------------------------------------------


def test_detection_names_every_carrier_whose_formats_accept_the_number() -> None:
    assert detect_carriers("1Z5R89390357567127") == ["ups"]
    assert detect_carriers("00340433836442636597") == ["dhl", "deutsche_post"]
    assert set(detect_carriers("09133131530724")) == {"hermes", "dpd"}


def test_detection_of_garbage_is_empty() -> None:
    assert detect_carriers("not a number!") == []
    assert detect_carriers("") == []


# --- tracking links -------------------------------------------------------------------------


def test_tracking_links_are_german_for_de_and_english_otherwise() -> None:
    assert tracking_url("dhl", "340433836442636597", "de") == (
        "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html"
        "?piececode=340433836442636597"
    )
    assert tracking_url("dhl", "340433836442636597", "en").startswith("https://www.dhl.de/en/")
    assert tracking_url("dpd", "09980000020033", "fr") == (
        "https://tracking.dpd.de/status/en_DE/parcel/09980000020033"
    )
    assert tracking_url("ups", "1Z5R89390357567127", "de") == (
        "https://www.ups.com/track?loc=de_DE&tracknum=1Z5R89390357567127"
    )


def test_tracking_links_quote_the_number() -> None:
    assert tracking_url("gls", "A B&c=1#", "de") == (
        "https://gls-group.eu/DE/de/paketverfolgung?match=A%20B%26c%3D1%23"
    )


def test_other_has_no_tracking_link() -> None:
    assert tracking_url("other", "ABC", "de") == ""


# --- properties -----------------------------------------------------------------------------

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=n, max_size=n)


VALID_NUMBERS = st.one_of(
    _digits(11).map(lambda b: ("dhl", b + str(cd.dhl_identcode_check_digit(b)))),
    _digits(17).map(lambda b: ("dhl", b + str(cd.gs1_check_digit(b)))),
    _digits(13).map(lambda b: ("hermes", b + str(cd.gs1_check_digit(b)))),
    _digits(11).map(lambda b: ("gls", b + str(cd.gls_check_digit(b)))),
    _digits(11).map(lambda b: ("fedex", b + str(cd.fedex_12_check_digit(b)))),
    _digits(14).map(lambda b: ("dpd", b + cd.mod37_36_check_char(b))),
    st.text(LETTERS + "0123456789", min_size=15, max_size=15).map(
        lambda b: ("ups", f"1Z{b}{cd.ups_check_digit(b)}")
    ),
    st.tuples(st.text(LETTERS, min_size=2, max_size=2), _digits(8)).map(
        lambda t: ("deutsche_post", f"{t[0]}{t[1]}{cd.s10_check_digit(t[1])}DE")
    ),
)


@st.composite
def with_noise(draw: st.DrawFn, number: str) -> str:
    """The number as people type it: separators anywhere, random case, padding."""
    out = [draw(st.sampled_from(["", " ", "  "]))]
    for char in number:
        out.append(char.lower() if draw(st.booleans()) else char)
        out.append(draw(st.sampled_from(["", "", " ", "-", ".", "/"])))
    out.append(draw(st.sampled_from(["", " ", "\t"])))
    return "".join(out)


@given(pair=VALID_NUMBERS, data=st.data())
def test_formatting_noise_does_not_change_the_normalised_number(
    pair: tuple[str, str], data: st.DataObject
) -> None:
    carrier, number = pair
    noisy = data.draw(with_noise(number))
    assert normalise_tracking_number(carrier, noisy) == normalise_tracking_number(carrier, number)


@given(body=_digits(17))
def test_the_00_prefixed_and_the_bare_sscc_normalise_equal(body: str) -> None:
    sscc = body + str(cd.gs1_check_digit(body))
    for carrier in ("dhl", "deutsche_post"):
        assert normalise_tracking_number(carrier, "00" + sscc) == sscc
        assert normalise_tracking_number(carrier, sscc) == sscc


@given(pair=VALID_NUMBERS)
def test_a_normalised_number_normalises_to_itself(pair: tuple[str, str]) -> None:
    carrier, number = pair
    once = normalise_tracking_number(carrier, number)
    assert normalise_tracking_number(carrier, once) == once


# --- speed ----------------------------------------------------------------------------------


def test_normalising_stays_within_microseconds() -> None:
    # The import benchmark normalises a million numbers; this guard is generous (25 µs each)
    # so that it only trips on an accidental per-call rebuild of tables or regexes.
    numbers = [
        ("dhl", "00340433836442636597"),
        ("dhl", "2012 9845 2277"),
        ("hermes", "09133131530724"),
        ("ups", "1Z5R89390357567127"),
        ("dpd", "0998 0000 0200 33F"),
        ("gls", "364123734778"),
    ] * 2_000
    started = time.perf_counter()
    for carrier, number in numbers:
        normalise_tracking_number(carrier, number)
    per_call = (time.perf_counter() - started) / len(numbers)
    assert per_call < 25e-6
