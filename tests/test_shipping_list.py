"""The day's shipping list: a printable PDF for any buyer name, and a CSV German Excel opens
safely."""

from __future__ import annotations

import csv
import io
import re
import zlib
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.shipping_list import (
    CSV_HEADER,
    ShippingListRow,
    find_unicode_font,
    render_csv,
    render_pdf,
)

DAY = date(2026, 11, 27)


def row(n: int = 1, name: str = "Jürgen Weiß", city: str = "München") -> ShippingListRow:
    return ShippingListRow(
        carrier="DHL",
        tracking_number=f"00340434161094{n:06d}",
        order_no=f"A-2026-{n:05d}",
        recipient_name=name,
        postal_code="80331",
        city=city,
        ship_date=DAY,
    )


def pdf(rows: list[ShippingListRow], *, unicode_font: bool = True) -> bytes:
    return render_pdf(
        carrier_name="DHL", day=DAY, shop_name="Beispiel-Shop", rows=rows, unicode_font=unicode_font
    )


def page_count(document: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", document))


def page_texts(document: bytes) -> list[str]:
    """Text shown on each page, for the latin-1 core font (embedded fonts draw glyph ids)."""
    texts = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", document, re.S):
        try:
            content = zlib.decompress(stream)
        except zlib.error:
            continue  # an embedded font or image, not a page
        lines = []
        for block in re.findall(rb"BT(.*?)ET", content, re.S):  # one text object, one line
            shown = re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", block)
            lines.append(b"".join(re.sub(rb"\\(.)", rb"\1", s) for s in shown).decode("latin-1"))
        texts.append("\n".join(line for line in lines if line))
    return texts


# --- PDF ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("unicode_font", [True, False], ids=["embedded-font", "core-font"])
def test_pdf_is_a_pdf(unicode_font: bool) -> None:
    assert pdf([row()], unicode_font=unicode_font).startswith(b"%PDF")


def test_short_list_fits_one_page_and_long_list_spans_several() -> None:
    assert page_count(pdf([row(n) for n in range(5)])) == 1
    assert page_count(pdf([row(n) for n in range(120)])) > 1


def test_title_shop_and_count_are_printed() -> None:
    (first,) = page_texts(pdf([row(1), row(2)], unicode_font=False))
    assert "Versandliste DHL - 27.11.2026" in first  # the en dash has no latin-1 glyph
    assert "Beispiel-Shop" in first
    assert "2 Pakete" in first


def test_every_page_repeats_the_table_header_and_counts_pages() -> None:
    pages = page_texts(pdf([row(n) for n in range(120)], unicode_font=False))
    assert len(pages) > 1
    for number, text in enumerate(pages, start=1):
        assert "Sendungsnummer" in text
        assert f"Seite {number} von {len(pages)}" in text


def test_every_parcel_is_listed_once_with_its_tracking_number() -> None:
    rows = [row(n) for n in range(120)]
    text = "\n".join(page_texts(pdf(rows, unicode_font=False)))
    for parcel in rows:
        assert text.count(parcel.tracking_number) == 1


def test_list_ends_with_the_drivers_signature_line() -> None:
    last = page_texts(pdf([row(n) for n in range(40)], unicode_font=False))[-1]
    assert "Übergeben an / Unterschrift Fahrer" in last
    assert "Anzahl Pakete: 40" in last


def test_core_font_keeps_umlauts_and_simplifies_other_letters() -> None:
    names = ["Jürgen Weiß", "Łukasz Dvořák", "王小明"]
    text = "\n".join(
        page_texts(pdf([row(n, name) for n, name in enumerate(names)], unicode_font=False))
    )
    assert "Jürgen Weiß" in text
    assert "Lukasz Dvorák" in text  # á is latin-1, ř becomes r, Ł becomes L
    assert "???" in text


def test_an_installed_unicode_font_is_embedded() -> None:
    if find_unicode_font() is None:
        pytest.skip("no DejaVu Sans on this machine: the core-font fallback is used")
    assert b"/FontFile2" in pdf([row(1, "Zoë Ørsted")])
    assert b"/FontFile2" not in pdf([row(1, "Zoë Ørsted")], unicode_font=False)


names = st.text(min_size=0, max_size=60)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=names, city=names, unicode_font=st.booleans())
def test_any_unicode_name_renders_without_crashing(
    name: str, city: str, unicode_font: bool
) -> None:
    assert pdf([row(1, name, city)], unicode_font=unicode_font).startswith(b"%PDF")


# --- CSV ----------------------------------------------------------------------------------------


def parsed(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))


def test_csv_starts_with_bom_and_german_header() -> None:
    data = render_csv([row()])
    assert data.startswith(b"\xef\xbb\xbf")
    assert parsed(data)[0] == list(CSV_HEADER)
    assert CSV_HEADER[3] == "Empfänger"


def test_csv_round_trips_umlauts_and_german_dates() -> None:
    (_, line) = parsed(render_csv([row(7, "Jürgen Weiß; Ärztin", "Görlitz")]))
    assert line == [
        "DHL",
        "00340434161094000007",
        "A-2026-00007",
        "Jürgen Weiß; Ärztin",
        "80331",
        "Görlitz",
        "27.11.2026",
    ]


@pytest.mark.parametrize(
    "payload", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\r=1"]
)
def test_csv_neutralises_formula_cells(payload: str) -> None:
    (_, line) = parsed(render_csv([row(1, payload, payload)]))
    assert line[3] == "'" + payload
    assert line[5] == "'" + payload


def test_csv_leaves_ordinary_cells_alone() -> None:
    (_, line) = parsed(render_csv([row(1, "Anna-Lena Meyer", "Halle (Saale)")]))
    assert line[3:6] == ["Anna-Lena Meyer", "80331", "Halle (Saale)"]
