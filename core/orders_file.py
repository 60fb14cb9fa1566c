"""Reading order files: CSV (one row per order item) and JSON lines (one order per line).

CSV columns: order_no, portal, portal_account, portal_order_id, buyer_name, buyer_email,
country, language, item_id, sku, title, quantity; optional postal_code, city. Rows of one order
repeat the order columns. An order with one bad row is rejected as a whole: half an order would
confirm the wrong items to the portal later.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from core.domain import Portal, default_language
from core.problems import RowProblem, UnreadableInput
from core.textfile import detect_delimiter, detect_encoding, first_line

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


@dataclass
class OrderRecord:
    row: int
    order: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class OrdersFile:
    orders: list[OrderRecord]
    problems: list[RowProblem]
    rows: int


def read_orders_file(data: bytes, *, name: str = "") -> OrdersFile:
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if name.endswith((".jsonl", ".ndjson", ".json")) or stripped.startswith(b"{"):
        return _read_jsonl(data)
    return _read_csv(data)


def _read_csv(data: bytes) -> OrdersFile:
    if not data.strip():
        raise UnreadableInput("the file is empty")
    text = data.decode(detect_encoding(data), errors="replace")  # as the tracking reader
    reader = csv.DictReader(
        io.StringIO(text, newline=""), delimiter=detect_delimiter(first_line(text))
    )
    missing = [c for c in (*ORDER_COLUMNS, *ITEM_COLUMNS) if c not in (reader.fieldnames or [])]
    if missing:
        raise UnreadableInput(f"order file lacks the columns {', '.join(missing)}")
    records: dict[str, OrderRecord] = {}
    problems: list[RowProblem] = []
    bad_orders: set[str] = set()
    rows = 0
    for raw in reader:
        rows += 1
        row = reader.line_num
        values = {k: (v or "").strip() for k, v in raw.items() if k}
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
    return OrdersFile(list(records.values()), sorted(problems, key=lambda p: p.row), rows)


def _read_jsonl(data: bytes) -> OrdersFile:
    text = data.decode(detect_encoding(data), errors="replace")
    records: list[OrderRecord] = []
    problems: list[RowProblem] = []
    rows = 0
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        rows += 1
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not an object")
        except ValueError as error:
            problems.append(RowProblem(line_no, "", line[:80], "bad_json", f"not JSON: {error}"))
            continue
        values = {k: str(obj.get(k, "") or "").strip() for k in (*ORDER_COLUMNS, *OPTIONAL_COLUMNS)}
        found = _check_order(line_no, values)
        items = obj.get("items")
        if not isinstance(items, list) or not items:
            found.append(
                RowProblem(
                    line_no, "items", "", "items_missing", "an order needs a non-empty items list"
                )
            )
            items = []
        record = OrderRecord(line_no, _order_fields(values))
        for item in items:
            item_values = {
                k: str(item.get(k, "") if isinstance(item, dict) else "").strip()
                for k in ITEM_COLUMNS
            }
            found.extend(_check_item(line_no, item_values))
            record.items.append(_item_fields(item_values) if not found else {})
        if found:
            problems.extend(found)
        else:
            records.append(record)
    return OrdersFile(records, problems, rows)


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
    if not (len(country) == 2 and country.isalpha()):
        found.append(
            RowProblem(
                row, "country", country, "bad_country", "use the two-letter ISO code, e.g. DE"
            )
        )
    language = v.get("language", "")
    if language and language.lower() not in ("de", "en"):
        found.append(RowProblem(row, "language", language, "bad_language", "use de or en"))
    for column, limit in _LIMITS.items():
        value = v.get(column, "")
        if len(value) > limit:
            found.append(
                RowProblem(row, column, value[:80], "too_long", f"longer than {limit} characters")
            )
        if any(ord(ch) < 32 for ch in value):
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
    if not (quantity.isascii() and quantity.isdigit()) or int(quantity) < 1:  # "²".isdigit()
        found.append(
            RowProblem(
                row, "quantity", quantity, "bad_quantity", "quantity must be a whole number ≥ 1"
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
