"""Reading tracking files: encodings, delimiters, headers in German and English, presets."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.problems import UnreadableInput
from core.tracking_csv import read_tracking_file


def test_own_format_reads_canonical_columns_and_row_numbers() -> None:
    data = b"order_no;carrier;tracking_number;ship_date\nAU1;dhl;123;2026-11-20\nAU2;dpd;456;\n"
    table = read_tracking_file(data)
    assert table.delimiter == ";"
    assert table.frame["order_ref"].tolist() == ["AU1", "AU2"]
    assert table.frame["row"].tolist() == [2, 3]
    assert table.frame["ship_date"].tolist() == ["2026-11-20", ""]


def test_windows_1252_export_with_german_headers() -> None:
    text = "Auftragsnummer;Paketdienst;Sendungsnummer;Versanddatum;Empfänger\n"
    text += "AU7;DHL;00340434161094042557;24.11.2026;Jürgen Größ\n"
    table = read_tracking_file(text.encode("cp1252"))
    assert table.encoding == "cp1252"
    assert table.headers == {
        "order_ref": "Auftragsnummer",
        "carrier": "Paketdienst",
        "tracking_number": "Sendungsnummer",
        "ship_date": "Versanddatum",
    }
    assert table.frame["tracking_number"].tolist() == ["00340434161094042557"]


def test_utf8_bom_and_comma_delimiter_of_ups_worldship() -> None:
    data = "\ufeffTracking Number,Reference 1,Weight\n1Z999AA10123456784,AU9,1.2\n".encode()
    table = read_tracking_file(data, file_format="ups")
    assert table.encoding == "utf-8-sig"
    assert table.delimiter == ","
    assert table.frame["order_ref"].tolist() == ["AU9"]
    assert table.preset.carrier == "ups"


@pytest.mark.parametrize("delimiter", [";", ",", "|", "\t"])
def test_every_supported_delimiter_is_detected(delimiter: str) -> None:
    data = delimiter.join(["order_no", "carrier", "tracking_number"]) + "\nAU1" + delimiter
    data += delimiter.join(["gls", "12345678901"]) + "\n"
    table = read_tracking_file(data.encode())
    assert table.delimiter == delimiter
    assert table.frame["carrier"].tolist() == ["gls"]


def test_leading_zeros_survive_as_text() -> None:
    data = b"order_no;carrier;tracking_number\nAU1;dpd;01234567890123\n"
    assert read_tracking_file(data).frame["tracking_number"].tolist() == ["01234567890123"]


def test_blank_lines_keep_the_row_numbers_the_operator_sees() -> None:
    data = b"order_no;carrier;tracking_number\nAU1;dhl;1\n\nAU2;dhl;2\n"
    assert read_tracking_file(data).frame["row"].tolist() == [2, 4]


def test_ragged_rows_are_read_line_by_line() -> None:
    data = b"order_no;carrier;tracking_number\nAU1;dhl\nAU2;dhl;2;extra\n"
    table = read_tracking_file(data)
    assert table.frame["tracking_number"].tolist() == ["", "2"]
    assert table.frame["row"].tolist() == [2, 3]


def test_missing_tracking_column_is_unreadable_with_a_hint() -> None:
    with pytest.raises(UnreadableInput, match="tracking column"):
        read_tracking_file(b"order_no;carrier\nAU1;dhl\n")


def test_missing_carrier_everywhere_asks_for_carrier_option() -> None:
    with pytest.raises(UnreadableInput, match="--carrier"):
        read_tracking_file(b"order_no;tracking_number\nAU1;123\n")
    table = read_tracking_file(b"order_no;tracking_number\nAU1;123\n", carrier="dhl")
    assert "carrier" not in table.headers


def test_binary_file_is_unreadable() -> None:
    with pytest.raises(UnreadableInput, match="binary"):
        read_tracking_file(b"PK\x03\x04\x00\x00\x00binary")


def test_jtl_preset_knows_delivery_note_numbers() -> None:
    data = b"Lieferscheinnummer;Versandart;Trackingnummer\nAU12345-001;DHL;1\n"
    table = read_tracking_file(data, file_format="jtl")
    assert table.preset.ref_suffix is not None
    assert table.preset.ref_suffix.sub("", "AU12345-001") == "AU12345"


def test_unknown_format_lists_the_known_ones() -> None:
    with pytest.raises(UnreadableInput, match="dhl, dpd"):
        read_tracking_file(b"a;b\n", file_format="fedex-ship-manager")


cell = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r\n"),
    max_size=12,
)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(cell, cell, cell), min_size=1, max_size=20),
    delimiter=st.sampled_from([";", ",", "|", "\t"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
)
def test_reader_round_trips_whatever_a_csv_writer_wrote(
    rows: list[tuple[str, str, str]], delimiter: str, encoding: str
) -> None:
    if encoding == "cp1252":
        rows = [tuple(c.encode("cp1252", "replace").decode("cp1252") for c in r) for r in rows]  # type: ignore[misc]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(["order_no", "carrier", "tracking_number"])
    writer.writerows(rows)
    table = read_tracking_file(out.getvalue().encode(encoding))
    got = list(
        zip(
            table.frame["order_ref"],
            table.frame["carrier"],
            table.frame["tracking_number"],
            strict=True,
        )
    )
    expected = [r for r in rows if any(c.strip() for c in r)]
    assert [tuple(c.strip() for c in r) for r in got] == [
        tuple(c.strip() for c in r) for r in expected
    ]
