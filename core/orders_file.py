"""Reading order files: CSV (one row per order item) and JSON lines (one order per line).

CSV columns: order_no, portal, portal_account, portal_order_id, buyer_name, buyer_email,
country, language, item_id, sku, title, quantity; optional postal_code, city. Rows of one order
repeat the order columns. An order with one bad row is rejected as a whole: half an order would
confirm the wrong items to the portal later. So is an order whose number or portal order id
the file gives twice in different ways: which of them is right only the seller knows.

Free text the marketplaces deliver (buyer name, city, item title) may hold line breaks and
control characters; they become spaces, with a warning, so that the order can still ship.
In order numbers, ids, SKUs and addresses they reject the row: there they are a broken export.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from core.domain import Portal, default_language
from core.problems import RowProblem, UnreadableInput
from core.textfile import allow_fields_of, detect_delimiter, detect_encoding, first_line

ORDER_COLUMNS = (
    "order_no",
    "portal",
    "portal_account",
    "portal_order_id",
    "buyer_name",
    "buyer_email",
    "country",
    "language",
)
ITEM_COLUMNS = ("item_id", "sku", "title", "quantity")
OPTIONAL_COLUMNS = ("postal_code", "city")
_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
_LIMITS = {
    "order_no": 64,
    "portal_account": 64,
    "portal_order_id": 64,
    "buyer_name": 200,
    "buyer_email": 320,
    "item_id": 64,
    "sku": 100,
    "title": 500,
    "postal_code": 16,
    "city": 100,
}
SHOWN_VALUE = 80  # characters of a bad value repeated in its problem
# free text as buyers and sellers type it: control characters are neutralised, not refused
FREE_TEXT = ("buyer_name", "city", "title")
# order_items.quantity is a 32-bit INTEGER on PostgreSQL
MAX_QUANTITY = 2**31 - 1
# C0 and C1 controls, DEL and the Unicode line/paragraph separators: all end a header line
# or a text line somewhere (mail headers, CSV exports, str.splitlines)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_LINE_END = re.compile(r"\r\n|\r|\n")  # never raw inside a JSON string, unlike U+2028
# lone UTF-16 surrogates: JSON can spell them (`"\ud800"`), no database or terminal takes them
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass
class OrderRecord:
    row: int
    order: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)  # text neutralised on its rows


@dataclass
class OrdersFile:
    orders: list[OrderRecord]
    problems: list[RowProblem]
    rows: int
    warnings: list[RowProblem] = field(default_factory=list)  # the order was imported


def read_orders_file(data: bytes, *, name: str = "") -> OrdersFile:
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if name.endswith((".jsonl", ".ndjson", ".json")) or stripped.startswith(b"{"):
        return _read_jsonl(data)
    return _read_csv(data)


def _read_csv(data: bytes) -> OrdersFile:
    if not data.strip():
        raise UnreadableInput("the file is empty")
    text = data.decode(detect_encoding(data), errors="replace")  # as the tracking reader
    allow_fields_of(len(text))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=detect_delimiter(first_line(text)))
    try:
        names = next(reader, [])
        missing = [c for c in (*ORDER_COLUMNS, *ITEM_COLUMNS) if c not in names]
        if missing:
            raise UnreadableInput(f"order file lacks the columns {', '.join(missing)}")
        records: dict[str, OrderRecord] = {}
        problems: list[RowProblem] = []
        bad_orders: set[str] = set()
        rows = 0
        line_before = reader.line_num
        for cells in reader:
            row = line_before + 1  # the line the record starts on, as a spreadsheet numbers it
            line_before = reader.line_num
            if not cells:
                continue
            rows += 1
            values = {
                name: (cells[i] if i < len(cells) else "").strip()
                for i, name in enumerate(names)
                if name
            }
            warned = _neutralise(row, values)
            order_no = values["order_no"]
            row_problems = _check_order(row, values) + _check_item(row, values)
            record = records.get(order_no)
            if record is not None and not row_problems:
                row_problems = _check_same_order(row, record.order, values)
            if row_problems:
                problems.extend(row_problems)
                bad_orders.add(order_no)
                continue
            if record is None:
                record = records[order_no] = OrderRecord(row, _order_fields(values))
            record.items.append(_item_fields(values))
            record.warnings.extend(warned)
    except csv.Error as error:  # with the field limit raised, a fault of the csv module itself
        raise UnreadableInput(
            f"line {reader.line_num}: {error}; check the quoting of that line"
        ) from error
    for order_no in bad_orders & records.keys():
        record = records.pop(order_no)
        problems.append(
            RowProblem(
                record.row,
                "order_no",
                order_no,
                "order_incomplete",
                "another row of this order is invalid; the order was skipped",
            )
        )
    orders = _without_shared_portal_ids(list(records.values()), problems)
    return _result(orders, problems, rows)


def _read_jsonl(data: bytes) -> OrdersFile:
    text = data.decode(detect_encoding(data), errors="replace")
    records: list[OrderRecord] = []
    problems: list[RowProblem] = []
    lines_of: dict[str, list[int]] = defaultdict(list)
    rows = 0
    # lines end at CR, LF or both; U+2028 and friends are text inside a JSON string
    for line_no, line in enumerate(_LINE_END.split(text), start=1):
        if not line.strip():
            continue
        rows += 1
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not an object")
        except RecursionError:
            problems.append(
                RowProblem(line_no, "", line[:80], "bad_json", "not JSON: nested too deeply")
            )
            continue
        except ValueError as error:
            problems.append(RowProblem(line_no, "", line[:80], "bad_json", f"not JSON: {error}"))
            continue
        found: list[RowProblem] = []
        values = _texts(line_no, obj, (*ORDER_COLUMNS, *OPTIONAL_COLUMNS), found)
        if values["order_no"]:
            lines_of[values["order_no"]].append(line_no)
        warned = _neutralise(line_no, values)
        found.extend(_check_order(line_no, values))
        items = obj.get("items")
        if not isinstance(items, list) or not items:
            found.append(
                RowProblem(
                    line_no, "items", "", "items_missing", "an order needs a non-empty items list"
                )
            )
            items = []
        record = OrderRecord(line_no, _order_fields(values), warnings=warned)
        for item in items:
            item_values = _texts(
                line_no, item if isinstance(item, dict) else {}, ITEM_COLUMNS, found
            )
            record.warnings.extend(_neutralise(line_no, item_values))
            found.extend(_check_item(line_no, item_values))
            found.extend(_check_text(line_no, item_values, ITEM_COLUMNS))
            record.items.append(_item_fields(item_values) if not found else {})
        if found:
            problems.extend(found)
        else:
            records.append(record)
    records = _without_repeated_order_numbers(records, lines_of, problems)
    records = _without_shared_portal_ids(records, problems)
    return _result(records, problems, rows)


def _result(orders: list[OrderRecord], problems: list[RowProblem], rows: int) -> OrdersFile:
    """Warnings only of orders that are imported: a rejected order has its problems."""
    warnings = sorted((w for r in orders for w in r.warnings), key=lambda w: w.row)
    shown = [_short(p) for p in sorted(problems, key=lambda p: p.row)]
    return OrdersFile(orders, shown, rows, warnings)


def _short(problem: RowProblem) -> RowProblem:
    """A problem shows the start of a value: a 200 KiB cell is named, not printed."""
    if len(problem.value) <= SHOWN_VALUE:
        return problem
    return replace(problem, value=problem.value[:SHOWN_VALUE] + "…")


def _texts(
    row: int, obj: dict[str, Any], columns: tuple[str, ...], found: list[RowProblem]
) -> dict[str, str]:
    """The JSON values of `columns` as text; a list or object is a problem, not its repr."""
    values: dict[str, str] = {}
    for column in columns:
        value = obj.get(column)
        if isinstance(value, list | dict):
            found.append(
                RowProblem(
                    row, column, "", "not_text", f"{column} must be text, not a list or object"
                )
            )
            value = ""
        text = str("" if value is None else value).strip()
        if _SURROGATE.search(text):
            text = _SURROGATE.sub("\ufffd", text)  # printable and storable from here on
            found.append(
                RowProblem(
                    row,
                    column,
                    text[:80],
                    "bad_characters",
                    "contains an invalid character (a lone UTF-16 surrogate); "
                    "export the file as UTF-8 again",
                )
            )
        values[column] = text
    return values


def _neutralise(row: int, values: dict[str, str]) -> list[RowProblem]:
    """Control characters in free text become spaces; one warning per changed column."""
    warnings: list[RowProblem] = []
    for column in FREE_TEXT:
        value = values.get(column, "")
        if _CONTROL.search(value):
            values[column] = _CONTROL.sub(" ", value).strip()
            warnings.append(
                RowProblem(
                    row,
                    column,
                    value[:80],
                    "control_characters_replaced",
                    "line breaks or control characters were replaced by spaces",
                )
            )
    return warnings


def _without_repeated_order_numbers(
    records: list[OrderRecord], lines_of: dict[str, list[int]], problems: list[RowProblem]
) -> list[OrderRecord]:
    """One order per JSON line: an order number on two lines rejects both."""
    kept: list[OrderRecord] = []
    for record in records:
        order_no = record.order["order_no"]
        others = [line for line in lines_of[order_no] if line != record.row]
        if not others:
            kept.append(record)
            continue
        problems.append(
            RowProblem(
                record.row,
                "order_no",
                order_no,
                "duplicate_order_no",
                f"order {order_no} is also on line {others[0]}; put all its items into one "
                "line and import again",
            )
        )
    return kept


def _without_shared_portal_ids(
    records: list[OrderRecord], problems: list[RowProblem]
) -> list[OrderRecord]:
    """One portal order is one order: two order numbers for it reject both."""
    by_portal_id: dict[tuple[str, str, str], list[OrderRecord]] = defaultdict(list)
    for record in records:
        by_portal_id[portal_key(record.order)].append(record)
    kept: list[OrderRecord] = []
    for record in records:
        shared = [r for r in by_portal_id[portal_key(record.order)] if r is not record]
        if not shared:
            kept.append(record)
            continue
        other = shared[0]
        problems.append(
            RowProblem(
                record.row,
                "portal_order_id",
                record.order["portal_order_id"],
                "duplicate_portal_order_id",
                f"the same {record.order['portal']} order is also order "
                f"{other.order['order_no']} (row {other.row}); keep one order number for it "
                "and import again",
            )
        )
    return kept


def portal_key(order: dict[str, Any]) -> tuple[str, str, str]:
    """What makes an order unique on its marketplace (the store's uq_orders_portal_id)."""
    return (order["portal"], order["portal_account"], order["portal_order_id"])


def _check_order(row: int, v: dict[str, str]) -> list[RowProblem]:
    found: list[RowProblem] = []
    for column in ("order_no", "portal_account", "portal_order_id", "buyer_name"):
        if not v.get(column):
            found.append(RowProblem(row, column, "", "missing", f"{column} is empty"))
    portal = v.get("portal", "").lower()
    if portal not in {p.value for p in Portal}:
        found.append(
            RowProblem(
                row,
                "portal",
                v.get("portal", ""),
                "portal_unknown",
                "portal must be one of " + ", ".join(p.value for p in Portal),
            )
        )
    if not _EMAIL.match(v.get("buyer_email", "")):
        found.append(
            RowProblem(
                row, "buyer_email", v.get("buyer_email", ""), "bad_email", "not an e-mail address"
            )
        )
    country = v.get("country", "")
    if not (len(country) == 2 and country.isascii() and country.isalpha()):
        found.append(
            RowProblem(
                row, "country", country, "bad_country", "use the two-letter ISO code, e.g. DE"
            )
        )
    language = v.get("language", "")
    if language and language.lower() not in ("de", "en"):
        found.append(RowProblem(row, "language", language, "bad_language", "use de or en"))
    found.extend(_check_text(row, v, tuple(_LIMITS)))
    return found


def _check_text(row: int, v: dict[str, str], columns: tuple[str, ...]) -> list[RowProblem]:
    """Lengths of the store's columns and control characters."""
    found: list[RowProblem] = []
    for column in columns:
        value = v.get(column, "")
        limit = _LIMITS.get(column)
        if limit is not None and len(value) > limit:
            found.append(
                RowProblem(row, column, value[:80], "too_long", f"longer than {limit} characters")
            )
        if _CONTROL.search(value):
            found.append(
                RowProblem(
                    row,
                    column,
                    value[:80],
                    "control_characters",
                    "contains line breaks or control characters",
                )
            )
    return found


def _check_item(row: int, v: dict[str, str]) -> list[RowProblem]:
    found: list[RowProblem] = []
    for column in ("item_id", "sku", "title"):
        if not v.get(column):
            found.append(RowProblem(row, column, "", "missing", f"{column} is empty"))
    quantity = v.get("quantity", "")
    digits = quantity.isascii() and quantity.isdigit()  # "²".isdigit() is true
    if not digits or len(quantity) > 10 or not 1 <= int(quantity) <= MAX_QUANTITY:
        found.append(
            RowProblem(
                row,
                "quantity",
                quantity[:80],
                "bad_quantity",
                f"quantity must be a whole number from 1 to {MAX_QUANTITY}",
            )
        )
    return found


def _check_same_order(row: int, first: dict[str, Any], v: dict[str, str]) -> list[RowProblem]:
    return [
        RowProblem(
            row,
            column,
            v[column],
            "order_mismatch",
            f"differs from the first row of order {first['order_no']}",
        )
        for column in ORDER_COLUMNS
        if column != "language"
        and str(first[column])
        != (
            v[column].lower()
            if column == "portal"
            else v[column].upper()
            if column == "country"
            else v[column]
        )
    ]


def _order_fields(v: dict[str, str]) -> dict[str, Any]:
    country = v["country"].upper()
    return {
        "order_no": v["order_no"],
        "portal": v["portal"].lower(),
        "portal_account": v["portal_account"],
        "portal_order_id": v["portal_order_id"],
        "buyer_name": v["buyer_name"],
        "buyer_email": v["buyer_email"],
        "country": country,
        "language": (v.get("language") or default_language(country)).lower(),
        "postal_code": v.get("postal_code", ""),
        "city": v.get("city", ""),
    }


def _item_fields(v: dict[str, str]) -> dict[str, Any]:
    return {
        "item_id": v["item_id"],
        "sku": v["sku"],
        "title": v["title"],
        "quantity": int(v["quantity"]),
    }
