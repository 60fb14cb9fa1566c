"""One filter rule for the operator's list (`/orders`), its CSV export (`/orders.csv`) and
`liefern orders list`: the same filter finds the same orders in all three."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import lxml.html
import pytest

from core.clock import business_today
from core.settings import Settings
from tests.test_order_actions import cli
from tests.test_web_app import OPERATOR, WebClient, web_settings
from tests.test_web_workbench import change, searchable_ledger
from web.app import create_app


def web_list(client: WebClient, query: str) -> tuple[int, list[str]]:
    page = lxml.html.fromstring(client.get(f"/orders?{query}", auth=OPERATOR).text)
    found = page.xpath('//*[@id="found"]')[0].text_content()
    return int(found.split()[0]), page.xpath("//tr[@data-order]/@data-order")


def csv_export(client: WebClient, query: str) -> list[str]:
    answer = client.get(f"/orders.csv?{query}", auth=OPERATOR)
    assert answer.status_code == 200
    rows = csv.reader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";")
    return [row[0] for row in list(rows)[1:]]


def cli_list(*args: str) -> tuple[int, list[str]]:
    code, answer = cli("orders", "list", "--limit", "500", *args)
    assert code == 0, answer
    return answer["total"], [o["order_no"] for o in answer["orders"]]


@pytest.fixture
def ledger(settings: Settings) -> dict[str, str]:
    """The ledger of tests/test_web_operator.py (a confirmation in every state), one buyer
    renamed, one order created on 20 November; the values the filters below look for."""
    order_nos, number = searchable_ledger(settings)
    change(settings, order_nos[2], created_at=datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    return {
        "part_of_number": number[5:14],
        "short_number_part": number[5:7],
        "order_no_middle": order_nos[3][3:7],
        "order_no_start": order_nos[3][:6].lower(),
        "today": business_today().isoformat(),
    }


# (query string of the web list, the same filter as options of `liefern orders list`)
FILTERS = [
    ("status=shipped", ["--status", "shipped"]),
    ("portal=ebay", ["--portal", "ebay"]),
    ("carrier=dhl", ["--carrier", "dhl"]),
    ("mail=none", ["--mail", "none"]),
    ("mail=sent", ["--mail", "sent"]),
    ("confirmation=red", ["--confirmation", "red"]),
    ("confirmation=held", ["--confirmation", "held"]),
    ("portal=amazon&confirmation=red", ["--portal", "amazon", "--confirmation", "red"]),
    ("q=weißmüller", ["--search", "weißmüller"]),
    ("q=J.WEISS@EXAMPLE", ["--search", "J.WEISS@EXAMPLE"]),
    ("q={part_of_number}", ["--search", "{part_of_number}"]),
    ("q={short_number_part}", ["--search", "{short_number_part}"]),
    ("q={order_no_middle}", ["--search", "{order_no_middle}"]),
    ("q={order_no_start}", ["--search", "{order_no_start}"]),
    ("created_to=2026-11-20", ["--created-to", "2026-11-20"]),
    ("created_from={today}", ["--created-from", "{today}"]),
    (
        "shipped_from={today}&shipped_to={today}",
        ["--shipped-from", "{today}", "--shipped-to", "{today}"],
    ),
]


def test_the_web_list_the_csv_export_and_the_cli_find_the_same_orders(
    settings: Settings, ledger: dict[str, str]
) -> None:
    client = WebClient(create_app(web_settings(settings)))
    found_something = 0
    for query, options in FILTERS:
        query = query.format(**ledger)
        options = [o.format(**ledger) for o in options]

        web_total, on_page = web_list(client, query)
        exported = csv_export(client, query)
        cli_total, listed = cli_list(*options)

        assert on_page == exported == listed, query
        assert web_total == cli_total == len(listed), query
        found_something += bool(listed)
    assert found_something >= len(FILTERS) - 3  # the filters are not all empty-handed
