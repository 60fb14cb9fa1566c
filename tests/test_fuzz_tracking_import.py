"""Fuzzing the tracking import: any bytes in, either UnreadableInput or rows with row numbers.

`read_tracking_file` plus `RowValidator` on arbitrary bytes and on CSV-shaped input with
random headers, delimiters, encodings, quotes, line breaks inside cells, blank and `;;;`
lines: nothing but UnreadableInput is ever raised; every data row comes out exactly once,
either as a parcel row or as a problem naming its spreadsheet row, a column of the file and
a known code; and the row number is the line on which the record starts.

Case counts: LIEFERN_FUZZ_EXAMPLES (tests/stress/fuzzing.py).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from core.problems import RowProblem, UnreadableInput
from core.tracking_csv import ALIASES, PRESETS, TrackingTable, read_tracking_file
from core.tracking_rows import ParcelRow, RowValidator
from tests.stress.fuzzing import fuzz

TODAY = date(2026, 11, 26)
LINE_BREAK = re.compile(r"\r\n|\r|\n")  # what ends a line for a CSV reader and a spreadsheet
ROW_CODES = frozenset(
    {
        "order_missing",
        "carrier_missing",
        "carrier_unknown",
        "bad_ship_date",
        "ship_date_in_future",
        "ship_date_too_old",
        "empty",
        "scientific_notation",
        "leading_zeros_lost",
        "bad_characters",
        "bad_format",
        "bad_check_digit",
    }
)
HEADER_NAMES = [
    *sorted({a for names in ALIASES.values() for a in names}),
    "Sendungsnummer",
    "Auftragsnummer",
    "Tracking Number",
    "Reference 1",
    "Versender",
    "notes",
    "",
]
CELLS = st.text(max_size=25) | st.sampled_from(
    [
        "AU100001",
        "dhl",
        "DPD",
        "Deutsche Post",
        "00340434161094042557",
        "340434161094042557",
        "3,40434E+17",
        "1Z999AA10123456784",
        "24.11.2026",
        "2026-11-24T10:00",
        "=SUM(A1)",
        '"',
        ";",
        "\n",
        "\r\n",
        " ",
    ]
)


def validate(table: TrackingTable, carrier: str | None) -> tuple[list[ParcelRow], list[RowProblem]]:
    validator = RowValidator(
        headers=table.headers,
        default_carrier=carrier or table.preset.carrier,
        today=TODAY,
        ref_suffix=None,
    )
    return validator.validate(table.frame)


def check_outcome(
    table: TrackingTable, carrier: str | None, good: list[ParcelRow], bad: list[RowProblem]
) -> None:
    rows = [int(r) for r in table.frame["row"]]
    assert sorted([g.row for g in good] + [b.row for b in bad]) == sorted(rows)
    assert len(set(rows)) == len(rows)
    columns = set(table.headers.values()) | {"--carrier", "ship_date"}
    for problem in bad:
        assert problem.row >= 2
        assert problem.column in columns, problem
        assert problem.code in ROW_CODES, problem
        assert problem.message.strip()
    for parcel in good:
        assert parcel.order_ref and parcel.order_ref == parcel.order_ref.strip()
        if parcel.tracking_number is None:  # untracked: the row named its carrier itself
            continue
        assert parcel.tracking_number.isalnum() and parcel.tracking_number.isascii()


def read_and_validate(data: bytes, file_format: str | None, carrier: str | None) -> None:
    try:
        table = read_tracking_file(data, file_format=file_format, carrier=carrier)
    except UnreadableInput as error:
        assert str(error).strip()
        return
    good, bad = validate(table, carrier)
    check_outcome(table, carrier, good, bad)


@fuzz()
@given(
    data=st.binary(max_size=600),
    file_format=st.sampled_from([None, *PRESETS]),
    carrier=st.sampled_from([None, "dhl", "ups"]),
)
def test_arbitrary_bytes_are_unreadable_or_rows_with_numbers(
    data: bytes, file_format: str | None, carrier: str | None
) -> None:
    read_and_validate(data, file_format, carrier)


@st.composite
def csv_file(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    """A CSV export: a header of known and unknown names, records with awkward cells, blank
    and `;;;` lines between them. Also the line each non-blank record starts on."""
    delimiter = draw(st.sampled_from([";", ",", "\t", "|"]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    names = draw(st.lists(st.sampled_from(HEADER_NAMES), min_size=1, max_size=6))
    quote_all = draw(st.booleans())
    out = io.StringIO(newline="")
    writer = csv.writer(
        out,
        delimiter=delimiter,
        lineterminator=newline,
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
    )
    writer.writerow(names)
    starts: list[int] = []
    for _ in range(draw(st.integers(0, 12))):
        if draw(st.booleans()) and draw(st.booleans()):
            out.write(draw(st.sampled_from(["", delimiter * len(names)])) + newline)
        line = len(LINE_BREAK.findall(out.getvalue())) + 1
        cells = draw(st.lists(CELLS, min_size=0, max_size=len(names) + 1))
        if not quote_all:  # csv.writer leaves a lone CR unquoted: that is a line break
            cells = [c.replace("\r", "") for c in cells]
        writer.writerow(cells)
        if any(c.strip() for c in cells):
            starts.append(line)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    text = out.getvalue()
    data = text.encode(encoding, errors="replace")
    return data, starts


@fuzz()
@given(
    file=csv_file(),
    file_format=st.sampled_from([None, "dhl", "jtl"]),
    carrier=st.sampled_from([None, "dpd"]),
)
def test_csv_shaped_input_reports_every_bad_row_with_row_column_and_code(
    file: tuple[bytes, list[int]], file_format: str | None, carrier: str | None
) -> None:
    data, _ = file
    read_and_validate(data, file_format, carrier)


@fuzz()
@given(file=csv_file())
def test_row_numbers_are_the_lines_where_records_start(file: tuple[bytes, list[int]]) -> None:
    data, starts = file
    try:
        table = read_tracking_file(data, carrier="dhl")
    except UnreadableInput:
        return
    rows = [int(r) for r in table.frame["row"]]
    assert set(rows) <= set(starts), (rows, starts)


def test_a_file_with_old_mac_line_endings_is_read_row_by_row() -> None:
    data = b"order_no;carrier;tracking_number\rAU1;dhl;00340434161094042557\rAU2;dpd;x\r"
    table = read_tracking_file(data)
    assert list(table.frame["order_ref"]) == ["AU1", "AU2"]
    assert [int(r) for r in table.frame["row"]] == [2, 3]
