"""The day's shipping list (Versandliste) per carrier: a printable A4 PDF and a CSV for Excel.

The PDF is what the driver signs at pick-up, so it must print for any buyer name. fpdf2's core
fonts only know latin-1; we therefore embed a Unicode TrueType font (DejaVu Sans) when one is
installed on this machine, and otherwise fall back to Helvetica with every character it cannot
encode replaced by its plain letter (é -> e, Ł -> L where Unicode knows one) or "?". Characters
that the embedded font lacks (e.g. CJK names in DejaVu) become "?" as well: visible, never a
crash, and the tracking number, order number and postal code carry the identification anyway.

The CSV is for German Excel: UTF-8 with BOM, `;` as delimiter, dates as dd.mm.yyyy, and every
cell that Excel would run as a formula (starting with = + - @ tab or CR) gets a leading `'`.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import TableBordersLayout, XPos, YPos

# (regular, bold) DejaVu Sans in the places Linux distributions, macOS and Windows put it
FONT_CANDIDATES: tuple[tuple[str, str], ...] = tuple(
    (f"{folder}/DejaVuSans.ttf", f"{folder}/DejaVuSans-Bold.ttf")
    for folder in (
        "/usr/share/fonts/truetype/dejavu",  # Debian, Ubuntu
        "/usr/share/fonts/dejavu-sans-fonts",  # Fedora
        "/usr/share/fonts/dejavu",  # Fedora (older), openSUSE
        "/usr/share/fonts/TTF",  # Arch
        "/usr/local/share/fonts",  # FreeBSD, manual installs
        "/Library/Fonts",  # macOS
        "C:/Windows/Fonts",  # Windows
    )
)

CSV_HEADER = (
    "Versanddienstleister",
    "Sendungsnummer",
    "Auftragsnummer",
    "Empfänger",
    "PLZ",
    "Ort",
    "Versanddatum",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")  # OWASP; NUL: ASVS 1.2.10

_FAMILY = "ListFont"
_CORE_FAMILY = "Helvetica"
_LATIN1 = frozenset(chr(code) for code in range(256))  # what fpdf2's core fonts can encode
_COLUMNS = (("#", 10), ("Sendungsnummer", 52), ("Auftrag", 32), ("Empfänger", 50), ("PLZ Ort", 36))
# latin-1 stand-ins for what NFKD cannot take apart (typography, letters with a stroke)
_CORE_REPLACEMENTS = {
    "–": "-",
    "—": "-",
    "…": "...",
    "„": '"',
    "“": '"',
    "”": '"',
    "‚": "'",
    "‘": "'",
    "’": "'",
    "€": "EUR",
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
    "Ħ": "H",
    "ħ": "h",
    "Ŧ": "T",
    "ŧ": "t",
    "ı": "i",
    "Œ": "OE",
    "œ": "oe",
}


# what the list shows in the number column for a parcel sent without tracking
UNTRACKED = "ohne Sendungsnummer"


@dataclass(frozen=True, slots=True)
class ShippingListRow:
    """One parcel on the list."""

    carrier: str
    tracking_number: str | None  # None: shipped without tracking, listed as UNTRACKED
    order_no: str
    recipient_name: str
    postal_code: str
    city: str
    ship_date: date


def find_unicode_font() -> tuple[Path, Path | None] | None:
    """DejaVu Sans (regular, bold if present) from the usual font folders, else None."""
    for regular, bold in FONT_CANDIDATES:
        if Path(regular).is_file():
            return Path(regular), Path(bold) if Path(bold).is_file() else None
    return None


def _plain(char: str) -> str:
    """The base letter of an accented character, or "" when Unicode knows none."""
    decomposed = unicodedata.normalize("NFKD", char)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _fit(text: str, has_glyph: Callable[[str], bool], core: bool) -> str:
    """`text` with only characters the font can draw; the rest as plain letters or "?"."""
    out = []
    for char in unicodedata.normalize("NFC", str(text)):
        category = unicodedata.category(char)
        if category == "Cc":  # tabs, line breaks, NUL: a space keeps words apart
            out.append(" ")
        elif category == "Cf" or (category == "Mn" and not has_glyph(char)):
            continue  # zero-width marks and stray accents carry no letter of their own
        elif category.startswith("C"):
            out.append("?")
        elif has_glyph(char):
            out.append(char)
        elif core and char in _CORE_REPLACEMENTS:
            out.append(_CORE_REPLACEMENTS[char])
        else:
            plain = _plain(char)
            out.append(plain if plain and all(has_glyph(c) for c in plain) else "?")
    return "".join(out)


class _ListPdf(FPDF):
    def __init__(self, title: str, subtitle: str, font: tuple[Path, Path | None] | None) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.core_font = font is None
        if font is None:
            self.list_font = _CORE_FAMILY
        else:
            regular, bold = font
            self.list_font = _FAMILY
            self.add_font(_FAMILY, "", str(regular))
            self.add_font(_FAMILY, "B", str(bold or regular))
        self.set_font(self.list_font, size=9)
        self.list_title = self.fit(title)
        self.list_subtitle = self.fit(subtitle)
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)

    def fit(self, text: str) -> str:
        if self.core_font:
            return _fit(text, lambda c: c in _LATIN1 and ord(c) >= 0x20, core=True)
        cmap = self.current_font.cmap  # type: ignore[union-attr]
        return _fit(text, lambda c: ord(c) in cmap, core=False)

    def header(self) -> None:
        self.set_font(self.list_font, "B", 14)
        self.cell(0, 8, self.list_title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(self.list_font, "", 10)
        self.cell(0, 6, self.list_subtitle, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(2)
        self.set_font(self.list_font, "", 9)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(self.list_font, "", 8)
        self.cell(0, 6, f"Seite {self.page_no()} von {{nb}}", align="C")


def render_pdf(
    *,
    carrier_name: str,
    day: date,
    shop_name: str,
    rows: Sequence[ShippingListRow],
    unicode_font: bool = True,
) -> bytes:
    """The printable list: title, shop, parcel count, a table whose header repeats on every
    page, "Seite x von y", and the driver's signature block at the end.

    `unicode_font=False` forces the latin-1 core font (what a machine without DejaVu gets)."""
    font = find_unicode_font() if unicode_font else None
    title = f"Versandliste {carrier_name} – {day:%d.%m.%Y}"
    subtitle = f"{shop_name} · {len(rows)} {'Paket' if len(rows) == 1 else 'Pakete'}"
    pdf = _ListPdf(title, subtitle, font)
    pdf.set_title(pdf.fit(title))
    pdf.set_creator("liefern")
    pdf.add_page()

    widths = tuple(width for _, width in _COLUMNS)
    with pdf.table(
        col_widths=widths,
        width=sum(widths),
        align="LEFT",
        text_align="LEFT",
        line_height=5.5,
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        repeat_headings=1,
        first_row_as_headings=True,
    ) as table:
        heading = table.row()
        for name, _ in _COLUMNS:
            heading.cell(pdf.fit(name))
        for number, parcel in enumerate(rows, start=1):
            row = table.row()
            row.cell(str(number))
            row.cell(pdf.fit(parcel.tracking_number or UNTRACKED))
            row.cell(pdf.fit(parcel.order_no))
            row.cell(pdf.fit(parcel.recipient_name))
            row.cell(pdf.fit(f"{parcel.postal_code} {parcel.city}".strip()))

    _signature_block(pdf, len(rows))
    return bytes(pdf.output())


def _signature_block(pdf: _ListPdf, count: int) -> None:
    """Where the driver confirms the pick-up; kept whole on one page."""
    if pdf.get_y() > pdf.h - 18 - 45:
        pdf.add_page()
    pdf.ln(10)
    pdf.set_font(pdf.list_font, "", 10)
    pdf.cell(0, 6, pdf.fit(f"Anzahl Pakete: {count}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(12)
    line_width = 80.0
    left = pdf.l_margin
    right = pdf.w - pdf.r_margin - line_width
    y = pdf.get_y()
    pdf.line(left, y, left + line_width, y)
    pdf.line(right, y, right + line_width, y)
    pdf.set_font(pdf.list_font, "", 8)
    pdf.set_xy(left, y + 1)
    pdf.cell(line_width, 5, pdf.fit("Datum, Uhrzeit"))
    pdf.set_xy(right, y + 1)
    pdf.cell(line_width, 5, pdf.fit("Übergeben an / Unterschrift Fahrer"))
    pdf.ln(6)


def neutralise_cell(cell: str) -> str:
    """Excel runs a cell starting with = + - @ tab or CR as a formula: make it text."""
    return f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell


def render_csv(rows: Sequence[ShippingListRow]) -> bytes:
    """UTF-8 with BOM, `;`-separated, German header, one line per parcel."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for parcel in rows:
        cells = (
            parcel.carrier,
            parcel.tracking_number or UNTRACKED,
            parcel.order_no,
            parcel.recipient_name,
            parcel.postal_code,
            parcel.city,
            f"{parcel.ship_date:%d.%m.%Y}",
        )
        writer.writerow([neutralise_cell(str(cell)) for cell in cells])
    return buffer.getvalue().encode("utf-8-sig")
