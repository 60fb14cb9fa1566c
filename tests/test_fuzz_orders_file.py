"""Fuzzing the orders file reader: any bytes in, either UnreadableInput or orders and problems.

`read_orders_file` on arbitrary bytes and on CSV and JSON-lines files with random columns,
values, encodings and damage: nothing but UnreadableInput escapes, every problem names a row,
a column and a known code, and every order that comes out is complete and clean.

Case counts: LIEFERN_FUZZ_EXAMPLES (tests/stress/fuzzing.py).
"""

from __future__ import annotations

import csv
import io
import json
import random

from hypothesis import given
from hypothesis import strategies as st

from core.orders_file import ITEM_COLUMNS, OPTIONAL_COLUMNS, ORDER_COLUMNS, read_orders_file
from core.problems import UnreadableInput
from simulators.samples import generate_orders, orders_csv, orders_jsonl
from tests.stress.fuzzing import fuzz

PROBLEM_CODES = frozenset(
    {
        "missing",
        "portal_unknown",
        "bad_email",
        "bad_country",
        "bad_language",
        "too_long",
        "control_characters",
        "bad_quantity",
        "order_mismatch",
        "order_incomplete",
        "bad_json",
        "items_missing",
        "not_text",
        "bad_characters",
        "duplicate_order_no",
        "duplicate_portal_order_id",
    }
)
COLUMNS = (*ORDER_COLUMNS, *ITEM_COLUMNS, *OPTIONAL_COLUMNS)
VALUES = st.text(max_size=30) | st.sampled_from(
    [
        "amazon",
        "EBAY",
        "shop",
        "DE",
        "de",
        "x@example.de",
        "a@b",
        "1",
        "0",
        "-1",
        "²",
        "١٢",
        "1.5",
        "Jürgen\nMüller",
        '=HYPERLINK("x")',
        "A" * 600,
    ]
)


def check(data: bytes, name: str = "") -> None:
    try:
        parsed = read_orders_file(data, name=name)
    except UnreadableInput as error:
        assert str(error).strip()
        return
    for problem in parsed.problems:
        assert problem.row >= 1
        assert problem.column in (*COLUMNS, "", "items"), problem
        assert problem.code in PROBLEM_CODES, problem
        assert problem.message.strip()
    for record in parsed.orders:
        assert record.items, record
        assert all(record.order[c] for c in ("order_no", "portal_account", "buyer_name"))
        assert all(isinstance(i["quantity"], int) and i["quantity"] >= 1 for i in record.items)
        assert not any(ch < " " for value in record.order.values() for ch in str(value)), (
            record.order
        )
    for warning in parsed.warnings:
        assert warning.code == "control_characters_replaced", warning
        assert warning.column in ("buyer_name", "city", "title"), warning


@fuzz()
@given(data=st.binary(max_size=500), name=st.sampled_from(["", "orders.csv", "orders.jsonl"]))
def test_arbitrary_bytes_are_unreadable_or_orders_and_problems(data: bytes, name: str) -> None:
    check(data, name)


@st.composite
def csv_orders(draw: st.DrawFn) -> bytes:
    """A real sample file with cells replaced, columns dropped or doubled, re-encoded."""
    samples = list(generate_orders(draw(st.integers(1, 4)), seed=draw(st.integers(0, 999))))
    rows = list(csv.reader(io.StringIO(orders_csv(samples).decode(), newline=""), delimiter=";"))
    for _ in range(draw(st.integers(0, 6))):
        row = draw(st.integers(0, len(rows) - 1))
        if not rows[row]:
            continue
        column = draw(st.integers(0, len(rows[row]) - 1))
        action = draw(st.sampled_from(["value", "value", "drop_column", "short_row"]))
        if action == "value":
            rows[row][column] = draw(VALUES)
        elif action == "drop_column":
            for each in rows:
                del each[column : column + 1]
        else:
            del rows[row][column:]
    delimiter = draw(st.sampled_from([";", ",", "\t"]))
    out = io.StringIO(newline="")
    csv.writer(
        out, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))
    ).writerows(rows)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    return out.getvalue().encode(encoding, errors="replace")


@fuzz()
@given(data=csv_orders())
def test_csv_orders_with_bad_cells_are_reported_row_by_row(data: bytes) -> None:
    check(data, "orders.csv")


@st.composite
def jsonl_orders(draw: st.DrawFn) -> bytes:
    """Sample JSON lines with values replaced by other types, keys dropped, lines broken."""
    samples = list(generate_orders(draw(st.integers(1, 4)), seed=draw(st.integers(0, 999))))
    lines = []
    rng = random.Random(draw(st.integers(0, 10**6)))
    odd = st.one_of(
        VALUES,
        st.integers(),
        st.floats(allow_nan=True),
        st.none(),
        st.booleans(),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers()),
    )
    for line in orders_jsonl(samples).decode().splitlines():
        obj = json.loads(line)
        for _ in range(draw(st.integers(0, 3))):
            key = rng.choice([*obj, "items"])
            items = obj.get("items")
            if key == "items" and isinstance(items, list) and items and draw(st.booleans()):
                item = rng.choice(items)
                if isinstance(item, dict):
                    item[rng.choice([*ITEM_COLUMNS])] = draw(odd)
            elif draw(st.booleans()):
                obj[key] = draw(odd)
            else:
                obj.pop(key, None)
        text = json.dumps(obj, ensure_ascii=draw(st.booleans()))
        if draw(st.integers(0, 9)) == 0:
            text = text[: draw(st.integers(0, len(text)))]
        lines.append(text)
    return ("\n".join(lines) + "\n").encode("utf-8")


@fuzz()
@given(data=jsonl_orders())
def test_json_lines_with_odd_values_are_reported_line_by_line(data: bytes) -> None:
    check(data, "orders.jsonl")


def test_a_byte_windows_1252_leaves_undefined_does_not_crash_the_reader() -> None:
    """0x81, 0x8D, 0x8F, 0x90 and 0x9D mean nothing in Windows-1252: the file still reads."""
    [sample] = list(generate_orders(1, seed=3))
    data = orders_csv([sample]).replace(sample.order["buyer_name"].encode(), b"J\x8drgen M\xfcller")
    parsed = read_orders_file(data)
    assert [r.order["buyer_name"] for r in parsed.orders] == ["J\ufffdrgen Müller"]


def test_a_quantity_of_superscript_two_is_reported_not_crashed_on() -> None:
    """ "²".isdigit() is true, int("²") fails: the quantity is a bad cell, not an exception."""
    [sample] = list(generate_orders(1, seed=3))
    lines = orders_csv([sample]).decode().splitlines()
    lines[1] = lines[1].rsplit(";", 1)[0] + ";²"
    parsed = read_orders_file(("\n".join(lines) + "\n").encode())
    assert [(p.column, p.code) for p in parsed.problems if p.code != "order_incomplete"] == [
        ("quantity", "bad_quantity")
    ]
