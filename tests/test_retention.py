"""Buyer data retention: orders past their portal's period are anonymised, the books stay.

Every test runs on SQLite and on PostgreSQL; the crash tests kill a real run with SIGKILL at
the retention's crash points; the command runs the flow under Prefect.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select
from typer.testing import CliRunner

from cli.main import app
from core.accounts import Accounts, AccountsError
from core.clock import BUSINESS_TZ
from core.crashpoints import ENV_VARIABLE
from core.links import arrival_token
from core.retention import ANONYMISED
from core.settings import Settings
from db.models import (
    BuyerDataDeletion,
    Confirmation,
    ConfirmationRelease,
    Order,
    OrderAction,
    OrderItem,
    Parcel,
    ShippingMail,
)
from db.session import session_scope
from flows.results import RetentionCounts, RetentionResult
from flows.retention import run_retention
from tests.test_web_app import OPERATOR, WebClient, web_settings
from web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
runner = CliRunner()


@dataclass(frozen=True)
class Buyer:
    name: str
    email: str
    postal_code: str = "20095"
    city: str = "Hamburg"


def buyer(n: int) -> Buyer:
    return Buyer(f"Erika Mustermann-{n}", f"erika.{n}@example.org")


def add_order(
    db_url: str,
    n: int,
    *,
    portal: str = "amazon",
    account: str = "amazon-de",
    arrived_days_ago: float | None = None,
    shipped_days_ago: int = 40,
    mail: str = "sent",
    confirmation: str | None = "confirmed",
    now: datetime = NOW,
) -> int:
    """One order with an item, a DHL parcel, its mail and confirmation ledger rows, an
    operator's note and a release naming the buyer; returns its id."""
    who = buyer(n)
    ship_date = (now - timedelta(days=shipped_days_ago)).astimezone(BUSINESS_TZ).date()
    with session_scope(db_url) as session:
        order = Order(
            order_no=f"RT{n:06d}",
            portal=portal,
            portal_account=account,
            portal_order_id=f"302-{n:07d}-0000001",
            buyer_name=who.name,
            buyer_email=who.email,
            language="de",
            country="DE",
            postal_code=who.postal_code,
            city=who.city,
            status="arrived" if arrived_days_ago is not None else "shipped",
            shipped_at=now - timedelta(days=shipped_days_ago),
            arrived_at=None if arrived_days_ago is None else now - timedelta(days=arrived_days_ago),
            arrived_source=None if arrived_days_ago is None else "buyer-link",
            items=[OrderItem(item_id=f"I{n}", sku=f"SKU-{n}", title="Teekanne", quantity=2)],
        )
        session.add(order)
        session.flush()
        parcel = Parcel(
            order_id=order.id,
            carrier="dhl",
            tracking_number=f"00340434161094{n:06d}",
            ship_date=ship_date,
            source="test",
        )
        session.add(parcel)
        session.flush()
        session.add(
            ShippingMail(
                order_id=order.id,
                status=mail,
                carrier="dhl",
                message_id=f"<RT{n:06d}.shipped.1@beispiel-shop.de>",
                recipient=who.email,
                language="de",
                reason=None if mail == "sent" else f"mailbox of {who.email} is full",
                last_reply=f"250 2.0.0 queued for <{who.email.upper()}>",
            )
        )
        if confirmation is not None:
            session.add(
                Confirmation(
                    order_id=order.id,
                    parcel_id=parcel.id,
                    portal=portal,
                    account=account,
                    status=confirmation,
                    error_text=f"buyer {who.name} unknown" if confirmation == "rejected" else None,
                )
            )
        session.add(
            ConfirmationRelease(
                order_id=order.id,
                portal=portal,
                released_by="operator",
                reason=f"{who.name} called, released",
            )
        )
        session.add(OrderAction(order_id=order.id, action="note", by="operator", detail="resent"))
        session.flush()
        return order.id


def accounts(settings: Settings, toml: str = "") -> Accounts:
    settings.accounts_path.write_text(toml, encoding="utf-8")
    return Accounts.load(settings.accounts_path)


def run(settings: Settings, toml: str = "", **options: Any) -> RetentionResult:
    options.setdefault("now", NOW)
    return run_retention(settings.db_url, accounts=accounts(settings, toml), **options)


def stored(db_url: str, order_id: int) -> dict[str, Any]:
    """Everything stored about one order, as plain values."""
    with session_scope(db_url) as session:
        order = session.get(Order, order_id)
        assert order is not None
        mails = session.scalars(select(ShippingMail).where(ShippingMail.order_id == order_id))
        confirmations = session.scalars(
            select(Confirmation).where(Confirmation.order_id == order_id)
        )
        releases = session.scalars(
            select(ConfirmationRelease).where(ConfirmationRelease.order_id == order_id)
        )
        return {
            "order": {c.key: getattr(order, c.key) for c in inspect(Order).mapper.column_attrs},
            "items": [(i.sku, i.title, i.quantity) for i in order.items],
            "parcels": [(p.tracking_number, p.ship_date) for p in order.parcels],
            "mails": [(m.recipient, m.reason, m.last_reply, m.message_id) for m in mails],
            "errors": [c.error_text for c in confirmations],
            "releases": [r.reason for r in releases],
        }


def personal(n: int) -> tuple[str, ...]:
    who = buyer(n)
    return (who.name, who.email, who.postal_code, who.city)


def holds_personal_data(value: Any, n: int) -> bool:
    text = json.dumps(value, default=str).lower()
    return any(part.lower() in text for part in personal(n))


def anonymised(db_url: str, order_id: int) -> bool:
    return stored(db_url, order_id)["order"]["anonymised_at"] is not None


def log_rows(db_url: str) -> list[dict[str, Any]]:
    with session_scope(db_url) as session:
        rows = session.scalars(select(BuyerDataDeletion).order_by(BuyerDataDeletion.id))
        columns = inspect(BuyerDataDeletion).mapper.column_attrs
        return [{c.key: getattr(r, c.key) for c in columns} for r in rows]


# --- the period per portal ----------------------------------------------------------------------


def test_amazon_buyer_data_are_anonymised_30_days_after_arrival_and_the_books_stay(
    settings: Settings,
) -> None:
    url = settings.db_url
    old = add_order(url, 1, arrived_days_ago=30.01)
    young = add_order(url, 2, arrived_days_ago=29.9)
    before = stored(url, old)

    result = run(settings)

    assert [r.order_no for r in result.anonymised] == ["RT000001"]
    after = stored(url, old)
    order = after["order"]
    assert (order["buyer_name"], order["buyer_email"], order["postal_code"], order["city"]) == (
        "",
        "",
        "",
        "",
    )
    assert order["anonymised_at"] == NOW
    assert not holds_personal_data(after, 1)
    for key in ("order_no", "portal_order_id", "country", "status", "shipped_at", "arrived_at"):
        assert order[key] == before["order"][key]
    assert after["items"] == before["items"] and after["parcels"] == before["parcels"]
    assert after["mails"][0][0] == "" and after["mails"][0][3] == before["mails"][0][3]
    assert ANONYMISED in after["mails"][0][2] and ANONYMISED in after["releases"][0]
    assert stored(url, young) == stored(url, young) and not anonymised(url, young)
    assert stored(url, young)["order"]["buyer_email"] == buyer(2).email


def test_other_portals_keep_buyer_data_unless_a_period_is_configured(settings: Settings) -> None:
    url = settings.db_url
    ebay_old = add_order(url, 1, portal="ebay", account="ebay-main", arrived_days_ago=400)
    assert run(settings).counts.due == 0
    assert not anonymised(url, ebay_old)

    ebay_young = add_order(url, 2, portal="ebay", account="ebay-main", arrived_days_ago=59)
    hood_b = add_order(url, 3, portal="hood", account="hood-b", arrived_days_ago=11)
    hood_a = add_order(url, 4, portal="hood", account="hood-a", arrived_days_ago=11)
    toml = (
        "[portals.ebay]\nretention_days = 60\n\n"
        '[accounts.hood-b]\nportal = "hood"\nretention_days = 10\n'
    )
    result = run(settings, toml)

    assert sorted(r.order_no for r in result.anonymised) == ["RT000001", "RT000003"]
    assert anonymised(url, ebay_old) and anonymised(url, hood_b)
    assert not anonymised(url, ebay_young) and not anonymised(url, hood_a)
    assert result.rules["ebay"] == 60 and result.rules["hood/hood-b"] == 10
    assert result.rules["amazon"] == 30 and result.rules["kaufland"] is None


def test_an_order_never_confirmed_counts_from_its_ship_date_plus_the_transit_time(
    settings: Settings,
) -> None:
    url = settings.db_url
    due = add_order(url, 1, shipped_days_ago=45)  # 14 days transit + 30 days: due since a day
    not_yet = add_order(url, 2, shipped_days_ago=43)

    result = run(settings, transit_days=14)

    assert [r.order_no for r in result.anonymised] == ["RT000001"]
    assert result.anonymised[0].delivered_from == "ship_date"
    assert anonymised(url, due) and not anonymised(url, not_yet)
    assert run(settings, transit_days=10).counts.anonymised == 1  # a shorter assumption


def delivered_by_carrier(db_url: str, order_id: int, days_ago: float) -> None:
    """The order's parcels were delivered `days_ago` (the carrier's tracking said so)."""
    with session_scope(db_url) as session:
        for parcel in session.scalars(select(Parcel).where(Parcel.order_id == order_id)):
            parcel.delivery_status = "delivered"
            parcel.delivered_at = NOW - timedelta(days=days_ago)


def test_a_tracked_delivery_counts_before_the_ship_date_assumption(settings: Settings) -> None:
    url = settings.db_url
    # shipped 35 days ago: ship date + 14 days transit says not due; delivered 31 days ago
    early = add_order(url, 1, shipped_days_ago=35)
    delivered_by_carrier(url, early, 31)
    late = add_order(url, 2, shipped_days_ago=45)  # the assumption alone would make it due
    delivered_by_carrier(url, late, 20)

    result = run(settings, transit_days=14)

    assert [r.order_no for r in result.anonymised] == ["RT000001"]
    assert result.anonymised[0].delivered_from == "tracking"
    assert anonymised(url, early) and not anonymised(url, late)


def test_a_tracked_delivery_counts_before_the_buyers_confirmation(settings: Settings) -> None:
    url = settings.db_url
    clicked_late = add_order(url, 1, arrived_days_ago=10)  # the buyer clicked 10 days ago
    delivered_by_carrier(url, clicked_late, 31)
    clicked_early = add_order(url, 2, arrived_days_ago=31)
    delivered_by_carrier(url, clicked_early, 29)

    result = run(settings)

    assert [r.order_no for r in result.anonymised] == ["RT000001"]
    assert not anonymised(url, clicked_early)


def test_an_order_with_a_parcel_not_delivered_falls_back_to_the_arrival(settings: Settings) -> None:
    url = settings.db_url
    order = add_order(url, 1, arrived_days_ago=31)
    delivered_by_carrier(url, order, 5)
    with session_scope(url) as session:
        first = session.scalars(select(Parcel).where(Parcel.order_id == order)).first()
        assert first is not None
        session.add(Parcel(order_id=order, carrier="dhl", tracking_number="00340434161094000099",
                           ship_date=first.ship_date, source="cli"))  # fmt: skip

    result = run(settings)

    assert [r.delivered_from for r in result.anonymised] == ["arrived"]


def test_accounts_refuse_an_amazon_period_longer_than_30_days_or_a_negative_one(
    settings: Settings,
) -> None:
    with pytest.raises(AccountsError, match="Data Protection Policy"):
        accounts(settings, "[portals.amazon]\nretention_days = 45\n")
    with pytest.raises(AccountsError, match="not a number of days"):
        accounts(settings, "[portals.ebay]\nretention_days = -1\n")
    shorter = accounts(settings, '[accounts.az]\nportal = "amazon"\nretention_days = 7\n')
    assert shorter.options("amazon", "az").retention_days == 7


# --- orders that still need their data ----------------------------------------------------------


@pytest.mark.parametrize(
    ("mail", "confirmation", "reason"),
    [
        ("pending", "confirmed", "shipping mail not sent yet (pending)"),
        ("sent", "pending", "amazon confirmation pending"),
        ("sent", "submitted", "amazon confirmation submitted"),
        ("suppressed", "held", "amazon confirmation held"),
        ("suppressed", None, "amazon not told yet (no confirmation)"),
    ],
    ids=["mail-pending", "confirmation-pending", "feed-submitted", "held", "never-told"],
)
def test_orders_still_needing_their_data_are_skipped_with_the_reason(
    settings: Settings, mail: str, confirmation: str | None, reason: str
) -> None:
    url = settings.db_url
    waiting = add_order(url, 1, shipped_days_ago=60, mail=mail, confirmation=confirmation)
    done = add_order(url, 2, arrived_days_ago=31)
    before = stored(url, waiting)

    result = run(settings)

    assert [(r.order_no, r.reason) for r in result.skipped] == [("RT000001", reason)]
    assert stored(url, waiting) == before
    assert anonymised(url, done)
    assert [r["order_id"] for r in log_rows(url)] == [done]


# --- idempotence, dry run, the log --------------------------------------------------------------


def test_a_second_run_finds_nothing_and_logs_nothing_again(settings: Settings) -> None:
    url = settings.db_url
    ids = [add_order(url, n, arrived_days_ago=31 + n) for n in range(1, 6)]
    first = run(settings, batch_size=2)
    assert first.counts == RetentionCounts(due=5, anonymised=5, skipped=0)
    snapshot = [stored(url, i) for i in ids]

    second = run(settings, batch_size=2, now=NOW + timedelta(days=1))

    assert second.counts == RetentionCounts(due=0, anonymised=0, skipped=0)
    assert [stored(url, i) for i in ids] == snapshot
    assert sorted(r["order_id"] for r in log_rows(url)) == sorted(ids)


def test_a_dry_run_says_what_would_be_anonymised_and_changes_nothing(settings: Settings) -> None:
    url = settings.db_url
    ids = [add_order(url, n, arrived_days_ago=40) for n in range(1, 4)]
    before = [stored(url, i) for i in ids]

    result = run(settings, dry_run=True, batch_size=2)

    assert result.dry_run and result.counts.anonymised == 3
    assert "orders.buyer_email" in result.anonymised[0].fields
    assert "shipping_mails.recipient" in result.anonymised[0].fields
    assert [stored(url, i) for i in ids] == before
    assert log_rows(url) == []


def test_the_deletion_log_names_fields_rule_and_run_but_holds_no_personal_data(
    settings: Settings,
) -> None:
    url = settings.db_url
    order_id = add_order(url, 1, arrived_days_ago=31, confirmation="rejected")

    result = run(settings, run_id="7d4c2f0e-0000-4000-8000-000000000001")

    (row,) = log_rows(url)
    assert not holds_personal_data(row, 1)
    assert row["order_id"] == order_id and row["portal"] == "amazon"
    assert row["run_id"] == result.run_id == "7d4c2f0e-0000-4000-8000-000000000001"
    assert row["retention_days"] == 30 and row["delivered_from"] == "arrived"
    assert row["deleted_at"] == NOW
    assert set(row["fields"].split(",")) == {
        "orders.buyer_name",
        "orders.buyer_email",
        "orders.postal_code",
        "orders.city",
        "shipping_mails.recipient",
        "shipping_mails.last_reply",
        "confirmations.error_text",
        "confirmation_releases.reason",
    }
    assert not holds_personal_data(stored(url, order_id), 1)


# --- a run killed mid-way -----------------------------------------------------------------------

SCRIPT = """
from datetime import datetime
from core.accounts import Accounts
from core.settings import get_settings
from flows.retention import run_retention
settings = get_settings()
run_retention(settings.db_url, accounts=Accounts.load(settings.accounts_path),
              now=datetime.fromisoformat({now!r}), batch_size=3)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("point", "committed"),
    [
        ("retention.ledgers:1", 0),
        ("retention.orders:2", 3),
        ("retention.anonymised:5", 3),
        ("retention.committed:2", 6),
    ],
)
def test_a_run_killed_mid_way_leaves_no_half_anonymised_order_and_the_next_run_goes_on(
    settings: Settings, point: str, committed: int
) -> None:
    url = settings.db_url
    ids = [add_order(url, n, arrived_days_ago=30 + n) for n in range(1, 8)]
    accounts(settings)
    env = {**os.environ, ENV_VARIABLE: point}
    script = SCRIPT.format(now=NOW.isoformat())
    process = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, timeout=120)
    assert process.returncode == -signal.SIGKILL, f"{point} was never reached"

    done = [i for i in ids if anonymised(url, i)]
    assert len(done) == committed
    logged = sorted(r["order_id"] for r in log_rows(url))
    assert logged == sorted(done)
    for n, order_id in enumerate(ids, start=1):
        facts = stored(url, order_id)
        if order_id in done:
            assert not holds_personal_data(facts, n)
        else:  # untouched: every field still holds the buyer
            assert facts["order"]["buyer_name"] == buyer(n).name
            assert facts["order"]["city"] == buyer(n).city
            assert facts["mails"][0][0] == buyer(n).email

    result = run(settings)
    assert result.counts.anonymised == 7 - committed
    assert all(anonymised(url, i) for i in ids)
    assert sorted(r["order_id"] for r in log_rows(url)) == sorted(ids)


# --- where the operator and the buyer see it ----------------------------------------------------


def test_orders_show_says_when_the_order_was_anonymised(settings: Settings) -> None:
    add_order(settings.db_url, 1, arrived_days_ago=31)
    run(settings)

    text = runner.invoke(app, ["orders", "show", "RT000001"])
    data = runner.invoke(app, ["orders", "show", "RT000001", "--json"])

    assert text.exit_code == 0, text.output
    assert "buyer: anonymised on 2026-12-04" in text.stdout
    assert buyer(1).email not in text.stdout
    order = json.loads(data.stdout)["order"]
    assert order["anonymised_at"].startswith("2026-12-04T12:00")
    assert any(e["kind"] == "anonymised" for e in json.loads(data.stdout)["timeline"])


@pytest.mark.parametrize(
    ("language", "said"), [("de", "anonymisiert am 04.12.2026"), ("en", "anonymised on")]
)
def test_the_order_page_says_the_buyer_data_were_anonymised(
    settings: Settings, language: str, said: str
) -> None:
    add_order(settings.db_url, 1, arrived_days_ago=31)
    run(settings)
    client = WebClient(create_app(web_settings(settings)))

    page = client.get("/orders/RT000001", auth=OPERATOR, headers={"Accept-Language": language}).text

    assert said in page
    assert not holds_personal_data(page, 1)


def test_the_arrival_link_of_an_anonymised_order_still_works(settings: Settings) -> None:
    order_id = add_order(settings.db_url, 1, shipped_days_ago=50)
    run(settings)
    assert anonymised(settings.db_url, order_id)
    client = WebClient(create_app(web_settings(settings)))
    url = f"/arrived/{arrival_token(settings.secret_key.get_secret_value(), order_id)}"

    page = client.get(url)
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)
    assert page.status_code == 200 and nonce
    confirmed = client.post(url, data={"nonce": nonce.group(1)})

    assert confirmed.status_code == 200 and "Vielen Dank!" in confirmed.text
    assert stored(settings.db_url, order_id)["order"]["status"] == "arrived"
    assert stored(settings.db_url, order_id)["order"]["buyer_name"] == ""


# --- the command runs the flow -------------------------------------------------------------------


@pytest.mark.usefixtures("prefect_harness")
def test_the_command_runs_the_flow_with_the_skipped_orders_in_its_artifact(
    settings: Settings,
) -> None:
    url = settings.db_url
    now = datetime.now(UTC)
    due = add_order(url, 1, arrived_days_ago=31, now=now)
    waiting = add_order(url, 2, shipped_days_ago=60, mail="pending", now=now)
    accounts(settings)

    dry = runner.invoke(app, ["retention", "run", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["counts"] == {"due": 2, "anonymised": 1, "skipped": 1}
    assert not anonymised(url, due)

    result = runner.invoke(app, ["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "2 orders past their retention: 1 anonymised, 1 skipped" in result.stdout
    assert "RT000002 amazon/amazon-de: skipped, shipping mail not sent yet" in result.stdout
    assert anonymised(url, due) and not anonymised(url, waiting)
    (row,) = log_rows(url)
    artifact = _artifact()
    assert row["run_id"] == str(artifact.flow_run_id)
    table = artifact.data if isinstance(artifact.data, list) else json.loads(artifact.data)
    assert {"order_no": "RT000002", "portal": "amazon", "outcome": "skipped"}.items() <= next(
        r for r in table if r["order_no"] == "RT000002"
    ).items()


def _artifact() -> Any:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read() -> Any:
        async with get_client() as client:
            (artifact,) = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["anonymise-buyers"])),
                limit=1,
                sort="CREATED_DESC",
            )
        return artifact

    return asyncio.run(read())


def test_prefect_yaml_runs_the_retention_flow_daily_one_at_a_time() -> None:
    import yaml

    from flows.retention import anonymise_buyers

    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (deployment,) = [d for d in config["deployments"] if d["name"] == "anonymise-buyers"]
    assert deployment["entrypoint"] == "flows/retention.py:anonymise_buyers"
    assert anonymise_buyers.name == "anonymise-buyers"
    assert deployment["concurrency_limit"] == 1
    (schedule,) = deployment["schedules"]
    assert schedule["timezone"] == "Europe/Berlin"
    assert schedule["cron"].split()[2:] == ["*", "*", "*"]  # every day
