"""Reading tracking-number files: the project's own format and carrier software exports.

A file becomes a table of strings with canonical columns (`order_ref`, `carrier`,
`tracking_number`, `ship_date`) plus `row`, the spreadsheet row number (header = row 1), so
every later problem can name the row and the column as the operator sees them.

Presets say what an export usually looks like; headers are always matched by name, in German
or English, so a re-ordered or extended export still reads.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from core.problems import UnreadableInput
from core.textfile import (
    allow_fields_of,
    detect_delimiter,
    detect_encoding,
    first_line,
    header_key,
)

CANONICAL = ("order_ref", "carrier", "tracking_number", "ship_date", "return_tracking_number")

# Header names seen in exports, most specific first; compared after header_key().
ALIASES: Mapping[str, tuple[str, ...]] = {
    "order_ref": (
        "order_no",
        "ordernumber",
        "order",
        "auftragsnummer",
        "auftragsnr",
        "auftrag",
        "bestellnummer",
        "bestellnr",
        "bestellung",
        "sendungsreferenz",
        "referenz",
        "referenz1",
        "reference1",
        "reference",
        "kundenreferenz",
        "portal_order_id",
        "externebestellnummer",
        "lieferscheinnummer",
    ),
    "tracking_number": (
        "tracking_number",
        "trackingnummer",
        "trackingnumber",
        "trackingno",
        "tracking",
        "sendungsnummer",
        "sendungsnr",
        "paketnummer",
        "paketnr",
        "identcode",
        "trackid",
        "packagetrackingnumber",
        "parcelnumber",
        "shipmentnumber",
        "barcode",
    ),
    "carrier": (
        "carrier",
        "versender",
        "paketdienst",
        "versanddienstleister",
        "dienstleister",
        "spediteur",
        "shippingprovider",
        "versandart",
        "logistiker",
    ),
    # the return label packed into the parcel (OTTO Market requires its number); optional
    "return_tracking_number": (
        "return_tracking_number",
        "retourensendungsnummer",
        "retourensendungsnr",
        "retourennummer",
        "retourentrackingnummer",
        "returntrackingnumber",
        "returnnumber",
        "ruecksendungsnummer",
        "rücksendungsnummer",
    ),
    "ship_date": (
        "ship_date",
        "versanddatum",
        "shipdate",
        "shippingdate",
        "abholdatum",
        "pickupdate",
        "versandtag",
        "datum",
        "date",
    ),
}


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    carrier: str | None = None
    # aliases tried before the generic ones, e.g. the exact header of that export
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # JTL-Wawi writes delivery-note numbers `AU12345-001`: the order is `AU12345`
    ref_suffix: re.Pattern[str] | None = None
    # how the export is recognised without --format: header names (compared after
    # header_key) that all appear in it; any one set is enough. Only carrier exports, which
    # have no carrier column of their own, need one.
    signatures: tuple[frozenset[str], ...] = ()

    def fits(self, names: list[str]) -> bool:
        keys = {header_key(name) for name in names}
        return any(signature <= keys for signature in self.signatures)


def _signs(*sets: str) -> tuple[frozenset[str], ...]:
    """`_signs("trackid", "referenz1 paketnummer")`: each string is one set of header keys."""
    return tuple(frozenset(s.split()) for s in sets)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("liefern", "own format: order_no;carrier;tracking_number;ship_date"),
        Preset(
            "dhl",
            "DHL Geschäftskundenportal / Versenden export",
            carrier="dhl",
            aliases={
                "order_ref": ("sendungsreferenz", "referenz"),
                "tracking_number": ("sendungsnummer", "paketnummer"),
            },
            signatures=_signs("sendungsreferenz"),
        ),
        Preset(
            "dpd",
            "DPD Shipper / DELISprint export",
            carrier="dpd",
            aliases={
                "order_ref": ("referenz1", "referenz", "kundenreferenz"),
                "tracking_number": ("paketnummer", "paketscheinnummer"),
            },
            signatures=_signs("paketscheinnummer", "referenz1 paketnummer"),
        ),
        Preset(
            "ups",
            "UPS WorldShip export",
            carrier="ups",
            aliases={
                "order_ref": ("reference1", "referenz1"),
                "tracking_number": ("trackingnumber", "packagetrackingnumber"),
            },
            signatures=_signs("trackingnumber reference1", "packagetrackingnumber"),
        ),
        Preset(
            "gls",
            "GLS Gepard / ShipIT export",
            carrier="gls",
            aliases={
                "order_ref": ("referenz", "kundenreferenz"),
                "tracking_number": ("paketnummer", "trackid"),
            },
            signatures=_signs("trackid"),
        ),
        Preset(
            "hermes",
            "Hermes Versand / ProfiPaketService export",
            carrier="hermes",
            aliases={
                "order_ref": ("referenz", "auftragsnummer"),
                "tracking_number": ("sendungsnummer", "barcode"),
            },
            signatures=_signs("barcode"),
        ),
        Preset(
            "jtl",
            "JTL-Wawi shipping export (delivery notes like AU12345-001)",
            aliases={
                "order_ref": ("lieferscheinnummer", "auftragsnummer", "bestellnummer"),
                "carrier": ("versandart", "versender", "logistiker"),
            },
            ref_suffix=re.compile(r"-\d{1,4}$"),
        ),
    )
}


@dataclass
class TrackingTable:
    frame: pd.DataFrame  # canonical columns present in the file, as str, plus int `row`
    headers: dict[str, str]  # canonical name -> the file's own header (for messages)
    encoding: str
    delimiter: str
    preset: Preset

    def header(self, canonical: str) -> str:
        return self.headers.get(canonical, canonical)


def get_preset(name: str | None) -> Preset:
    if name is None:
        return PRESETS["liefern"]
    preset = PRESETS.get(name.lower())
    if preset is None:
        raise UnreadableInput(
            f"unknown format {name!r}; known formats: {', '.join(sorted(PRESETS))}"
        )
    return preset


def map_headers(names: list[str], preset: Preset) -> dict[str, str]:
    """canonical -> the file's header, by preset aliases first, then the generic ones."""
    by_key: dict[str, str] = {}
    for name in names:
        by_key.setdefault(header_key(name), name)
    found: dict[str, str] = {}
    for canonical in CANONICAL:
        candidates = (*preset.aliases.get(canonical, ()), *ALIASES[canonical])
        for alias in candidates:
            original = by_key.get(header_key(alias))
            if original is not None and original not in found.values():
                found[canonical] = original
                break
    return found


def read_tracking_file(
    data: bytes, *, file_format: str | None = None, carrier: str | None = None
) -> TrackingTable:
    """Parse a tracking file; raises UnreadableInput when it cannot be read at all."""
    header = read_header(data, file_format=file_format, carrier=carrier)
    frame = _read_frame(data, header.encoding, header.delimiter, header.headers)
    return TrackingTable(frame, header.headers, header.encoding, header.delimiter, header.preset)


@dataclass(frozen=True)
class TrackingHeader:
    headers: dict[str, str]
    encoding: str
    delimiter: str
    preset: Preset


def read_header(
    data: bytes, *, file_format: str | None = None, carrier: str | None = None
) -> TrackingHeader:
    """The file's header as the reader will use it, or UnreadableInput saying what is missing.

    Cheap (the first line only), so an upload is checked with it before it is accepted."""
    if not data.strip():
        raise UnreadableInput("the file is empty")
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableInput("the file is not a text/CSV file (binary content)")
    encoding = detect_encoding(data)
    allow_fields_of(len(data))  # a character is at least one byte
    text_head = data[:65536].decode(encoding, errors="replace")
    delimiter = detect_delimiter(first_line(text_head))
    names = next(csv.reader(io.StringIO(first_line(text_head)), delimiter=delimiter), [])
    preset = get_preset(file_format) if file_format else detect_preset(names, carrier)
    headers = map_headers(names, preset)
    _require_columns(headers, names, preset, carrier)
    return TrackingHeader(headers, encoding, delimiter, preset)


def detect_preset(names: list[str], carrier: str | None = None) -> Preset:
    """The preset a header asks for: the own format when the file names its carrier (or
    --carrier does), else the one carrier export whose signature the header has."""
    own = PRESETS["liefern"]
    if carrier or "carrier" in map_headers(names, own):
        return own
    fitting = [
        preset
        for preset in PRESETS.values()
        if preset.fits(names)
        and {"order_ref", "tracking_number"} <= set(map_headers(names, preset))
    ]
    if len(fitting) > 1:
        formats = ", ".join(p.name for p in fitting)
        raise UnreadableInput(
            f"the header {_shown(names)} fits several carrier exports ({formats}); "
            f"pass --format with the one it is (e.g. --format {fitting[0].name})"
        )
    return fitting[0] if fitting else own


def _require_columns(
    headers: dict[str, str], names: list[str], preset: Preset, carrier: str | None
) -> None:
    missing = [c for c in ("order_ref", "tracking_number") if c not in headers]
    if missing:
        wanted = {
            "order_ref": "an order column (order_no, Auftragsnummer, Bestellnummer, Referenz)",
            "tracking_number": "a tracking column (tracking_number, Sendungsnummer, "
            "Paketnummer, Identcode, Tracking Number)",
        }
        raise UnreadableInput(
            "cannot find "
            + " and ".join(wanted[m] for m in missing)
            + f" in the header {_shown(names)}; check the file or pass --format "
            + f"({', '.join(sorted(PRESETS))})"
        )
    if "carrier" not in headers and not carrier and not preset.carrier:
        raise UnreadableInput(
            "the file has no carrier column (carrier, Versender, Paketdienst); "
            "pass --carrier (e.g. --carrier dhl) or a carrier --format"
        )


def _shown(names: list[str]) -> str:
    """The header as a message can show it: a few names, each cut short."""
    shown = [name if len(name) <= 40 else name[:40] + "…" for name in names[:12]]
    return repr(shown) + (f" and {len(names) - 12} more columns" if len(names) > 12 else "")


def _read_frame(
    data: bytes, encoding: str, delimiter: str, headers: dict[str, str]
) -> pd.DataFrame:
    wanted = list(headers.values())
    rename = {original: canonical for canonical, original in headers.items()}
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            sep=delimiter,
            encoding=encoding,
            dtype=str,
            keep_default_na=False,
            usecols=wanted,
            engine="pyarrow",
            dtype_backend="pyarrow",  # Arrow strings straight from the parser: 4x faster
        )
    except Exception:
        return _read_frame_by_line(data, encoding, delimiter, headers)
    if _has_irregular_lines(data, len(frame)):
        return _read_frame_by_line(data, encoding, delimiter, headers)
    frame = frame.rename(columns=rename)
    frame["row"] = range(2, len(frame) + 2)
    # exports often end with `;;;` lines: rows without any value are no rows
    blank = (frame[list(headers)].apply(lambda c: c.str.strip()) == "").all(axis=1)
    return frame[~blank] if blank.any() else frame


def _has_irregular_lines(data: bytes, rows: int) -> bool:
    """Blank lines or line breaks inside quotes shift row numbers: read line by line then."""
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    return lines != rows + 1


def _read_frame_by_line(
    data: bytes, encoding: str, delimiter: str, headers: dict[str, str]
) -> pd.DataFrame:
    text = data.decode(encoding, errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    names = next(reader)
    positions = {canonical: names.index(original) for canonical, original in headers.items()}
    columns: dict[str, list[str]] = {c: [] for c in positions}
    rows: list[int] = []
    line_before = reader.line_num
    for record in reader:
        row_start = line_before + 1
        line_before = reader.line_num
        if not any(field.strip() for field in record):
            continue
        rows.append(row_start)
        for canonical, pos in positions.items():
            columns[canonical].append(record[pos] if pos < len(record) else "")
    frame = pd.DataFrame(columns, dtype=str)
    frame["row"] = rows
    return frame
