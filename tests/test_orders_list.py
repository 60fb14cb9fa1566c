"""`liefern orders list`: filters over orders and their ledgers, a limit, the count line."""

from __future__ import annotations

from datetime import date

from sqlalchemy import update
from typer.testing import CliRunner

from cli.main import app
from core.carriers.numbers import normalise_tracking_number
from core.settings import Settings
from core.tracking_rows import ParcelRow
from db.models import Confirmation, Order
from db.session import session_scope
from simulators.smtp import FaultySmtpServer
from tasks.parcels import attach_parcels
from tests.helpers import numbers, seed_orders
from tests.test_order_actions import cli, ebay_order

__all__ = ["ebay_order"]  # fixtures used below

runner = CliRunner()


def orders_listed(*args: str) -> tuple[int, list[str]]:
    code, answer = cli("orders", "list", *args)
    assert code == 0, answer
    assert answer["shown"] == len(answer["orders"])
    return answer["total"], [o["order_no"] for o in answer["orders"]]


def test_list_shows_the_newest_orders_up_to_the_limit_and_counts_all(
    db_url: str, settings: Settings
) -> None:
    samples = seed_orders(db_url, 5)

    total, shown = orders_listed("--limit", "2")

    assert total == 5
    assert shown == [s.order["order_no"] for s in samples][::-1][:2]


def test_list_text_ends_with_the_count_line(db_url: str, settings: Settings) -> None:
    seed_orders(db_url, 3)

    result = runner.invoke(app, ["orders", "list", "--limit", "1"])

    assert result.exit_code == 0
    assert (
        result.stdout.strip().splitlines()[-1] == "3 orders (the newest 1 shown; --limit for more)"
    )


def test_list_searches_buyer_names_and_parts_of_tracking_numbers(
    db_url: str, settings: Settings
) -> None:
    first, second, *_ = seed_orders(db_url, 4)
    number = normalise_tracking_number("dhl", numbers("dhl", 1)[0])
    with session_scope(db_url) as session:
        attach_parcels(
            session,
            rows=[ParcelRow(1, second.order["order_no"], "dhl", number, date(2026, 11, 26))],
            source="test",
        )

    by_name = orders_listed("--search", first.order["buyer_name"].split()[-1].upper())
    by_number = orders_listed("--search", number[3:12])

    assert first.order["order_no"] in by_name[1]
    assert by_number == (1, [second.order["order_no"]])


def test_list_filters_by_mail_state_and_confirmation_state_per_portal(
    db_url: str, smtp: FaultySmtpServer, ebay_order: Order
) -> None:
    assert orders_listed("--mail", "none")[0] == 60  # every sample order, none mailed yet
    cli("deliver", "--order", ebay_order.order_no)
    with session_scope(db_url) as session:
        session.execute(
            update(Confirmation)
            .where(Confirmation.order_id == ebay_order.id)
            .values(status="failed")
        )

    assert orders_listed("--mail", "sent") == (1, [ebay_order.order_no])
    assert orders_listed("--confirmation", "ebay=failed") == (1, [ebay_order.order_no])
    assert orders_listed("--confirmation", "amazon=failed") == (0, [])


def test_list_with_a_malformed_confirmation_filter_is_bad_usage(
    db_url: str, settings: Settings
) -> None:
    code, answer = cli("orders", "list", "--confirmation", "ebay:failed")

    assert code == 2
    assert "PORTAL=STATUS" in answer["error"]


def test_list_with_an_unknown_mail_state_is_bad_usage(db_url: str, settings: Settings) -> None:
    code, answer = cli("orders", "list", "--mail", "bounced")

    assert code == 2
    assert "--mail 'bounced'" in answer["error"]
