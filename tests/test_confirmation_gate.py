"""When a portal is told relative to the shipping mail (accounts.toml `confirm_after`).

Real parts only: the mails go through an aiosmtpd server that refuses one buyer with 550, the
portals are the eBay, Kaufland and Amazon simulators over HTTP, every test runs on SQLite and
on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from datetime import date

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload
from typer.testing import CliRunner

from cli.main import app
from core.accounts import Accounts, AccountsError
from core.carriers.numbers import normalise_tracking_number
from core.settings import Settings, reset_settings
from core.tracking_rows import ParcelRow
from db.models import Confirmation, ConfirmationRelease, Order, ShippingMail
from db.queries.confirmations import orders_missing_confirmations
from db.queries.mails import orders_to_mail
from db.session import session_scope
from db.types import utcnow
from simulators import ebay, kaufland
from simulators.smtp import FaultySmtpServer
from simulators.stack import PortalStack, portal_orders_from_store
from tasks.confirmations import open_confirmations, poll_submitted, submit_pending
from tasks.holds import release_held
from tasks.mails import MailComposer, prepare_batch, send_shipping_mails
from tasks.parcels import attach_parcels
from tests.helpers import numbers, seed_orders

runner = CliRunner()
REFUSED = "550 5.1.1 mailbox unavailable"


def shipped_orders(db_url: str, portal: str, count: int) -> list[Order]:
    """`count` stored orders of `portal`, each with one DHL parcel (not mailed yet)."""
    samples = [s for s in seed_orders(db_url, 60, seed=11) if s.order["portal"] == portal]
    chosen = [s.order["order_no"] for s in samples[:count]]
    assert len(chosen) == count, f"not enough {portal} sample orders"
    # a seed per portal that is the same in every process (hash() of a str is not)
    seed = zlib.crc32(portal.encode())
    for order_no, number in zip(chosen, numbers("dhl", count, seed=seed), strict=True):
        with session_scope(db_url) as session:
            attach_parcels(
                session,
                rows=[
                    ParcelRow(
                        1,
                        order_no,
                        "dhl",
                        normalise_tracking_number("dhl", number),
                        date(2026, 11, 26),
                    )
                ],
                source="test",
            )
    with session_scope(db_url) as session:
        statement = (
            select(Order).where(Order.order_no.in_(chosen)).options(selectinload(Order.items))
        )
        orders = list(session.scalars(statement))
        session.expunge_all()
    return orders


def configure(
    stack: PortalStack, settings: Settings, monkeypatch: pytest.MonkeyPatch, **per_portal: str
) -> None:
    """accounts.toml of the simulators; `per_portal` adds `[portals.<p>]` lines."""
    stack.seed(portal_orders_from_store(settings.db_url))
    extra = "".join(f"\n[portals.{p}]\n{lines}\n" for p, lines in per_portal.items())
    settings.accounts_path.write_text(stack.accounts_toml() + extra)
    for name, value in stack.environment().items():
        monkeypatch.setenv(name, value)
    reset_settings()


def deliver_mails(db_url: str) -> dict[str, int]:
    with session_scope(db_url) as session:
        ids = orders_to_mail(session, carriers=["dhl"])
    report = asyncio.run(send_shipping_mails(db_url, order_ids=ids, carrier="dhl"))
    return dict(report.counts)


def confirm(db_url: str, settings: Settings, orders: list[Order], *portal_names: str) -> None:
    """What a deliver run does after the mails: open the ledger rows, submit every portal."""
    open_confirmations(
        db_url,
        order_ids=[o.id for o in orders],
        accounts=Accounts.load(settings.accounts_path),
        run_id=None,
    )
    submit(db_url, *portal_names)


def submit(db_url: str, *portal_names: str) -> None:
    for portal in portal_names:
        report = asyncio.run(submit_pending(db_url, portal=portal, run_id=None))
        assert report.errors == []


def confirmation_of(db_url: str, order: Order) -> Confirmation:
    with session_scope(db_url) as session:
        row = session.scalars(select(Confirmation).where(Confirmation.order_id == order.id)).one()
        session.expunge(row)
    return row


def ebay_holds(stack: PortalStack, order: Order) -> list[str]:
    found = ebay.simulator(stack.apps["ebay"]).fulfillments(order.portal_order_id)
    return [f["shipmentTrackingNumber"] for f in found]


def kaufland_holds(stack: PortalStack, order: Order) -> list[str]:
    sim = kaufland.simulator(stack.apps["kaufland"])
    return [n for i in order.items for n in sim.unit(int(i.item_id)).tracking_numbers]


def bounce(smtp: FaultySmtpServer, *orders: Order) -> None:
    for order in orders:
        smtp.reject_recipient(order.buyer_email, 550, "5.1.1 mailbox unavailable")


def test_bounced_mail_holds_the_ebay_and_kaufland_confirmation_under_the_default(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [on_ebay] = shipped_orders(db_url, "ebay", 1)
    [on_kaufland] = shipped_orders(db_url, "kaufland", 1)
    # Kaufland mails the buyer itself by default; an account that sends its own mail is told
    # only after that mail went out (the original real.de rule)
    configure(portals, settings, monkeypatch, kaufland='mail = "send"')
    bounce(smtp, on_ebay, on_kaufland)
    assert deliver_mails(db_url) == {"failed": 2}

    confirm(db_url, settings, [on_ebay, on_kaufland], "ebay", "kaufland")

    for order in (on_ebay, on_kaufland):
        row = confirmation_of(db_url, order)
        assert (row.status, row.error_code, row.attempts) == ("held", "mail_failed", 0)
        assert REFUSED in (row.error_text or "")
        assert f"liefern portals release {order.order_no}" in (row.error_text or "")
    assert ebay_holds(portals, on_ebay) == [] and kaufland_holds(portals, on_kaufland) == []


def test_left_behind_pickup_holds_an_order_whose_mail_bounced(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run died after its mails: the next run picks the order up and applies the same rule."""
    [order] = shipped_orders(db_url, "ebay", 1)
    configure(portals, settings, monkeypatch)
    bounce(smtp, order)
    deliver_mails(db_url)
    with session_scope(db_url) as session:
        left_behind = orders_missing_confirmations(session, mailed_before=utcnow())
    assert left_behind == [order.id]

    confirm(db_url, settings, [order], "ebay")

    assert confirmation_of(db_url, order).status == "held"
    assert ebay_holds(portals, order) == []


def test_mail_sent_by_a_later_run_releases_the_held_confirmation(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first run marked the order shipped and left its mail pending (the mail server did
    not take it); the portal waits, and is told once the next run has sent the mail."""
    [order] = shipped_orders(db_url, "ebay", 1)
    configure(portals, settings, monkeypatch)
    composer = MailComposer(settings, Accounts.load(settings.accounts_path), "dhl")
    prepare_batch(db_url, order_ids=[order.id], composer=composer, flow_run_id=None)
    confirm(db_url, settings, [order], "ebay")
    held = confirmation_of(db_url, order)
    assert (held.status, held.error_code) == ("held", "mail_pending")
    assert ebay_holds(portals, order) == []

    assert deliver_mails(db_url) == {"sent": 1}
    confirm(db_url, settings, [order], "ebay")  # the next run's confirmations

    assert confirmation_of(db_url, order).status == "confirmed"
    assert len(ebay_holds(portals, order)) == 1


def test_a_failed_mail_sent_again_releases_the_hold_on_the_next_poll(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [order] = shipped_orders(db_url, "ebay", 1)
    configure(portals, settings, monkeypatch)
    bounce(smtp, order)
    deliver_mails(db_url)
    confirm(db_url, settings, [order], "ebay")
    assert confirmation_of(db_url, order).status == "held"
    # the buyer's mailbox works again and a later run sends the mail (same Message-ID); the
    # row is reopened here by hand, as the poll's path is the point (`liefern mails resend`
    # releases at once: tests/test_order_actions.py)
    smtp.clear_faults()
    with session_scope(db_url) as session:
        session.execute(
            update(ShippingMail).where(ShippingMail.order_id == order.id).values(status="pending")
        )
    assert deliver_mails(db_url) == {"sent": 1, "resent_after_unknown": 1}

    assert release_held(db_url, accounts=Accounts.load(settings.accounts_path)) == 1
    submit(db_url, "ebay")

    assert confirmation_of(db_url, order).status == "confirmed"


def test_operator_release_records_who_when_why_and_the_next_poll_confirms(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [order] = shipped_orders(db_url, "ebay", 1)
    configure(portals, settings, monkeypatch)
    bounce(smtp, order)
    deliver_mails(db_url)
    confirm(db_url, settings, [order], "ebay")
    before = utcnow()

    result = runner.invoke(
        app,
        [
            "portals",
            "release",
            order.order_no,
            "--reason",
            "buyer told by phone",
            "--by",
            "anna",
            "--json",
        ],
    )

    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["released"] == [{"order_no": order.order_no, "portal": "ebay", "rows": 1}]
    with session_scope(db_url) as session:
        [release] = session.scalars(select(ConfirmationRelease)).all()
        assert (release.order_id, release.portal) == (order.id, "ebay")
        assert (release.released_by, release.reason) == ("anna", "buyer told by phone")
        assert release.released_at >= before
    assert confirmation_of(db_url, order).status == "pending"
    submit(db_url, "ebay")  # what the next deliver run or poll does
    assert confirmation_of(db_url, order).status == "confirmed"
    assert len(ebay_holds(portals, order)) == 1
    # the protocol says who released it and why
    shown = runner.invoke(app, ["orders", "show", order.order_no])
    assert "ebay confirmation released by anna: buyer told by phone" in shown.stdout


def test_release_names_the_orders_it_could_not_release_and_releases_the_others(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [held, sent] = shipped_orders(db_url, "ebay", 2)
    configure(portals, settings, monkeypatch)
    bounce(smtp, held)
    deliver_mails(db_url)
    confirm(db_url, settings, [held, sent], "ebay")

    result = runner.invoke(
        app,
        ["portals", "release", "NO-SUCH-ORDER", sent.order_no, held.order_no, "--reason", "ok"],
    )

    assert result.exit_code == 1
    assert "NO-SUCH-ORDER: no such order" in result.output
    assert f"{sent.order_no}: nothing held" in result.output
    assert confirmation_of(db_url, held).status == "pending"


def test_always_confirms_regardless_of_the_mail(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [order] = shipped_orders(db_url, "ebay", 1)
    configure(portals, settings, monkeypatch, ebay='confirm_after = "always"')
    bounce(smtp, order)
    assert deliver_mails(db_url) == {"failed": 1}

    confirm(db_url, settings, [order], "ebay")

    assert confirmation_of(db_url, order).status == "confirmed"
    assert len(ebay_holds(portals, order)) == 1


def test_suppressed_amazon_mail_is_still_confirmed_under_the_default(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [order] = shipped_orders(db_url, "amazon", 1)
    configure(portals, settings, monkeypatch)
    assert deliver_mails(db_url) == {"suppressed": 1}

    confirm(db_url, settings, [order], "amazon")
    for _ in range(30):
        asyncio.run(poll_submitted(db_url, portal="amazon"))
        if confirmation_of(db_url, order).status != "submitted":
            break
        time.sleep(0.1)

    assert confirmation_of(db_url, order).status == "confirmed"
    assert smtp.messages == []


def test_kaufland_mails_the_buyer_itself_so_our_mail_is_suppressed_and_it_is_confirmed(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [order] = shipped_orders(db_url, "kaufland", 1)
    configure(portals, settings, monkeypatch)

    assert deliver_mails(db_url) == {"suppressed": 1}
    confirm(db_url, settings, [order], "kaufland")

    with session_scope(db_url) as session:
        mail = session.scalars(select(ShippingMail)).one()
    assert "Kaufland mails the buyer itself" in (mail.reason or "")
    assert smtp.messages == []
    assert confirmation_of(db_url, order).status == "confirmed"
    assert len(kaufland_holds(portals, order)) == len(order.items)


def test_mail_sent_rule_holds_an_order_whose_mail_is_suppressed(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [order] = shipped_orders(db_url, "kaufland", 1)
    configure(portals, settings, monkeypatch, kaufland='confirm_after = "mail_sent"')
    deliver_mails(db_url)

    confirm(db_url, settings, [order], "kaufland")

    row = confirmation_of(db_url, order)
    assert (row.status, row.error_code) == ("held", "mail_suppressed")
    assert 'confirm_after = "mail_settled"' in (row.error_text or "")


def test_held_confirmation_shows_in_the_protocol_with_its_reason(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [order] = shipped_orders(db_url, "ebay", 1)
    configure(portals, settings, monkeypatch)
    bounce(smtp, order)
    deliver_mails(db_url)
    confirm(db_url, settings, [order], "ebay")

    shown = runner.invoke(app, ["orders", "show", order.order_no])

    assert shown.exit_code == 0, shown.output
    assert "ebay confirmation held" in shown.stdout and REFUSED in shown.stdout


def test_unknown_confirm_after_is_refused_naming_the_account_and_the_choices(
    settings: Settings,
) -> None:
    settings.accounts_path.write_text(
        '[accounts.ebay-main]\nportal = "ebay"\nconfirm_after = "mail_send"\n'
    )
    with pytest.raises(AccountsError) as error:
        Accounts.load(settings.accounts_path)
    assert "accounts.ebay-main" in str(error.value) and "mail_settled" in str(error.value)


@pytest.mark.usefixtures("prefect_harness")
def test_deliver_run_holds_the_bounced_order_and_the_poll_lets_it_go_when_the_rule_changes(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The flows themselves: deliver (mails, then the portal passes) and poll-portals, which
    looks at held rows again against accounts.toml as it is now."""
    from flows.confirm import poll_portals
    from flows.deliver import deliver

    bounced, good = shipped_orders(db_url, "ebay", 2)
    configure(portals, settings, monkeypatch)
    reset_settings()
    bounce(smtp, bounced)

    summary = asyncio.run(deliver(carriers=["dhl"]))

    assert summary.totals == {"sent": 1, "failed": 1}
    assert summary.confirmations is not None
    assert summary.confirmations.portals == {"ebay": {"confirmed": 1, "held": 1}}
    [problem] = summary.confirmations.problems  # the run's artifact and log name it
    assert (problem.order_no, problem.portal, problem.status) == (bounced.order_no, "ebay", "held")
    assert REFUSED in problem.reason
    assert ebay_holds(portals, bounced) == [] and len(ebay_holds(portals, good)) == 1
    # the seller decides eBay is told whatever became of the mail
    configure(portals, settings, monkeypatch, ebay='confirm_after = "always"')

    polled = asyncio.run(poll_portals())

    assert polled.portals == {"ebay": {"confirmed": 2}}
    assert len(ebay_holds(portals, bounced)) == 1


def test_deliver_refuses_a_misspelt_choice_before_anything_is_sent(settings: Settings) -> None:
    settings.accounts_path.write_text('[portals.kaufland]\nconfirm_after = "after_mail"\n')

    result = runner.invoke(app, ["deliver", "--carrier", "dhl"])

    assert result.exit_code == 2
    assert "[portals.kaufland]: confirm_after = 'after_mail' is not one of" in result.output
