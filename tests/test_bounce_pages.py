"""A bounced shipping mail on the order page (de/en), in `liefern orders show` and as a filter
of the order list: its class and what to do about it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app
from core.settings import Settings
from db.models import Order, ShippingMail
from db.session import session_scope
from tests.helpers import seed_orders
from tests.test_web_app import OPERATOR, WebClient, web_settings
from tests.test_web_operator import listed
from tests.test_web_workbench import ENGLISH, GERMAN
from web.app import create_app

REPLY = "550 5.1.1 The email account that you tried to reach does not exist"


def bounced_orders(settings: Settings) -> list[str]:
    """Three orders: one mail bounced (unknown recipient), one refused (auth), one sent."""
    seed_orders(settings.db_url, 3)
    now = datetime.now(UTC)
    mails = [
        ("failed", "unknown_recipient", f"bounced: {REPLY}", now),
        ("failed", "auth", "550 5.7.26 Unauthenticated email", None),
        ("sent", None, None, None),
    ]
    with session_scope(settings.db_url) as session:
        orders = list(session.scalars(select(Order).order_by(Order.id)))
        for order, (status, kind, reason, bounced_at) in zip(orders, mails, strict=True):
            session.add(
                ShippingMail(
                    order_id=order.id,
                    carrier="dhl",
                    status=status,
                    message_id=f"<{order.order_no}.shipped@beispiel-shop.de>",
                    recipient=order.buyer_email,
                    language="de",
                    reason=reason,
                    last_reply=reason and reason.removeprefix("bounced: "),
                    bounce_class=kind,
                    bounced_at=bounced_at,
                    finished_at=now,
                )
            )
        return [o.order_no for o in orders]


@pytest.mark.parametrize(
    ("headers", "label", "advice"),
    [
        (ENGLISH, "address unknown", "get the right one from the portal or the buyer"),
        (GERMAN, "Adresse unbekannt", "richtige Adresse beim Portal oder beim Käufer"),
    ],
)
def test_the_order_page_shows_the_bounce_and_what_to_do(
    settings: Settings, headers: dict[str, str], label: str, advice: str
) -> None:
    order_no = bounced_orders(settings)[0]
    client = WebClient(create_app(web_settings(settings)))
    response = client.get(f"/orders/{order_no}", auth=OPERATOR, headers=headers)
    assert response.status_code == 200
    text = " ".join(response.text.split())
    assert label in text and advice in text
    assert REPLY in text  # in the protocol: the bounce with the server's words


def test_orders_show_names_the_bounce_class_and_the_fix(settings: Settings) -> None:
    order_no = bounced_orders(settings)[1]
    runner = CliRunner()
    text = runner.invoke(app, ["orders", "show", order_no])
    assert text.exit_code == 0, text.output
    assert "bounce auth: the sender domain is not authenticated" in text.output
    shown = json.loads(runner.invoke(app, ["orders", "show", order_no, "--json"]).output)
    assert shown["mails"][0]["bounce_class"] == "auth"


def test_the_order_list_filters_by_bounce_class(settings: Settings) -> None:
    orders = bounced_orders(settings)
    runner = CliRunner()
    for kind, expected in (("unknown_recipient", orders[:1]), ("auth", orders[1:2])):
        result = runner.invoke(app, ["orders", "list", "--bounce", kind, "--json"])
        assert result.exit_code == 0, result.output
        assert [o["order_no"] for o in json.loads(result.output)["orders"]] == expected
    assert runner.invoke(app, ["orders", "list", "--bounce", "nonsense"]).exit_code == 2


def test_the_web_order_list_filters_by_bounce_class(settings: Settings) -> None:
    orders = bounced_orders(settings)
    client = WebClient(create_app(web_settings(settings)))
    assert listed(client, "/orders?bounce=auth") == orders[1:2]
    assert listed(client, "/orders?bounce=unknown_recipient") == orders[:1]
    assert sorted(listed(client, "/orders?bounce=nonsense")) == sorted(orders)  # ignored
