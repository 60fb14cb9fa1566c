"""OTTO orders through the store: imported with their position items, tracking files with and
without the return column, our mail suppressed by policy, the confirmation sent to the OTTO
simulator over HTTP. SQLite and PostgreSQL; mails through a real aiosmtpd server."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import lxml.html
import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from typer.testing import CliRunner

from cli.main import app
from core.accounts import Accounts
from core.carriers.numbers import normalise_tracking_number
from core.clock import business_today
from core.orders_file import read_orders_file
from core.settings import Settings
from db.models import Order, Parcel, ShippingMail
from db.queries.mails import orders_to_mail
from db.session import session_scope
from flows.close_day import run_closing
from simulators import otto
from simulators.samples import SampleOrder, orders_csv, otto_orders
from simulators.smtp import FaultySmtpServer
from simulators.stack import PortalStack
from tasks.actions import retry_confirmations
from tasks.confirmations import open_confirmations, submit_pending
from tasks.mails import send_shipping_mails
from tasks.orders import store_orders
from tests.helpers import import_tracking_file, numbers
from tests.test_confirmation_gate import configure
from tests.test_confirmations import statuses
from tests.test_order_actions import cli
from tests.test_web_app import OPERATOR, WebClient, web_settings
from web.app import create_app

runner = CliRunner()


def seed_otto(db_url: str, count: int = 2) -> list[SampleOrder]:
    samples = otto_orders(count, seed=5, start=100001)
    with session_scope(db_url) as session:
        store_orders(session, parsed=read_orders_file(orders_csv(samples)))
    return samples


@dataclass
class Chain:
    """The real parts of a deliver run: store, mail server, portal simulators, accounts."""

    db_url: str
    settings: Settings
    smtp: FaultySmtpServer
    portals: PortalStack
    monkeypatch: pytest.MonkeyPatch

    def configure(self) -> None:
        configure(self.portals, self.settings, self.monkeypatch)

    @property
    def otto(self) -> otto.OttoSimulator:
        return otto.simulator(self.portals.apps["otto"])


@pytest.fixture
def chain(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> Chain:
    return Chain(db_url, settings, smtp, portals, monkeypatch)


def deliver(db_url: str, settings: Settings, carrier: str = "dhl") -> dict[str, int]:
    """The deliver run's two steps for these orders: the mails, then the portal."""
    with session_scope(db_url) as session:
        ids = orders_to_mail(session, carriers=[carrier])
    mails = asyncio.run(send_shipping_mails(db_url, order_ids=ids, carrier=carrier))
    open_confirmations(
        db_url, order_ids=ids, accounts=Accounts.load(settings.accounts_path), run_id=None
    )
    report = asyncio.run(submit_pending(db_url, portal="otto", run_id=None))
    assert report.errors == []
    return dict(mails.counts)


def test_orders_import_takes_otto_orders_with_sales_order_and_position_item_ids(
    db_url: str,
) -> None:
    samples = seed_otto(db_url)
    with session_scope(db_url) as session:
        stored = session.scalars(
            select(Order).options(selectinload(Order.items)).order_by(Order.order_no)
        ).all()
        assert [o.portal for o in stored] == ["otto", "otto"]
        assert [o.portal_order_id for o in stored] == [s.order["portal_order_id"] for s in samples]
        assert [i.item_id for i in stored[0].items] == [i["item_id"] for i in samples[0].items]
        assert {i.quantity for o in stored for i in o.items} == {1}


def test_a_return_column_is_imported_and_otto_is_told_while_our_mail_is_suppressed(
    chain: Chain,
) -> None:
    db_url = chain.db_url
    samples = seed_otto(db_url)
    out, back = numbers("dhl", 2, seed=1), numbers("dhl", 2, seed=2)
    data = "Auftragsnummer;Versender;Sendungsnummer;Retourensendungsnummer\n" + "".join(
        f"{s.order['order_no']};DHL;{o};{b}\n" for s, o, b in zip(samples, out, back, strict=True)
    )
    assert import_tracking_file(db_url, data.encode()) == (2, 0, [])
    with session_scope(db_url) as session:
        rows = session.execute(select(Parcel.tracking_number, Parcel.return_tracking_number))
        stored = {number: returned for number, returned in rows}
    norm = {
        normalise_tracking_number("dhl", o): normalise_tracking_number("dhl", b)
        for o, b in zip(out, back, strict=True)
    }
    assert stored == norm
    chain.configure()

    assert deliver(db_url, chain.settings) == {"suppressed": 2}

    assert chain.smtp.messages == []
    with session_scope(db_url) as session:
        reasons = {m.reason for m in session.scalars(select(ShippingMail))}
    assert reasons == {
        "OTTO mails the buyer itself when the shipment is reported; "
        'mail = "send" in accounts.toml sends ours too'
    }
    assert {s for s, _, _ in statuses(db_url).values()} == {"confirmed"}
    sim = chain.otto
    for sample, (number, returned) in zip(samples, norm.items(), strict=True):
        shipment = sim.shipment_of("DHL", number)
        assert shipment is not None
        items = shipment.body["positionItems"]
        assert {i["salesOrderId"] for i in items} == {sample.order["portal_order_id"]}
        assert {i["returnTrackingKey"]["trackingNumber"] for i in items} == {returned}


def test_without_return_number_otto_is_not_called_and_the_row_says_what_to_do(chain: Chain) -> None:
    db_url = chain.db_url
    [sample] = seed_otto(db_url, 1)
    order_no = sample.order["order_no"]
    number = normalise_tracking_number("dhl", numbers("dhl", 1, seed=3)[0])
    data = f"order_no;carrier;tracking_number\n{order_no};dhl;{number}\n".encode()
    assert import_tracking_file(db_url, data) == (1, 0, [])
    chain.configure()

    deliver(db_url, chain.settings)

    status, code, text = statuses(db_url)[order_no]
    assert (status, code) == ("rejected", "no-return-tracking-number")
    assert f"liefern tracking add {order_no} dhl {number} --return" in (text or "")
    sim = chain.otto
    assert sim.shipments == {} and sim.tokens_issued == 0

    returned = normalise_tracking_number("dhl", numbers("dhl", 1, seed=4)[0])
    added = runner.invoke(
        app, ["tracking", "add", order_no, "dhl", number, "--return", returned, "--json"]
    )
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["already_known"] == 1
    asyncio.run(
        retry_confirmations(db_url, by="test", order_nos=[order_no], rejected=True, later=True)
    )
    asyncio.run(submit_pending(db_url, portal="otto", run_id=None))

    assert statuses(db_url)[order_no][0] == "confirmed"
    shipment = sim.shipment_of("DHL", number)
    assert shipment is not None
    assert shipment.body["positionItems"][0]["returnTrackingKey"]["trackingNumber"] == returned


def test_a_bad_return_number_is_refused_in_its_column_like_a_tracking_number(
    db_url: str,
) -> None:
    samples = seed_otto(db_url)
    [good], [other] = numbers("hermes", 1, seed=1), numbers("hermes", 1, seed=2)
    broken = other[:-1] + str((int(other[-1]) + 1) % 10)  # wrong check digit
    data = (
        "order_no;carrier;tracking_number;return tracking number\n"
        f"{samples[0].order['order_no']};hermes;{good};{broken}\n"
        f"{samples[1].order['order_no']};hermes;;{other}\n"
    ).encode()
    imported, _, problems = import_tracking_file(db_url, data)
    assert imported == 0
    assert [(row, column) for row, column, _ in problems] == [
        (2, "return tracking number"),
        (3, "return tracking number"),
    ]
    assert problems[1][2] == "return_without_tracking"


def test_deliver_order_confirms_otto_and_a_correction_says_it_is_not_possible_there(
    chain: Chain,
) -> None:
    db_url = chain.db_url
    [sample] = seed_otto(db_url, 1)
    order_no = sample.order["order_no"]
    old, returned, new = (normalise_tracking_number("gls", n) for n in numbers("gls", 3, seed=8))
    added = runner.invoke(app, ["tracking", "add", order_no, "gls", old, "--return", returned])
    assert added.exit_code == 0, added.output
    chain.configure()
    code, answer = cli("deliver", "--order", order_no)
    assert code == 0, answer
    assert statuses(db_url)[order_no][0] == "confirmed"
    assert chain.otto.shipment_of("GLS", old) is not None

    code, answer = cli("tracking", "correct", order_no, old, new)

    assert code == 1
    by_hand = [o["detail"] for o in answer["orders"] if o["status"] == "by_hand"]
    assert by_hand and "not possible on this portal" in by_hand[0]
    assert "OTTO Partner Connect" in by_hand[0]
    with session_scope(db_url) as session:
        parcel = session.scalars(select(Parcel)).one()
        assert (parcel.tracking_number, parcel.return_tracking_number) == (new, returned)
    shown = cli("orders", "show", order_no)[1]
    assert any("not possible on this portal" in e["what"] for e in shown["timeline"])
    assert chain.smtp.messages == []  # OTTO mails the buyer itself (default policy)


def test_the_web_list_and_order_page_show_otto_packages_and_the_return_number(chain: Chain) -> None:
    db_url = chain.db_url
    [sample] = seed_otto(db_url, 1)
    order_no = sample.order["order_no"]
    number, returned = (normalise_tracking_number("hermes", n) for n in numbers("hermes", 2))
    assert runner.invoke(app, ["tracking", "add", order_no, "hermes", number]).exit_code == 0
    chain.configure()
    cli("deliver", "--order", order_no)
    client = WebClient(create_app(web_settings(chain.settings)))

    listing = lxml.html.fromstring(client.get("/orders?portal=otto", auth=OPERATOR).text)
    (icon,) = listing.xpath(f'.//tr[@data-order="{order_no}"]//span[@data-portal="otto"]')
    assert icon.get("data-status") == "rejected"
    assert "Retourensendungsnummer" in icon.get("title")

    runner.invoke(app, ["tracking", "add", order_no, "hermes", number, "--return", returned])
    cli("portals", "retry", order_no, "--rejected")
    detail = lxml.html.fromstring(client.get(f"/orders/{order_no}", auth=OPERATOR).text)
    (icon,) = detail.xpath('.//table[@class="confirmations"]//span[@data-portal="otto"]')
    assert icon.get("data-status") == "confirmed"
    (shown,) = detail.xpath('.//table[@class="parcels"]//small[@class="return-number"]')
    assert shown.text_content() == f"Return label: {returned}"


def test_the_daily_closing_reconciles_otto_orders_without_mismatches(
    chain: Chain, tmp_path: Path
) -> None:
    db_url = chain.db_url
    samples = seed_otto(db_url, 2)
    pairs = [normalise_tracking_number("hermes", n) for n in numbers("hermes", 4, seed=9)]
    data = "order_no;carrier;tracking_number;Retourensendungsnummer\n" + "".join(
        f"{s.order['order_no']};hermes;{pairs[2 * i]};{pairs[2 * i + 1]}\n"
        for i, s in enumerate(samples)
    )
    assert import_tracking_file(db_url, data.encode())[0] == 2
    chain.configure()
    deliver(db_url, chain.settings, "hermes")

    result = asyncio.run(
        run_closing(
            db_url, carrier="hermes", day=business_today(), home=tmp_path, shop_name="Test-Shop"
        )
    )

    assert result.mismatches == ()
    otto_day = result.reconciliation.portals["otto"]
    assert (otto_day.closed, otto_day.confirmed, otto_day.mail_suppressed) == (2, 2, 2)
