"""Guessing how a CSV export was written: encoding and delimiter.

Carrier software on German Windows machines writes Windows-1252 with `;`; web tools write UTF-8,
sometimes with a BOM; UPS WorldShip writes `,`. We look, rather than ask the operator.
"""

from __future__ import annotations

import csv
import io

DELIMITERS = (";", ",", "|", "\t")


def detect_encoding(data: bytes) -> str:
    """UTF-8 (with or without BOM) when the bytes decode as such, else Windows-1252."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def detect_delimiter(header_line: str) -> str:
    """The candidate that splits the header into the most fields (quotes respected)."""
    best, best_count = ";", 1
    for candidate in DELIMITERS:
        fields = next(csv.reader(io.StringIO(header_line), delimiter=candidate), [])
        if len(fields) > best_count:
            best, best_count = candidate, len(fields)
    return best


def first_line(text: str) -> str:
    end = text.find("\n")
    return (text if end < 0 else text[:end]).split("\r", 1)[0]  # a lone CR ends a line too


def header_key(name: str) -> str:
    """`Reference 1`, `reference_1` and `REFERENCE-1` are the same column."""
    return "".join(ch for ch in name.strip().lower() if ch.isalnum())


def allow_fields_of(length: int) -> None:
    """Let the csv module read a field as long as the whole file (`length` characters).

    Its default limit (128 KiB) raises `_csv.Error` mid-file and loses the row, its order and
    its number; the file is in memory already, so a long field costs nothing more, and the
    row checks then name it (`too_long`). The limit is process-wide and only ever raised.
    """
    if length >= csv.field_size_limit():
        csv.field_size_limit(length + 1)
